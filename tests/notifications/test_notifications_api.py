"""Notifications in the app: when an enterprise chooses an offer every user of that bank is told, each sees only
their own notifications (API and the message centre page), and marks them read one by one or all at once."""

import re

import pytest
from sqlalchemy import select

from marketplace import db
from marketplace.auth.models import Role, User
from marketplace.notifications.models import Notification
from marketplace.orgs.models import Enterprise
from tests.bank_systems.conftest import PRODUCT, REQUEST
from tests.pages import csrf_token

UNREAD = "/api/v1/notifications?unread=true"


@pytest.fixture
def route(as_role):
    """route() → the id of the application made when the enterprise selects the first bank's offer."""
    bank = as_role("bank")
    product = bank.post("/api/v1/products", json=PRODUCT)
    assert product.status_code == 201, product.json
    assert bank.post(f"/api/v1/products/{product.json['id']}/publish").status_code == 200
    enterprise = as_role("enterprise")

    def make() -> int:
        request = enterprise.post("/api/v1/financing-requests", json=REQUEST)
        assert request.status_code == 201, request.json
        response = enterprise.post(f"/api/v1/financing-requests/{request.json['id']}/select",
                                   json={"offer_id": request.json["offers"][0]["id"]})
        assert response.status_code == 200, response.json
        return response.json["application"]["id"]

    return make


@pytest.fixture
def officer2(make, world):
    """A second user of the first bank."""
    return make.user(Role.BANK, world.bank.id)


def listed(api, path="/api/v1/notifications"):
    response = api.get(path)
    assert response.status_code == 200, response.json
    return response.json


def about(notifications, application_id):
    return [n for n in notifications if n["link"] == f"/bank/applications/{application_id}"]


# Who is told ---------------------------------------------------------------------------------------------------

def test_every_user_of_the_bank_is_told_of_a_new_application(world, as_role, login_api, officer2, route):
    application_id = route()

    for api in (as_role("bank"), login_api(officer2)):
        unread = listed(api, UNREAD)
        assert len(unread) == 1
        [notification] = unread
        assert notification["kind"] == "application.submitted"
        assert notification["title"] == f"New application {application_id} from {world.enterprise.name}"
        assert str(application_id) in notification["title"]
        assert notification["link"] == f"/bank/applications/{application_id}"
        assert world.enterprise.name in notification["body"] and "Plain credit" in notification["body"]
        assert "¥2,000,000.00" in notification["body"] and "12 months" in notification["body"]
        assert notification["read_at"] is None and notification["at"]
        assert listed(api) == unread  # the whole list holds the same one

    # One notification per user: two rows, not one shared.
    ids = {listed(as_role("bank"), UNREAD)[0]["id"], listed(login_api(officer2), UNREAD)[0]["id"]}
    assert len(ids) == 2

    assert listed(as_role("bank2")) == []
    assert listed(as_role("bank2"), UNREAD) == []
    assert about(listed(as_role("enterprise")), application_id) == []
    assert [n for n in listed(as_role("enterprise")) if n["kind"] == "application.submitted"] == []
    assert listed(as_role("admin")) == []


def test_an_inactive_user_of_the_bank_is_not_told(app, world, as_role, login_api, officer2, route):
    with app.app_context():
        db.session.get(User, officer2.id).active = False
        db.session.commit()
    route()
    assert len(listed(as_role("bank"), UNREAD)) == 1
    with app.app_context():
        assert db.session.scalars(select(Notification).where(Notification.user_id == officer2.id)).all() == []


def test_newest_first_and_only_unread_with_unread_true(as_role, route):
    first, second = route(), route()
    bank = as_role("bank")
    shown = listed(bank)
    assert [n["link"] for n in shown] == [f"/bank/applications/{second}", f"/bank/applications/{first}"]
    assert bank.post(f"/api/v1/notifications/{shown[1]['id']}/read").status_code == 200
    assert [n["id"] for n in listed(bank, UNREAD)] == [shown[0]["id"]]
    assert [n["id"] for n in listed(bank, "/api/v1/notifications?unread=false")] == [n["id"] for n in shown]


def test_a_user_reading_chinese_is_told_in_chinese(app, world, as_role, login_api, officer2, route):
    """Each recipient reads the notification in their own language, chosen when it was made, names included: the
    enterprise's Chinese name in Chinese, its English one in English."""
    with app.app_context():
        db.session.get(User, officer2.id).locale = "zh_Hans"
        db.session.get(Enterprise, world.enterprise.id).name_en = "West Lake Precision Motors"
        db.session.commit()
    application_id = route()

    chinese = listed(login_api(officer2), UNREAD)
    assert [(n["kind"], n["link"]) for n in chinese] == [
        ("application.submitted", f"/bank/applications/{application_id}")]
    assert chinese[0]["title"] == f"{world.enterprise.name} 的新申请 {application_id}"
    assert chinese[0]["body"].startswith(f"{world.enterprise.name} 申请 ¥2,000,000.00，期限 12 个月（Plain credit）。")
    assert "请于" in chinese[0]["body"]
    english = listed(as_role("bank"), UNREAD)
    assert english[0]["title"] == f"New application {application_id} from West Lake Precision Motors"
    assert world.enterprise.name not in english[0]["body"] and "West Lake Precision Motors" not in chinese[0]["body"]
    assert english[0]["id"] != chinese[0]["id"]


# Reading -------------------------------------------------------------------------------------------------------

