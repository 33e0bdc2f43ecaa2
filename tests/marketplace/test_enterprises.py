"""Enterprise registration and the admin's tier certification."""

import datetime as dt

import pytest
from stdnum.cn import uscc

from marketplace.dates import business_today
from marketplace.orgs.models import Tier

BASE = "91330106MA2CFE2K3"
CODE = BASE + uscc.calc_check_digit(BASE)


def registration(**changes):
    return {"username": "owner.chen", "password": "a-long-password", "uscc": CODE, "name": "Gongshu Sensors",
            "region_code": "330105", "industry_code": "C4011", "size": "micro", "annual_revenue": "9000000.00",
            "rd_expense": "1200000.00", "employees": 35, **changes}


def wrong_check_character(code: str) -> str:
    return code[:-1] + next(c for c in "0123456789ABCDEFGHJKLMNPQRTUWXY" if c != code[-1])


def test_a_valid_code_beginning_91_registers(client):
    response = client.post("/api/v1/enterprises/register", json=registration())
    assert response.status_code == 201
    assert response.json["uscc"] == CODE and response.json["tier"] == "none"
    assert set(response.json) == {"id", "uscc", "name", "tier", "user_id"}
    token = client.post("/api/v1/auth/token", json={"username": "owner.chen", "password": "a-long-password"})
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token.json['access_token']}"}).json
    assert (me["role"], me["organization_id"]) == ("enterprise", response.json["id"])


def test_the_same_code_with_its_check_character_changed_is_422_on_uscc(client):
    response = client.post("/api/v1/enterprises/register", json=registration(uscc=wrong_check_character(CODE)))
    assert response.status_code == 422
    assert list(response.json["errors"]) == ["uscc"]
    assert "check character" in response.json["errors"]["uscc"][0]


def test_the_same_code_again_is_409(client):
    assert client.post("/api/v1/enterprises/register", json=registration()).status_code == 201
    again = client.post("/api/v1/enterprises/register", json=registration(username="someone.else"))
    assert again.status_code == 409
    assert "uscc" in again.json["errors"]


def test_a_code_is_cleaned_before_it_is_checked(client):
    spaced = f"{CODE[:6]} {CODE[6:12]}-{CODE[12:]}".lower()
    response = client.post("/api/v1/enterprises/register", json=registration(uscc=spaced))
    assert response.status_code == 201 and response.json["uscc"] == CODE


@pytest.mark.parametrize("field, value", [
    ("uscc", "12345"), ("region_code", "33010"), ("region_code", "abcdef"), ("industry_code", "3811"),
    ("size", "large"), ("annual_revenue", "-1.00"), ("employees", -3), ("password", "short"),
])
def test_each_bad_registration_field_is_named(client, field, value):
    response = client.post("/api/v1/enterprises/register", json=registration(**{field: value}))
    assert response.status_code == 422
    assert field in response.json["errors"]


def test_a_non_enterprise_code_cannot_register(client):
    base = "11330106MA2CFE2K3"  # 1…: a government body
    response = client.post("/api/v1/enterprises/register", json=registration(uscc=base + uscc.calc_check_digit(base)))
    assert response.status_code == 422
    assert "beginning with 9" in response.json["errors"]["uscc"][0]


def test_a_taken_username_leaves_no_enterprise_behind(client, world):
    response = client.post("/api/v1/enterprises/register", json=registration(username=world.bank_user.username))
    assert response.status_code == 409
    assert client.post("/api/v1/enterprises/register", json=registration()).status_code == 201


def test_registration_takes_the_tier_the_registry_already_lists(client, as_role, app):
    from marketplace import db
    from marketplace.orgs.services import certify

    with app.app_context():
        certify(CODE, Tier.SRDI, dt.date(2030, 12, 31))
        db.session.commit()
    assert client.post("/api/v1/enterprises/register", json=registration()).json["tier"] == "srdi"


# Tier certification --------------------------------------------------------------------------------------

def test_the_admin_certifies_a_tier_and_the_enterprise_sees_it(as_role, world):
    admin = as_role("admin")
    response = admin.put(f"/api/v1/enterprises/{world.enterprise.id}/tier",
                         json={"tier": "little_giant", "valid_until": "2029-06-30"})
    assert response.status_code == 200
    assert (response.json["tier"], response.json["tier_valid_until"]) == ("little_giant", "2029-06-30")
    assert as_role("enterprise").get(f"/api/v1/enterprises/{world.enterprise.id}").json["tier"] == "little_giant"


def test_a_tier_past_its_valid_until_counts_as_none(as_role, world):
    yesterday = (business_today() - dt.timedelta(days=1)).isoformat()
    body = as_role("admin").put(f"/api/v1/enterprises/{world.enterprise.id}/tier",
                                json={"tier": "srdi", "valid_until": yesterday}).json
    assert (body["tier"], body["certified_tier"], body["tier_valid_until"]) == ("none", "srdi", yesterday)


def test_a_certified_tier_needs_a_valid_until_and_a_known_name(as_role, world):
    admin = as_role("admin")
    missing = admin.put(f"/api/v1/enterprises/{world.enterprise.id}/tier", json={"tier": "srdi"})
    assert missing.status_code == 422 and "valid_until" in missing.json["errors"]
    unknown = admin.put(f"/api/v1/enterprises/{world.enterprise.id}/tier",
                        json={"tier": "unicorn", "valid_until": "2030-01-01"})
    assert unknown.status_code == 422 and "tier" in unknown.json["errors"]
    assert admin.put(f"/api/v1/enterprises/{world.enterprise.id}/tier", json={"tier": "none"}).status_code == 200


def test_enterprises_never_set_their_own_tier(as_role, world):
    response = as_role("enterprise").put(f"/api/v1/enterprises/{world.enterprise.id}/tier",
                                         json={"tier": "little_giant", "valid_until": "2030-01-01"})
    assert response.status_code == 403


def test_an_enterprise_sees_only_itself(as_role, world):
    assert as_role("enterprise").get(f"/api/v1/enterprises/{world.enterprise2.id}").status_code == 404
    assert as_role("bank").get(f"/api/v1/enterprises/{world.enterprise.id}").status_code == 403
    assert as_role("admin").put("/api/v1/enterprises/999999/tier", json={"tier": "none"}).status_code == 404
