"""/admin/outbox: dead messages first, every try shown, and a re-drive button (CSRF-protected, admin only)."""

import datetime as dt
import html as html_module
import re

import responses
import time_machine

from marketplace import db
from marketplace.orgs.models import Bank
from tests.bank_systems.conftest import APPLICATIONS, run
from tests.pages import csrf_token, sign_in


def reading(app, user, locale):
    browser = sign_in(app, user)
    browser.post("/language", data={"locale": locale, "next": "/admin/outbox",
                                    "csrf_token": csrf_token(browser.get("/admin/outbox").text)})
    return browser


def visible(html: str) -> str:
    return " ".join(html_module.unescape(re.sub(r"<[^>]+>", " ", html)).split())


@responses.activate
def test_the_admin_sees_a_dead_message_and_re_drives_it(app, world, wired, route):
    application_id = route()
    responses.post(APPLICATIONS, json={"error": "no such branch"}, status=422)
    run(app)
    browser = sign_in(app, world.admin_user)

    page = browser.get("/admin/outbox")
    assert page.status_code == 200
    html = page.text
    assert f"Application {application_id} handed to the bank's system" in visible(html)
    assert 'data-status="dead"' in html
    assert "HTTP 422" in html and "no such branch" in html and "Re-drive" in html
    message_id = html.split('data-message="')[1].split('"')[0]

    refused = browser.post(f"/admin/outbox/{message_id}/redrive")
    assert refused.status_code == 400  # no CSRF token

    done = browser.post(f"/admin/outbox/{message_id}/redrive", data={"csrf_token": csrf_token(html)},
                        follow_redirects=True)
    assert done.status_code == 200 and "will be sent again" in done.text
    assert 'data-status="dead"' not in done.text
    pending = browser.get("/admin/outbox?status=pending").text
    assert f'data-message="{message_id}" data-status="pending"' in pending and "(1 re-drives)" in pending

    again = browser.post(f"/admin/outbox/{message_id}/redrive", data={"csrf_token": csrf_token(html)},
                         follow_redirects=True)
    assert "Only a dead message can be re-driven" in again.text


def test_the_outbox_page_is_admin_only(app, world):
    assert app.test_client().get("/admin/outbox").status_code == 302  # to /login
    assert sign_in(app, world.bank_user).get("/admin/outbox").status_code == 403
    empty = sign_in(app, world.admin_user).get("/admin/outbox")
    assert empty.status_code == 200 and "No dead messages" in empty.text


@responses.activate
def test_a_refused_hand_off_reads_in_words_with_the_bank_s_name_and_beijing_time(app, world, wired, route):
    with app.app_context():
        db.session.get(Bank, world.bank.id).name_en = "Bank One of Example"
        db.session.commit()
    responses.post(APPLICATIONS, json={"error": "no such branch"}, status=422)
    with time_machine.travel(dt.datetime(2026, 12, 5, 6, 3, tzinfo=dt.UTC), tick=False):
        application_id = route()
        run(app)

    html = reading(app, world.admin_user, "zh_Hans").get("/admin/outbox").text
    text = visible(html)
    assert f"申请 {application_id} 推送至银行系统" in text and "银行系统拒收该消息（HTTP 422）。" in text
    assert "投递失败" in text and "2026-12-05 14:03" in text and world.bank.name in text
    assert "Bank One of Example" not in text and "application.submitted" not in text
    assert "Idempotency-Key" not in text and "no such branch" not in text and "4xx" not in text
    assert "no such branch" in html  # in the error's title, for support

    english = visible(reading(app, world.admin_user, "en").get("/admin/outbox").text)
    assert f"Application {application_id} handed to the bank's system" in english and "Bank One of Example" in english
    assert "The bank's system refused the message (HTTP 422)." in english and "2026-12-05 14:03" in english