def test_marking_one_read_is_idempotent(as_role, login_api, officer2, route):
    route()
    bank = as_role("bank")
    [notification] = listed(bank, UNREAD)

    read = bank.post(f"/api/v1/notifications/{notification['id']}/read")
    assert read.status_code == 200, read.json
    assert read.json["id"] == notification["id"] and read.json["read_at"] is not None
    assert read.json["title"] == notification["title"] and read.json["link"] == notification["link"]
    first_read_at = read.json["read_at"]

    again = bank.post(f"/api/v1/notifications/{notification['id']}/read")
    assert again.status_code == 200 and again.json["read_at"] == first_read_at

    assert listed(bank, UNREAD) == []
    assert [(n["id"], n["read_at"]) for n in listed(bank)] == [(notification["id"], first_read_at)]
    # The other officer's own notification is untouched.
    assert len(listed(login_api(officer2), UNREAD)) == 1


def test_another_users_notification_is_not_found(as_role, login_api, officer2, route, client):
    route()
    bank = as_role("bank")
    [notification] = listed(bank, UNREAD)
    path = f"/api/v1/notifications/{notification['id']}/read"

    for other in (as_role("bank2"), as_role("enterprise"), as_role("admin"), login_api(officer2)):
        refused = other.post(path)
        assert refused.status_code == 404, refused.json
    assert client.post(path).status_code == 401
    assert bank.post("/api/v1/notifications/999999/read").status_code == 404

    assert listed(bank, UNREAD) == [notification]  # still unread after all that
    assert len(listed(login_api(officer2), UNREAD)) == 1


def test_read_all_marks_only_your_own(as_role, login_api, officer2, route):
    route(), route(), route()
    bank = as_role("bank")
    one = listed(bank, UNREAD)[-1]
    assert bank.post(f"/api/v1/notifications/{one['id']}/read").status_code == 200

    done = bank.post("/api/v1/notifications/read-all")
    assert done.status_code == 200, done.json
    assert done.json == {"marked": 2, "unread": 0}
    assert listed(bank, UNREAD) == []
    assert all(n["read_at"] for n in listed(bank)) and len(listed(bank)) == 3
    assert bank.post("/api/v1/notifications/read-all").json == {"marked": 0, "unread": 0}

    assert len(listed(login_api(officer2), UNREAD)) == 3  # another user's are still unread
    assert as_role("bank2").post("/api/v1/notifications/read-all").json == {"marked": 0, "unread": 0}


def test_the_api_needs_a_signed_in_user(client):
    assert client.get("/api/v1/notifications").status_code == 401
    assert client.post("/api/v1/notifications/read-all").status_code == 401


# The message centre page -----------------------------------------------------------------------------------------

def test_the_message_centre_shows_the_notification_and_the_bell(world, browser_of, route):
    application_id = route()
    browser = browser_of(world.bank_user)

    page = browser.get("/notifications")
    assert page.status_code == 200
    html = page.text
    title = f"New application {application_id} from {world.enterprise.name}"
    assert f"<strong>{title}</strong>" in html
    assert 'data-kind="application.submitted"' in html and 'class="message unread"' in html
    assert re.search(r'<span class="count" data-unread>\s*1\s*</span>', html)
    assert "Mark all read" in html and "Unread (1)" in html
    # The bell is on every page, not only the message centre.
    assert re.search(r'<span class="count" data-unread>\s*1\s*</span>', browser.get("/bank/applications").text)

    unread_tab = browser.get("/notifications?unread=true").text
    assert f"<strong>{title}</strong>" in unread_tab

    # Another bank's officer sees none of it.
    other = browser_of(world.bank2_user).get("/notifications").text
    assert title not in other and "data-unread>" not in other and "No messages yet." in other


def test_mark_all_read_on_the_page(world, browser_of, as_role, route):
    route(), route()
    browser = browser_of(world.bank_user)
    html = browser.get("/notifications").text
    assert re.search(r'<span class="count" data-unread>\s*2\s*</span>', html)

    assert browser.post("/notifications/read-all").status_code == 400  # no CSRF token
    assert len(listed(as_role("bank"), UNREAD)) == 2

    done = browser.post("/notifications/read-all", data={"csrf_token": csrf_token(html)})
    assert done.status_code == 302 and done.headers["Location"].endswith("/notifications")
    after = browser.get("/notifications").text
    assert "2 notifications marked read." in after
    assert "data-unread>" not in after and "Mark all read" not in after
    assert 'class="message unread"' not in after and after.count('class="message read"') == 2
    assert "Nothing unread." in browser.get("/notifications?unread=true").text
    assert listed(as_role("bank"), UNREAD) == []


def test_opening_a_notification_on_the_page_marks_it_read(world, browser_of, as_role, route):
    application_id = route()
    browser = browser_of(world.bank_user)
    html = browser.get("/notifications").text
    notification_id = re.search(r'data-notification="(\d+)"', html).group(1)

    opened = browser.post(f"/notifications/{notification_id}/read", data={"open": "1",
                                                                          "csrf_token": csrf_token(html)})
    assert opened.status_code == 302
    assert opened.headers["Location"].endswith(f"/bank/applications/{application_id}")
    assert listed(as_role("bank"), UNREAD) == []
    assert "data-unread>" not in browser.get("/notifications").text

    stranger = browser_of(world.bank2_user)
    token = csrf_token(stranger.get("/notifications").text)
    assert stranger.post(f"/notifications/{notification_id}/read", data={"csrf_token": token}).status_code == 404
