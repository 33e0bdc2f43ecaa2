"""The enterprise's offers at 390 px (issue 22), in headless Chromium and in Chinese: each offer is a card, and the
first one's 综合年化成本, its total cost in 元 and 选择 lie inside the phone's width, with nothing to scroll sideways.
A screenshot is left in test-output/browser/offers-390.png."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.zh import PHONE, sign_in

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("live_server", ["zh_Hans"], indirect=True)
def test_the_first_offer_reads_whole_on_a_phone(live_server: str, browser_page: Page, screenshots: Path) -> None:
    page, base_url = browser_page, live_server
    page.set_viewport_size(PHONE)
    sign_in(page, base_url, "enterprise", landing=r"/enterprise/requests$")
    page.goto(f"{base_url}/enterprise/requests/new")
    page.fill("#amount", "2000000.00")
    page.fill("#term_months", "12")
    page.fill("#purpose", "购置检测设备")
    page.get_by_role("button", name="获取报价").click()
    expect(page).to_have_url(re.compile(r"/enterprise/requests/\d+$"))

    first = page.locator("table#offers tbody tr").first
    first.scroll_into_view_if_needed()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the offers page is {overflow}px wider than the phone"
    expect(first.locator("[data-all-in]")).to_have_attribute("data-label", "综合年化成本")
    expect(first.locator("[data-total-cost]")).to_have_attribute("data-label", "期内总成本")
    for part in (first.locator("[data-all-in]"), first.locator("[data-total-cost]"),
                 first.get_by_role("button", name="选择")):
        expect(part).to_be_visible()
        box = part.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    expect(first.locator("[data-total-cost]")).to_contain_text(re.compile(r"¥[\d,]+\.\d{2}"))
    page.screenshot(path=screenshots / "offers-390.png", full_page=True)
