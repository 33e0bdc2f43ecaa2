"""In headless Chromium, under the real Content-Security-Policy: the API docs (Swagger UI) start from a script
file and list the operations, and an agency's pages with the quota bar render; nothing is blocked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_pages_and_api_docs_work_with_nothing_blocked(live_server: str, browser_page: Page,
                                                      screenshots: Path) -> None:
    page = browser_page
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text)
            if "Content Security Policy" in message.text else None)

    page.goto(f"{live_server}/api/v1/docs")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible(timeout=15_000)
    expect(page.locator(".swagger-ui")).to_contain_text("/api/v1/financing-requests")
    page.screenshot(path=screenshots / "csp-api-docs.png")

    page.goto(f"{live_server}/login")
    page.fill("#username", "agency")
    page.fill("#password", "demo-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/agency/dashboard$"))
    page.goto(f"{live_server}/agency/agreements")
    bar = page.locator("svg.quota-bar rect.quota-available").first
    expect(bar).to_be_visible()
    assert float(bar.get_attribute("width")) > 0
    page.screenshot(path=screenshots / "csp-agency-agreements.png", full_page=True)

    assert blocked == []
