"""Accounts, bearer tokens and sessions."""

import datetime as dt
import re

import pytest
from sqlalchemy import select, update

from marketplace import db
from marketplace.auth.models import ApiToken, Role, User
from marketplace.auth.services import authenticate, create_user
from tests.pages import csrf_token

PROBLEM = "application/problem+json"


def test_the_right_password_gets_a_bearer_token(client, world):
    response = client.post("/api/v1/auth/token", json={"username": world.bank_user.username,
                                                        "password": "correct-horse-battery"})
    assert response.status_code == 200
    assert response.json["token_type"] == "Bearer"
    assert response.json["expires_in"] == 8 * 3600
    assert len(response.json["access_token"]) >= 40


def test_a_wrong_password_is_a_401_problem(client, world):
    response = client.post("/api/v1/auth/token", json={"username": world.bank_user.username, "password": "nope"})
    assert response.status_code == 401
    assert response.mimetype == PROBLEM
    assert response.json["detail"] == "Wrong user name or password."


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(client, world):
    response = client.post("/api/v1/auth/token", json={"username": "ghost", "password": "whatever-it-is"})
    assert response.status_code == 401
    assert response.json["detail"] == "Wrong user name or password."


def test_a_missing_password_is_a_422_on_that_field(client):
    response = client.post("/api/v1/auth/token", json={"username": "bank"})
    assert response.status_code == 422
    assert "password" in response.json["errors"]


def test_tokens_are_stored_only_as_hashes(app, client, world):
    token = client.post("/api/v1/auth/token", json={"username": world.bank_user.username,
                                                     "password": "correct-horse-battery"}).json["access_token"]
    with app.app_context():
        stored = db.session.scalars(select(ApiToken.token_hash)).all()
    assert token not in stored
    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in stored)


def test_no_token_is_401(client, world):
    response = client.get("/api/v1/products")
    assert response.status_code == 401
    assert response.mimetype == PROBLEM
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_made_up_token_is_401(client, world):
    response = client.get("/api/v1/products", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401


def test_a_revoked_token_stops_working_at_once(as_role):
    bank = as_role("bank")
    assert bank.get("/api/v1/auth/me").status_code == 200
    assert bank.post("/api/v1/auth/token/revoke").status_code == 204
    assert bank.get("/api/v1/auth/me").status_code == 401


def test_an_expired_token_is_401(app, as_role):
    bank = as_role("bank")
    with app.app_context():
        db.session.execute(update(ApiToken).values(expires_at=db.utcnow() - dt.timedelta(seconds=1)))
        db.session.commit()
    assert bank.get("/api/v1/auth/me").status_code == 401


def test_a_deactivated_users_token_stops_working(app, as_role, world):
    bank = as_role("bank")
    with app.app_context():
        db.session.execute(update(User).where(User.id == world.bank_user.id).values(active=False))
        db.session.commit()
    assert bank.get("/api/v1/auth/me").status_code == 401


def test_me_says_who_and_which_organisation(as_role, world):
    me = as_role("bank").get("/api/v1/auth/me").json
    assert me["role"] == "bank"
    assert me["organization_id"] == world.bank.id


def test_passwords_are_hashed_with_scrypt(app, world):
    with app.app_context():
        user = create_user("officer.li", "a-long-enough-password", Role.BANK, world.bank.id)
        assert user.password_hash.startswith("scrypt:")
        assert "a-long-enough-password" not in user.password_hash
        assert authenticate("officer.li", "a-long-enough-password").id == user.id
        assert authenticate("officer.li", "a-long-enough-passwore") is None


# Admin: banks, agencies, users ----------------------------------------------------------------------

def test_admin_creates_a_bank_and_sees_its_callback_secret_once(as_role):
    admin = as_role("admin")
    created = admin.post("/api/v1/banks", json={"name": "Ningbo Bank", "code": "NBB",
                                                "api_base_url": "https://bank.example/api"})
    assert created.status_code == 201
    assert created.json["code"] == "NBB"
    assert len(created.json["callback_secret"]) == 64
    listed = admin.get("/api/v1/banks").json
    assert all("callback_secret" not in bank for bank in listed)
    assert any(bank["api_base_url"] == "https://bank.example/api" for bank in listed)


def test_other_roles_see_banks_without_their_system_addresses(as_role):
    listed = as_role("enterprise").get("/api/v1/banks")
    assert listed.status_code == 200
    assert listed.json and all(set(bank) == {"id", "name", "name_en", "code"} for bank in listed.json)


def test_a_duplicate_bank_code_is_409(as_role, world):
    response = as_role("admin").post("/api/v1/banks", json={"name": "Again", "code": world.bank.code})
    assert response.status_code == 409
    assert "code" in response.json["errors"]


def test_admin_creates_a_provincial_agency(as_role):
    response = as_role("admin").post("/api/v1/agencies", json={"name": "ZJ Re-guarantee", "code": "ZJRG",
                                                              "kind": "provincial"})
    assert response.status_code == 201
    assert response.json["kind"] == "provincial"


def test_an_unknown_agency_kind_is_422(as_role):
    response = as_role("admin").post("/api/v1/agencies", json={"name": "X", "code": "XX", "kind": "national"})
    assert response.status_code == 422
    assert "kind" in response.json["errors"]


def test_admin_creates_a_bank_user_who_can_then_sign_in(as_role, world, client):
    admin = as_role("admin")
    response = admin.post("/api/v1/users", json={"username": "officer.wang", "password": "long-enough-pass",
                                                 "role": "bank", "organization_id": world.bank.id})
    assert response.status_code == 201
    assert "password" not in response.json
    token = client.post("/api/v1/auth/token", json={"username": "officer.wang", "password": "long-enough-pass"})
    assert token.status_code == 200


def test_a_user_whose_role_does_not_fit_the_organisation_is_422(as_role, world):
    response = as_role("admin").post("/api/v1/users", json={"username": "mixup", "password": "long-enough-pass",
                                                            "role": "agency", "organization_id": world.bank.id})
    assert response.status_code == 422
    assert "is a bank, not a agency" in response.json["errors"]["organization_id"][0]


def test_a_short_password_and_a_missing_organisation_are_both_reported(as_role):
    response = as_role("admin").post("/api/v1/users", json={"username": "short", "password": "short",
                                                            "role": "bank"})
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"password", "organization_id"}


