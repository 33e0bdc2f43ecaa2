"""End to end in headless Chromium: a bank officer's product form keeps what was typed on a validation
error, then saves a draft and publishes it.

The real app runs as a subprocess (`flask run`) against a fresh database made for this test, migrated and
seeded with the demo world the same way an operator would do it (the `live_server` fixture in conftest.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_bank_officer_fixes_an_inline_error_then_publishes(live_server: str, browser_page: Page,
                                                           screenshots: Path) -> None:
    _drive(browser_page, live_server, screenshots)


def _drive(page: Page, base_url: str, screenshots: Path) -> None:
    # Sign in as the demo bank officer, who lands on the bank's dashboard, and open its products.
    page.goto(f"{base_url}/login")
    page.fill("#username", "bank")
    page.fill("#password", "demo-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/bank/dashboard$"))
    page.locator("header.topbar nav").get_by_role("link", name="My products").click()
    expect(page).to_have_url(re.compile(r"/bank/products$"))
    expect(page.get_by_role("heading", name="My products")).to_be_visible()

    # A new product whose minimum amount is above its maximum.
    page.get_by_role("link", name="New product").click()
    expect(page).to_have_url(re.compile(r"/bank/products/new$"))
    page.fill("#name", "Browser Test Loan")
    page.select_option("#product_type", "credit")
    page.fill("#amount_min", "5000000.00")
    page.fill("#amount_max", "1000000.00")
    page.fill("#term_min_months", "6")
    page.fill("#term_max_months", "24")
    page.fill("#rate_spread_bp", "25")
    for tier in ("srdi", "little_giant"):
        expect(page.locator(f"input[name=eligible_tiers][value={tier}]")).to_be_checked()
    page.get_by_role("button", name="Save draft").click()

    # The form comes back with the error next to the field and everything typed still there.
    expect(page).to_have_url(re.compile(r"/bank/products/new$"))
    expect(page.locator("form.card")).to_be_visible()
    expect(page.locator("#amount_min-error")).to_contain_text("cannot be above the maximum")
    expect(page.locator("#amount_min")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#name")).to_have_value("Browser Test Loan")
    expect(page.locator("#product_type")).to_have_value("credit")
    expect(page.locator("#amount_min")).to_have_value("5000000.00")
    expect(page.locator("#amount_max")).to_have_value("1000000.00")
    expect(page.locator("#term_max_months")).to_have_value("24")
    for tier in ("srdi", "little_giant"):
        expect(page.locator(f"input[name=eligible_tiers][value={tier}]")).to_be_checked()
    page.screenshot(path=screenshots / "01-inline-error.png", full_page=True)

    # Corrected, it saves as a draft.
    page.fill("#amount_max", "8000000.00")
    page.get_by_role("button", name="Save draft").click()
    expect(page).to_have_url(re.compile(r"/bank/products$"))
    row = page.locator("tr").filter(has_text="Browser Test Loan")
    expect(row).to_have_count(1)
    expect(row.locator(".status")).to_have_text("Draft")

    # Published from its row.
    row.get_by_role("button", name="Publish").click()
    expect(page).to_have_url(re.compile(r"/bank/products$"))
    expect(row.locator(".status")).to_have_text("Published")
    expect(page.locator(".flash")).to_contain_text("is published: enterprises whose requests fit it are offered it")
    page.screenshot(path=screenshots / "02-published.png", full_page=True)
