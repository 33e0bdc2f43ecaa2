"""/admin/outbox: dead messages first, every try shown, and a re-drive button (CSRF-protected, admin only)."""

import responses

from tests.bank_systems.conftest import APPLICATIONS, run
from tests.pages import csrf_token, sign_in


@responses.activate
def test_the_admin_sees_a_dead_message_and_re_drives_it(app, world, wired, route):
    application_id = route()
    responses.post(APPLICATIONS, json={"error": "no such branch"}, status=422)
    run(app)
    browser = sign_in(app, world.admin_user)

    page = browser.get("/admin/outbox")
    assert page.status_code == 200
    html = page.text
    assert f">{application_id}<" in html and 'data-status="dead"' in html
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
