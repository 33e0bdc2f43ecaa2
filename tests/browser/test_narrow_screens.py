"""Every page a role's navigation leads to fits a phone's screen (390 px wide) in headless Chromium: nothing makes
the page wider than the screen (wide tables scroll inside their own box), in Chinese, the demo's default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
#: Each demo user and where they land.
USERS = [("enterprise", r"/enterprise/requests$"), ("bank", r"/bank/dashboard$"), ("agency", r"/agency/dashboard$"),
         ("admin", r"/admin/dashboard$")]


@pytest.mark.parametrize("live_server", ["zh_Hans"], indirect=True)
def test_every_page_of_every_role_fits_a_phone(live_server: str, browser_page: Page, screenshots: Path) -> None:
    page, base_url = browser_page, live_server
    page.set_viewport_size(PHONE)
    visited = []
    for username, landing in USERS:
        page.goto(f"{base_url}/login")
        page.fill("#username", username)
        page.fill("#password", "demo-password")
        page.get_by_role("button", name="登录").click()
        expect(page).to_have_url(re.compile(landing))
        paths = page.locator("header.topbar nav a").evaluate_all("links => links.map(a => a.pathname)")
        assert len(paths) >= 2
        for path in paths:
            page.goto(base_url + path)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{username}: {path} is {overflow}px wider than the phone"
            # A status badge reads on one line (issue 22 saw "生/效/中", one character a line).
            broken = page.evaluate("[...document.querySelectorAll('.status')]"
                                   ".filter(badge => badge.getClientRects().length > 1).map(b => b.textContent)")
            assert broken == [], f"{username}: {path} breaks the badges {broken}"
            visited.append(path)
        page.screenshot(path=screenshots / f"phone-{username}.png", full_page=True)
        page.locator("header.topbar").get_by_role("button", name="退出登录").click()
    assert {"/bank/dashboard", "/agency/dashboard", "/admin/dashboard", "/admin/ledger"} <= set(visited)
