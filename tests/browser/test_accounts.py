"""Accounts in headless Chromium and in Chinese (issue 21): the demo bank's administrator adds an officer with a
temporary password, the officer must choose their own at the first sign-in, the administrator disables the officer
(through the confirmation) while the officer's browser is open, which is signed out on its next page, and re-enables
them; a reset shows a temporary password once. The admin finds the bank on the organisations page.

Screenshots of each page at desktop width and at 390 px are left in test-output/browser/ (accounts-*.png).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.zh import DESKTOP, both_widths, sign_in, sign_out

pytestmark = pytest.mark.browser

TEMPORARY = "Osmanthus-bridge-58"
OWN = "West-lake-lantern-2741"


def _users_page(page: Page) -> None:
    page.locator("header.topbar nav").get_by_role("link", name="用户管理").click()
    expect(page).to_have_url(re.compile(r"/organizations/\d+/users$"))


@pytest.mark.parametrize("live_server", ["zh_Hans"], indirect=True)
def test_a_bank_administrator_adds_disables_and_resets_an_officer(live_server: str, browser_page: Page,
                                                                  screenshots: Path) -> None:
    page, base_url = browser_page, live_server
    page.set_viewport_size(DESKTOP)
    sign_in(page, base_url, "bank", landing=r"/bank/dashboard$")
    _users_page(page)
    users_url = page.url

    # A weak password is refused beside its field, and nothing is added.
    page.fill("#username", "zcb.officer")
    page.fill("#email", "officer@zcb.example")
    page.fill("#password", "password1234")
    page.get_by_role("button", name="添加用户").click()
    expect(page.locator("#add-user")).to_contain_text("太容易被猜到")
    expect(page.locator("table#users tr[data-user='zcb.officer']")).to_have_count(0)
    both_widths(page, screenshots, "accounts-refused")
    page.fill("#password", TEMPORARY)
    page.get_by_role("button", name="添加用户").click()
    expect(page.locator("p.flash")).to_contain_text("已添加用户 zcb.officer")
    officer_row = page.locator("table#users tr[data-user='zcb.officer']")
    expect(officer_row.locator("[data-standing]")).to_have_text("临时密码")
    both_widths(page, screenshots, "accounts-users")
    sign_out(page)

    # The officer's first sign-in leads to the password page, and nowhere else until the password is theirs.
    officer = _second_browser(page)
    officer.goto(f"{base_url}/login")
    officer.fill("#username", "zcb.officer")
    officer.fill("#password", TEMPORARY)
    officer.get_by_role("button", name="登录").click()
    expect(officer).to_have_url(re.compile(r"/account/password$"))
    expect(officer.locator("#temporary")).to_contain_text("临时密码")
    officer.goto(f"{base_url}/bank/applications")
    expect(officer).to_have_url(re.compile(r"/account/password$"))
    both_widths(officer, screenshots, "accounts-password")
    officer.fill("#current_password", TEMPORARY)
    officer.fill("#new_password", OWN)
    officer.fill("#confirm_password", OWN)
    officer.get_by_role("button", name="修改密码").click()
    expect(officer.locator("p.flash")).to_contain_text("密码已修改")
    officer.goto(f"{base_url}/bank/applications")
    expect(officer).to_have_url(re.compile(r"/bank/applications$"))

    # The administrator disables the officer, through a confirmation; the officer's open browser is signed out.
    sign_in(page, base_url, "bank", landing=r"/bank/dashboard$")
    page.goto(users_url)
    officer_row.get_by_role("button", name="停用").click()
    expect(page.locator("#confirm")).to_contain_text("停用 zcb.officer？")
    expect(page.locator("#consequences")).to_contain_text("API 令牌随即失效")
    both_widths(page, screenshots, "accounts-confirm")
    page.get_by_role("button", name="确认").click()
    expect(page.locator("p.flash")).to_contain_text("已停用 zcb.officer")
    expect(officer_row.locator("[data-standing]")).to_have_text("已停用")
    officer.goto(f"{base_url}/bank/applications")
    expect(officer).to_have_url(re.compile(r"/login\?next="))

    officer_row.get_by_role("button", name="重新启用").click()
    page.get_by_role("button", name="确认").click()
    expect(officer_row.locator("[data-standing]")).to_have_text("正常")

    # A reset shows the temporary password once.
    officer_row.get_by_role("button", name="重置密码").click()
    page.get_by_role("button", name="确认").click()
    secret = page.locator("[data-temporary-password]")
    expect(secret).to_have_text(re.compile(r"^[A-Za-z2-9]{16}$"))
    both_widths(page, screenshots, "accounts-temporary")
    sign_out(page)

    # The admin reaches the bank's users from the organisations page.
    sign_in(page, base_url, "admin", landing=r"/admin/dashboard$")
    page.locator("header.topbar nav").get_by_role("link", name="用户管理").click()
    expect(page).to_have_url(re.compile(r"/admin/organizations$"))
    both_widths(page, screenshots, "accounts-organizations")
    page.locator("table#organizations").get_by_role("link", name=re.compile("浙商银行")).click()
    expect(page.locator("table#users tr[data-user='zcb.officer']")).to_have_count(1)


def _second_browser(page: Page) -> Page:
    """Another browser (its own cookies) in the same Chromium."""
    browser: Browser = page.context.browser
    context = browser.new_context(locale="zh-CN", viewport=DESKTOP)
    return context.new_page()
