"""Issue 22, the smaller things a walk through the pages found: the icon browsers ask for, a literal "%%" in a message,
an uncertified enterprise told "tier: none", and flash messages that name a status instead of saying what happened."""

from __future__ import annotations

from tests.financing.test_financing_pages import registration
from tests.pages import post_form


def test_the_browser_gets_an_icon_and_every_page_links_it(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.mimetype in ("image/vnd.microsoft.icon", "image/x-icon")
    assert icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file's header
    assert '<link rel="icon" href="/favicon.ico">' in client.get("/login").text


def test_a_rate_error_reads_a_single_percent_sign(as_role):
    refused = as_role("agency").post("/api/v1/agreements", json={"fee_rate": "1 percent"})
    message = refused.json["errors"]["fee_rate"][0]
    assert "3.45 %" in message and "%%" not in message


def test_an_uncertified_enterprise_is_told_how_it_gets_certified(client):
    response = post_form(client, "/enterprise/register", registration(), form_page="/enterprise/register")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).text
    assert "not on the province&#39;s certified lists" in page and "department of economy" in page
    assert "none" not in page.split('role="status"')[1].split("</p>")[0]


def test_registration_takes_zhejiang_regions_only(client):
    """Issue 22: this is Zhejiang's marketplace; a Beijing region (110105) was registered."""
    response = post_form(client, "/enterprise/register", registration(region_code="110105"),
                         form_page="/enterprise/register")
    assert response.status_code == 422 and "This is Zhejiang&#39;s marketplace" in response.text
    api = client.post("/api/v1/enterprises/register", json={**registration(region_code="110105"),
                                                            "employees": 96})
    assert api.status_code == 422 and list(api.json["errors"]) == ["region_code"]
