"""Every response carries the security headers; pages run no inline script; forms need their CSRF token."""

import re
from pathlib import Path

import pytest

from marketplace import create_app
from marketplace.security import CONTENT_SECURITY_POLICY
from tests.pages import sign_in

ROOT = Path(__file__).resolve().parents[2]
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
}


def assert_secure(response):
    csp = response.headers.get("Content-Security-Policy", "")
    assert csp == CONTENT_SECURITY_POLICY, response.request.path
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, (response.request.path, name)


def page_paths(app):
    """Every page that a GET without path parameters reaches."""
    return sorted(rule.rule for rule in app.url_map.iter_rules()
                  if "GET" in rule.methods and not rule.arguments and not rule.rule.startswith(("/api/", "/static")))


@pytest.mark.parametrize("who", ["admin", "bank", "agency", "enterprise", None])
def test_every_page_carries_the_security_headers(app, world, who):
    browser = sign_in(app, getattr(world, f"{who}_user")) if who else app.test_client()
    for path in page_paths(app):
        response = browser.get(path)
        assert response.status_code < 500, path
        assert_secure(response)


def test_errors_documents_and_files_carry_them_too(app, world, as_role):
    client = app.test_client()
    for response in (client.get("/no-such-page"), client.get("/api/v1/docs"), client.get("/api/v1/openapi.json"),
                     client.get("/static/style.css"), client.get("/api/v1/products"),
                     as_role("bank").get("/api/v1/products/999999"),
                     sign_in(app, world.bank_user).get("/admin/ledger")):
        assert_secure(response)


def test_templates_hold_no_inline_script_or_style():
    offenders = []
    for template in ROOT.glob("*/**/templates/**/*.html"):
        if ".venv" in template.parts:
            continue
        text = template.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) or re.search(r"\son[a-z]+\s*=", text) \
                or re.search(r"\bstyle\s*=", text) or "<style" in text or "javascript:" in text:
            offenders.append(str(template.relative_to(ROOT)))
    assert offenders == []


def test_the_api_docs_start_swagger_from_a_file_not_an_inline_script(client):
    page = client.get("/api/v1/docs").text
    assert re.findall(r"<script(?![^>]*\bsrc=)", page) == []
    assert '<script src="/static/swagger/init.js"></script>' in page
    assert client.get("/static/swagger/init.js").status_code == 200


def test_a_form_posted_from_another_site_without_its_token_is_refused(app, world):
    browser = sign_in(app, world.bank_user)
    response = browser.post("/bank/products/new", headers={"Origin": "https://evil.example"}, data={
        "name": "Forged", "product_type": "credit", "amount_min": "100000.00", "amount_max": "200000.00",
        "term_min_months": "6", "term_max_months": "12", "rate_spread_bp": "10", "guarantee": "none"})
    assert response.status_code == 400 and "CSRF" in response.text
    assert "Forged" not in browser.get("/bank/products").text
    signed_out = browser.post("/logout")  # nor can another site sign a user out
    assert signed_out.status_code == 400 and browser.get("/bank/products").status_code == 200


def test_production_adds_hsts_and_secure_cookies(tmp_path):
    app = create_app({"PROFILE": "production", "SECRET_KEY": "k" * 32,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}"})
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["SESSION_COOKIE_HTTPONLY"]
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    response = app.test_client().get("/login")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert_secure(response)
