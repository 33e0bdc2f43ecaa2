"""Issue 21, the account lifecycle: changing one's own password ends every other session and token; organisation
administrators add, disable, re-enable and reset the users of their own organisation only (the admin: of any);
the password policy; temporary passwords changed at the next sign-in; and the audit trail of each."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from marketplace import db
from marketplace.audit.models import AuditEntry
from marketplace.auth.models import Role, User
from marketplace.auth.services import password_problems
from tests.pages import PASSWORD, csrf_token, sign_in

NEW_PASSWORD = "Lantern-river-47-maple"


@pytest.fixture
def people(world, make):
    """The world, with an administrator and an officer at the first bank and an administrator at the agency."""
    world.bank_admin = make.user(Role.BANK, world.bank.id, "zcb.admin", org_admin=True)
    world.officer = make.user(Role.BANK, world.bank.id, "zcb.officer")
    world.agency_admin = make.user(Role.AGENCY, world.agency.id, "agency.admin", org_admin=True)
    return world


def trail(app, action: str) -> list[AuditEntry]:
    with app.app_context():
        return db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                  .order_by(AuditEntry.id)).all()


def token_of(client, username: str, password: str = PASSWORD) -> str:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.json
    return response.json["access_token"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# The password policy ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("password", "username", "why"), [
    ("Lantern-47", "anyone", "at least 12"),
    ("password1234", "anyone", "too easy to guess"),
    ("qwertyuiop123", "anyone", "too easy to guess"),
    ("aaaaaaaaaaaaaaaa", "anyone", "too easy to guess"),
    ("zcb.officer-2026!", "zcb.officer", "user name"),
    ("My-ZCB.OFFICER", "zcb.officer", "user name"),
])
def test_the_policy_refuses_short_named_and_guessable_passwords(app, password, username, why):
    with app.test_request_context():
        problems = password_problems(password, username)
    assert len(problems) == 1 and why in problems[0], problems


def test_the_policy_takes_a_long_unguessable_password(app):
    with app.test_request_context():
        assert password_problems(NEW_PASSWORD, "zcb.officer") == []
        assert password_problems("x7!" + "Qm9#vT2$" * 20, "zcb.officer") == []  # past zxcvbn's 72 characters


# Changing one's own password ---------------------------------------------------------------------------------------

def test_a_changed_password_ends_the_old_tokens_and_other_sessions(app, client, people):
    old_token, acting_token = token_of(client, "zcb.officer"), token_of(client, "zcb.officer")
    elsewhere = sign_in(app, people.officer)
    assert elsewhere.get("/bank/products").status_code == 200

    changed = client.post("/api/v1/auth/password", headers=bearer(acting_token),
                          json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert changed.status_code == 204, changed.json

    assert client.get("/api/v1/auth/me", headers=bearer(old_token)).status_code == 401
    assert client.get("/api/v1/auth/me", headers=bearer(acting_token)).status_code == 200  # the one acting goes on
    assert elsewhere.get("/bank/products").headers["Location"].startswith("/login")
    assert client.post("/api/v1/auth/token", json={"username": "zcb.officer", "password": PASSWORD}).status_code == 401
    token_of(client, "zcb.officer", NEW_PASSWORD)
    assert [entry.object_id for entry in trail(app, "user.password_changed")] == [people.officer.id]


@pytest.mark.parametrize(("body", "field"), [
    ({"current_password": "not-my-password", "new_password": NEW_PASSWORD}, "current_password"),
    ({"current_password": PASSWORD, "new_password": "short"}, "new_password"),
    ({"current_password": PASSWORD, "new_password": "zcb.officer-is-me"}, "new_password"),
    ({"current_password": PASSWORD, "new_password": "password12345"}, "new_password"),
    ({"current_password": PASSWORD, "new_password": PASSWORD}, "new_password"),
])
def test_a_refused_password_change_says_why_and_changes_nothing(app, client, people, body, field):
    token = token_of(client, "zcb.officer")
    refused = client.post("/api/v1/auth/password", headers=bearer(token), json=body)
    assert refused.status_code == 422 and list(refused.json["errors"]) == [field], refused.json
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200
    token_of(client, "zcb.officer")  # the old password still works
    assert trail(app, "user.password_changed") == []


def test_the_password_page_keeps_this_browser_and_signs_out_the_others(app, people):
    here, elsewhere = sign_in(app, people.officer), sign_in(app, people.officer)
    page = here.get("/account/password")
    assert page.status_code == 200 and "Change your password" in page.text
    mismatch = here.post("/account/password", data={
        "csrf_token": csrf_token(page.text), "current_password": PASSWORD, "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD + "x"})
    assert mismatch.status_code == 422 and "The two new passwords differ" in mismatch.text
    done = here.post("/account/password", data={
        "csrf_token": csrf_token(page.text), "current_password": PASSWORD, "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD})
    assert done.status_code == 302
    assert here.get("/bank/products").status_code == 200
    assert elsewhere.get("/bank/products").headers["Location"].startswith("/login")


# Organisation administrators ---------------------------------------------------------------------------------------

def test_a_bank_administrator_manages_the_users_of_their_own_bank_only(app, client, people):
    admin = bearer(token_of(client, "zcb.admin"))
    listed = client.get(f"/api/v1/organizations/{people.bank.id}/users", headers=admin)
    assert listed.status_code == 200
    assert {u["username"] for u in listed.json} >= {"zcb.admin", "zcb.officer", people.bank_user.username}

    added = client.post(f"/api/v1/organizations/{people.bank.id}/users", headers=admin,
                        json={"username": "zcb.new", "password": "Temporary-tulip-93", "email": "new@zcb.example"})
    assert added.status_code == 201, added.json
    assert added.json["role"] == "bank" and added.json["organization_id"] == people.bank.id
    assert added.json["must_change_password"] is True and "password" not in added.json

    # Another bank is as if it did not exist: its users, adding to it, and acting on one of its users.
    other = people.bank2_user.id
    assert client.get(f"/api/v1/organizations/{people.bank2.id}/users", headers=admin).status_code == 404
    assert client.post(f"/api/v1/organizations/{people.bank2.id}/users", headers=admin,
                       json={"username": "intruder", "password": "Temporary-tulip-93"}).status_code == 404
    for action in ("disable", "enable", "reset-password"):
        assert client.post(f"/api/v1/users/{other}/{action}", headers=admin).status_code == 404, action
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "intruder")) is None
        assert db.session.get(User, other).active


def test_an_officer_who_is_not_an_administrator_manages_no_one(client, people):
    officer = bearer(token_of(client, "zcb.officer"))
    assert client.get(f"/api/v1/organizations/{people.bank.id}/users", headers=officer).status_code == 403
    assert client.post(f"/api/v1/users/{people.bank_user.id}/disable", headers=officer).status_code == 403


def test_a_disabled_officer_is_signed_out_at_once_and_can_be_re_enabled(app, client, people):
    admin = bearer(token_of(client, "zcb.admin"))
    officer_token = token_of(client, "zcb.officer")
    officer_browser = sign_in(app, people.officer)

    disabled = client.post(f"/api/v1/users/{people.officer.id}/disable", headers=admin)
    assert disabled.status_code == 200 and disabled.json["active"] is False
    again = client.post(f"/api/v1/users/{people.officer.id}/disable", headers=admin)
    assert again.status_code == 200 and again.json["active"] is False

    assert officer_browser.get("/bank/products").headers["Location"].startswith("/login")
    assert client.get("/api/v1/auth/me", headers=bearer(officer_token)).status_code == 401
    assert client.post("/api/v1/auth/token", json={"username": "zcb.officer", "password": PASSWORD}).status_code == 401
    assert len(trail(app, "user.disabled")) == 1  # the second call changed nothing

    enabled = client.post(f"/api/v1/users/{people.officer.id}/enable", headers=admin)
    assert enabled.status_code == 200 and enabled.json["active"] is True
    token_of(client, "zcb.officer")
    assert len(trail(app, "user.enabled")) == 1


def test_no_one_disables_or_resets_themselves(client, people):
    admin = bearer(token_of(client, "zcb.admin"))
    for action in ("disable", "reset-password"):
        refused = client.post(f"/api/v1/users/{people.bank_admin.id}/{action}", headers=admin)
        assert refused.status_code == 409, (action, refused.json)


def test_a_reset_gives_a_temporary_password_to_be_changed_before_anything_else(app, client, people):
    admin = bearer(token_of(client, "zcb.admin"))
    old_token = token_of(client, "zcb.officer")
    reset = client.post(f"/api/v1/users/{people.officer.id}/reset-password", headers=admin)
    assert reset.status_code == 200
    temporary = reset.json["temporary_password"]
    assert len(temporary) >= 12 and temporary not in str(trail(app, "user.password_reset")[0].changes)
    assert client.get("/api/v1/auth/me", headers=bearer(old_token)).status_code == 401

    token = bearer(token_of(client, "zcb.officer", temporary))
    me = client.get("/api/v1/auth/me", headers=token)
    assert me.status_code == 200 and me.json["must_change_password"] is True
    blocked = client.get("/api/v1/products", headers=token)
    assert blocked.status_code == 403 and "/api/v1/auth/password" in blocked.json["detail"]
    assert client.post("/api/v1/auth/password", headers=token,
                       json={"current_password": temporary, "new_password": NEW_PASSWORD}).status_code == 204
    assert client.get("/api/v1/products", headers=token).status_code == 200


def test_a_temporary_password_leads_the_browser_to_the_password_page(app, client, people):
    admin = bearer(token_of(client, "zcb.admin"))
    temporary = client.post(f"/api/v1/users/{people.officer.id}/reset-password", headers=admin).json[
        "temporary_password"]
    browser = app.test_client()
    signed_in = browser.post("/login", data={"username": "zcb.officer", "password": temporary,
                                             "csrf_token": csrf_token(browser.get("/login").text)})
    assert signed_in.status_code == 302
    assert browser.get("/bank/products").headers["Location"] == "/account/password"
    page = browser.get("/account/password")
    assert "temporary one from your administrator" in page.text
    done = browser.post("/account/password", data={
        "csrf_token": csrf_token(page.text), "current_password": temporary, "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD})
    assert done.status_code == 302
    assert browser.get("/bank/products").status_code == 200


def test_the_admin_manages_any_organisation(client, people):
    admin = bearer(token_of(client, people.admin_user.username))
    assert client.get(f"/api/v1/organizations/{people.bank2.id}/users", headers=admin).status_code == 200
    added = client.post(f"/api/v1/organizations/{people.agency.id}/users", headers=admin,
                        json={"username": "agency.second", "password": "Temporary-tulip-93", "org_admin": True})
    assert added.status_code == 201 and added.json["role"] == "agency" and added.json["org_admin"] is True
    assert client.post(f"/api/v1/users/{people.bank2_user.id}/disable", headers=admin).status_code == 200
    assert client.post(f"/api/v1/users/{people.admin_user.id}/disable", headers=admin).status_code == 404


def test_adding_a_taken_name_or_a_weak_password_is_refused(client, people):
    admin = bearer(token_of(client, "zcb.admin"))
    taken = client.post(f"/api/v1/organizations/{people.bank.id}/users", headers=admin,
                        json={"username": "zcb.officer", "password": "Temporary-tulip-93"})
    assert taken.status_code == 409 and "username" in taken.json["errors"]
    weak = client.post(f"/api/v1/organizations/{people.bank.id}/users", headers=admin,
                       json={"username": "zcb.weak", "password": "password1"})
    assert weak.status_code == 422 and list(weak.json["errors"]) == ["password"]


# The pages ---------------------------------------------------------------------------------------------------------

def test_the_users_page_adds_disables_and_resets_with_a_confirmation(app, people):
    browser = sign_in(app, people.bank_admin)
    page = browser.get(f"/organizations/{people.bank.id}/users")
    assert page.status_code == 200 and "zcb.officer" in page.text and "Add a user" in page.text
    token = csrf_token(page.text)

    weak = browser.post(f"/organizations/{people.bank.id}/users", data={
        "csrf_token": token, "username": "zcb.page", "password": "short"})
    assert weak.status_code == 422 and "at least 12 characters" in weak.text
    added = browser.post(f"/organizations/{people.bank.id}/users", data={
        "csrf_token": token, "username": "zcb.page", "password": "Temporary-tulip-93"})
    assert added.status_code == 302

    action = f"/organizations/{people.bank.id}/users/{people.officer.id}/disable"
    confirm = browser.post(action, data={"csrf_token": token})
    assert confirm.status_code == 200 and "Disable zcb.officer?" in confirm.text
    with app.app_context():
        assert db.session.get(User, people.officer.id).active  # nothing until confirmed
    assert browser.post(action, data={"csrf_token": token, "confirm": "1"}).status_code == 302
    with app.app_context():
        assert not db.session.get(User, people.officer.id).active

    reset = browser.post(f"/organizations/{people.bank.id}/users/{people.officer.id}/reset-password",
                         data={"csrf_token": token, "confirm": "1"})
    assert reset.status_code == 200 and reset.headers["Cache-Control"] == "no-store"
    assert "data-temporary-password" in reset.text

    assert browser.get(f"/organizations/{people.bank2.id}/users").status_code == 404
    assert browser.post(f"/organizations/{people.bank.id}/users/{people.bank2_user.id}/disable",
                        data={"csrf_token": token, "confirm": "1"}).status_code == 404
