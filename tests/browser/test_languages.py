"""Each role's main page in headless Chromium, first in Chinese (the demo's default), then in English after one
click, and Chinese again after signing out and in (the choice is the user's). Screenshots of every page in both
languages go to test-output/browser/lang-*.png."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

PASSWORD = "demo-password"
#: Each demo user, where they land, and a word of that page in Chinese and in English.
ROLES = [
    ("enterprise", r"/enterprise/requests$", "我的融资需求", "My requests"),
    ("bank", r"/bank/dashboard$", "看板", "Dashboard"),
    ("agency", r"/agency/dashboard$", "看板", "Dashboard"),
    ("admin", r"/admin/dashboard$", "看板", "Dashboard"),
]
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("live_server", ["zh_Hans"], indirect=True)
def test_each_roles_main_page_reads_in_chinese_and_in_english(live_server: str, browser_page: Page,
                                                                screenshots: Path) -> None:
    page, base_url = browser_page, live_server
    page.goto(f"{base_url}/login")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    page.screenshot(path=screenshots / "lang-zh-login.png", full_page=True)

    for username, landing, chinese, english in ROLES:
        _sign_in(page, base_url, username, landing, button="登录")
        expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
        expect(page.locator("header.topbar nav")).to_contain_text(chinese)
        _no_english_in_the_frame(page)
        page.screenshot(path=screenshots / f"lang-zh-{username}.png", full_page=True)

        page.locator("header.topbar").get_by_role("button", name="English").click()
        expect(page).to_have_url(re.compile(landing))
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("header.topbar nav")).to_contain_text(english)
        expect(page.locator("header.topbar").get_by_role("button", name="Sign out")).to_be_visible()
        page.screenshot(path=screenshots / f"lang-en-{username}.png", full_page=True)

        page.locator("header.topbar").get_by_role("button", name="Sign out").click()
        _sign_in(page, base_url, username, landing, button="登录")  # the sign-in page stays in the default
        expect(page.locator("html")).to_have_attribute("lang", "en")  # … and the user's choice comes back
        page.locator("header.topbar").get_by_role("button", name="中文").click()
        expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
        page.locator("header.topbar").get_by_role("button", name="退出登录").click()
        expect(page).to_have_url(re.compile(r"/login$"))


def _sign_in(page: Page, base_url: str, username: str, landing: str, *, button: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name=button).click()
    expect(page).to_have_url(re.compile(landing))


def _no_english_in_the_frame(page: Page) -> None:
    """The navigation, the headings and the table headers are Chinese: each has a Han character."""
    texts = page.locator("header.topbar nav a, h1, h2, th, button").all_inner_texts()
    untranslated = [text for text in texts if text.strip() and not HAN.search(text) and text.strip() != "English"]
    assert not untranslated, untranslated


DASHBOARDS = [("bank", "/bank/dashboard"), ("agency", "/agency/dashboard"), ("admin", "/admin/dashboard")]


@pytest.mark.parametrize("live_server", ["zh_Hans"], indirect=True)
def test_each_dashboard_reads_in_both_languages_and_fits_a_phone(live_server: str, browser_page: Page,
                                                                  screenshots: Path) -> None:
    page, base_url = browser_page, live_server
    for username, path in DASHBOARDS:
        landing = next(landing for name, landing, _zh, _en in ROLES if name == username)
        _sign_in(page, base_url, username, landing, button="登录")
        page.locator("header.topbar nav").get_by_role("link", name="看板").click()
        expect(page).to_have_url(re.compile(path + "$"))
        expect(page.locator("h1")).to_have_text("看板")
        _no_english_in_the_frame(page)
        page.screenshot(path=screenshots / f"dashboard-zh-{username}.png", full_page=True)

        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than a phone's screen"
        page.screenshot(path=screenshots / f"dashboard-zh-{username}-phone.png", full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})

        page.locator("header.topbar").get_by_role("button", name="English").click()
        expect(page.locator("h1")).to_have_text("Dashboard")
        page.screenshot(path=screenshots / f"dashboard-en-{username}.png", full_page=True)
        page.locator("header.topbar").get_by_role("button", name="中文").click()
        page.locator("header.topbar").get_by_role("button", name="退出登录").click()
        expect(page).to_have_url(re.compile(r"/login$"))