def test_a_taken_username_is_409(as_role, world):
    response = as_role("admin").post("/api/v1/users", json={"username": world.bank_user.username,
                                                            "password": "long-enough-pass", "role": "admin"})
    assert response.status_code == 409


def test_only_the_admin_manages_organisations_and_users(as_role, world):
    bank = as_role("bank")
    assert bank.post("/api/v1/banks", json={"name": "Mine", "code": "MINE"}).status_code == 403
    assert bank.post("/api/v1/agencies", json={"name": "A", "code": "AA", "kind": "local"}).status_code == 403
    assert bank.get("/api/v1/users").status_code == 403
    forbidden = bank.post("/api/v1/users", json={"username": "x", "password": "long-enough-pass", "role": "admin"})
    assert forbidden.status_code == 403
    assert forbidden.mimetype == PROBLEM


def test_create_admin_command_makes_an_admin_who_can_get_a_token(app, client):
    result = app.test_cli_runner().invoke(args=["users", "create-admin", "--username", "finance.office",
                                                "--password", "province-secret-1"])
    assert result.exit_code == 0, result.output
    assert client.post("/api/v1/auth/token", json={"username": "finance.office",
                                                    "password": "province-secret-1"}).status_code == 200


def test_create_admin_command_refuses_a_weak_password(app):
    result = app.test_cli_runner().invoke(args=["users", "create-admin", "--username", "weak", "--password", "123"])
    assert result.exit_code != 0
    assert "at least 12 characters" in result.output


# Web sessions ------------------------------------------------------------------------------------------

def test_signing_in_leads_a_bank_officer_to_their_dashboard(client, world):
    token = csrf_token(client.get("/login").text)
    response = client.post("/login", data={"username": world.bank_user.username,
                                           "password": "correct-horse-battery", "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/bank/dashboard"
    assert client.get("/bank/dashboard").status_code == 200


@pytest.mark.parametrize(("who", "home"), [("agency", "/agency/dashboard"), ("admin", "/admin/dashboard"),
                                           ("enterprise", "/enterprise/requests")])
def test_each_role_lands_on_its_dashboard(client, world, who, home):
    """Issue 22: each role lands on its dashboard (the enterprise, which has none, on its requests)."""
    token = csrf_token(client.get("/login").text)
    response = client.post("/login", data={"username": getattr(world, f"{who}_user").username,
                                           "password": "correct-horse-battery", "csrf_token": token})
    assert response.headers["Location"] == home
    assert client.get("/").headers["Location"] == home


def test_a_wrong_password_on_the_login_page_says_so(client, world):
    token = csrf_token(client.get("/login").text)
    response = client.post("/login", data={"username": world.bank_user.username, "password": "wrong",
                                           "csrf_token": token})
    assert response.status_code == 401
    assert "Wrong user name or password." in response.text


def test_login_only_follows_next_within_the_site(client, world):
    token = csrf_token(client.get("/login").text)
    response = client.post("/login?next=https://evil.example/steal", data={
        "username": world.bank_user.username, "password": "correct-horse-battery", "csrf_token": token})
    assert response.headers["Location"] == "/bank/dashboard"


def test_the_login_form_without_its_csrf_token_is_400(client, world):
    response = client.post("/login", data={"username": world.bank_user.username,
                                           "password": "correct-horse-battery"})
    assert response.status_code == 400
    assert response.mimetype == "text/html"


def test_signing_out_ends_the_session(client, world):
    token = csrf_token(client.get("/login").text)
    client.post("/login", data={"username": world.bank_user.username, "password": "correct-horse-battery",
                                "csrf_token": token})
    page = client.get("/bank/products").text
    assert client.post("/logout", data={"csrf_token": csrf_token(page)}).status_code == 302
    assert client.get("/bank/products").headers["Location"].startswith("/login")
