"""Issue 22 item 7 in headless Chromium and in Chinese, at desktop width and at 390 px: a product's page from the
catalogue, its 申请 button (straight to a filled-in request form, or through sign-in for a visitor), and registration
with the region and industry pickers. Screenshots: test-output/browser/product-detail*.png, register-pickers*.png."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from stdnum.cn import uscc

from tests.browser.zh import PASSWORD, both_widths, sign_in, sign_out

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("live_server", ["zh_Hans"], indirect=True)
def test_a_product_page_and_its_apply_button(live_server: str, browser_page: Page, screenshots: Path) -> None:
    page, base_url = browser_page, live_server
    sign_in(page, base_url, "enterprise", landing=r"/enterprise/requests$")
    page.goto(f"{base_url}/products")
    name = "小巨人中长期贷"  # the demo's 36–96 months, guaranteed under ZJFG's agreement with ZCB
    page.get_by_role("link", name=name, exact=True).click()
    expect(page).to_have_url(re.compile(r"/products/\d+$"))
    product_url = page.url
    expect(page.locator("h1")).to_have_text(name)
    for heading in ("产品介绍", "申请条件", "价格"):
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
    expect(page.locator("#terms")).to_contain_text("个月")
    expect(page.locator("#amounts")).to_contain_text("万元")
    expect(page.locator("#rate")).to_contain_text(re.compile(r"年利率 [\d.]+%（1 年期 LPR [\d.]+% \+10 个基点）"))
    expect(page.locator("#rate")).to_contain_text(re.compile(r"（5 年期以上 LPR \d+\.\d{2}% \+10 个基点）"))
    expect(page.locator("#regions")).not_to_contain_text(re.compile(r"\d{2}"))  # names, never codes
    expect(page.locator("#guarantors")).to_contain_text("担保费率 1.00%/年")
    both_widths(page, screenshots, "product-detail")

    page.get_by_role("link", name="申请", exact=True).click()
    expect(page).to_have_url(re.compile(r"/enterprise/requests/new\?"))
    expect(page.locator("#amount")).not_to_have_value("")
    expect(page.locator("#term_months")).not_to_have_value("")
    expect(page.locator("#purpose")).to_have_value(re.compile(f"“{re.escape(name)}”"))
    page.get_by_role("button", name="获取报价").click()
    expect(page).to_have_url(re.compile(r"/enterprise/requests/\d+$"))

    sign_out(page)
    page.goto(product_url)  # a visitor: the page reads the same, and 申请 signs in first
    page.get_by_role("link", name="申请", exact=True).click()
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("#username", "enterprise")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(r"/enterprise/requests/new\?amount="))
    expect(page.locator("#purpose")).to_have_value(re.compile(f"“{re.escape(name)}”"))


@pytest.mark.parametrize("live_server", ["zh_Hans"], indirect=True)
def test_registration_picks_the_region_and_industry_by_name(live_server: str, browser_page: Page,
                                                             screenshots: Path) -> None:
    page, base_url = browser_page, live_server
    page.goto(f"{base_url}/enterprise/register")
    expect(page.locator("#region_code optgroup[label='杭州市'] option")).to_have_count(13)
    page.fill("#name", "龙港新材料科技有限公司")
    base = "91330383MA2XY7Q8P"
    page.fill("#uscc", base + uscc.calc_check_digit(base))
    page.select_option("#region_code", label="龙港市")
    page.select_option("#industry_code", label="电气机械和器材制造业")
    page.fill("#annual_revenue", "36000000.00")
    page.fill("#rd_expense", "2100000.00")
    page.fill("#employees", "85")
    page.fill("#username", "longgang.owner")
    both_widths(page, screenshots, "register-pickers")
    page.fill("#password", "short")
    page.get_by_role("button", name="注册").click()
    expect(page.locator("#password-error")).to_be_visible()
    expect(page.locator("#region_code")).to_have_value("330383")  # the choices stay as they were
    page.fill("#password", "a-very-long-passphrase-7")
    page.get_by_role("button", name="注册").click()
    expect(page).to_have_url(re.compile(r"/enterprise/requests/new$"))
    expect(page.locator("#on-file")).to_have_text("贵企业登记信息：温州市龙港市 · 电气机械和器材制造业")


@pytest.mark.parametrize("live_server", ["zh_Hans"], indirect=True)
def test_a_guaranteed_offer_explains_its_agency_fee_and_subsidy(live_server: str, browser_page: Page,
                                                                 screenshots: Path) -> None:
    page, base_url = browser_page, live_server
    sign_in(page, base_url, "enterprise", landing=r"/enterprise/requests$")
    page.goto(f"{base_url}/enterprise/requests/new")
    page.fill("#amount", "2000000.00")
    page.fill("#term_months", "12")
    page.fill("#purpose", "购置检测设备")
    page.get_by_role("button", name="获取报价").click()
    expect(page).to_have_url(re.compile(r"/enterprise/requests/\d+$"))
    terms = page.locator("#guarantee-terms li").first  # the demo caps the fee at 0.50 % and subsidises half of 0.50 %
    expect(terms).to_contain_text("由浙江省融资担保有限公司提供担保")
    fee, subsidy = terms.locator("[data-fee]"), terms.locator("[data-subsidy]")
    expect(fee).to_contain_text(re.compile(r"担保费率 0\.50%/年（原费率 1\.00%.*担保费 ¥[\d,]+\.\d{2}"))
    expect(subsidy).to_contain_text(re.compile(r"降费奖补）：0\.25%/年，整个期限共 ¥[\d,]+\.\d{2}"))
    expect(terms.locator("[data-why]")).to_contain_text("该补贴不计入综合年化成本")
    page.locator("#guarantee-terms").scroll_into_view_if_needed()
    both_widths(page, screenshots, "offers-guarantee-terms")
