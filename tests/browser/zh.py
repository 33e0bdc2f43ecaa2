"""Steps the Chinese browser tests share: signing in and out of the demo (whose users all have one password), a
screenshot at desktop width and at 390 px where nothing may be wider than the phone, and the enterprise choosing a
guaranteed offer for 2,000,000.00 over 12 months."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

PASSWORD = "demo-password"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def sign_in(page: Page, base_url: str, username: str, *, landing: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(landing))


def sign_out(page: Page) -> None:
    page.locator("header.topbar").get_by_role("button", name="退出登录").click()
    expect(page).to_have_url(re.compile(r"/login$"))


def both_widths(page: Page, screenshots: Path, name: str) -> None:
    """A full-page screenshot at desktop width and at 390 px, where nothing may be wider than the phone."""
    page.screenshot(path=screenshots / f"{name}.png", full_page=True)
    page.set_viewport_size(PHONE)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the phone"
    page.screenshot(path=screenshots / f"{name}-390.png", full_page=True)
    page.set_viewport_size(DESKTOP)


def choose_a_guaranteed_offer(page: Page, base_url: str, purpose: str) -> str:
    """The signed-in enterprise asks for 2,000,000.00 over 12 months and chooses the first guaranteed offer; → the
    request page's URL."""
    page.goto(f"{base_url}/enterprise/requests/new")
    page.fill("#amount", "2000000.00")
    page.fill("#term_months", "12")
    page.fill("#purpose", purpose)
    page.get_by_role("button", name="获取报价").click()
    expect(page).to_have_url(re.compile(r"/enterprise/requests/\d+$"))
    request_url = page.url
    expect(page.locator("#offers-valid")).to_contain_text("报价有效期至")
    page.locator("table#offers tbody tr[data-guaranteed='true']").first.get_by_role("button").click()
    expect(page.locator("#application")).to_have_attribute("data-status", "submitted")
    expect(page.locator("#application")).to_contain_text("银行将于")
    return request_url
