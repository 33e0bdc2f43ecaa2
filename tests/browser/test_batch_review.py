"""End to end in headless Chromium: two enterprises choose guaranteed offers, the bank approves both, and the agency
submits the batch, excludes one item with a reason, approves the rest, and sees the batch decided and the quota
bar updated.

The real app runs as a subprocess over a fresh database seeded with the demo world (`live_server` in conftest.py),
which holds an active 总对总 agreement (ZJFG-ZCB-2025, fee 1.00 %, quota 100,000,000.00) between the provincial
agency Zhejiang Financing Guarantee (`agency`) and Zhejiang Commerce Bank (`bank`): ZCB's optional-guarantee
products are offered both without and with the guarantee, and the offer with a fee carries the agreement.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import Confirmations

pytestmark = pytest.mark.browser

PASSWORD = "demo-password"
PRODUCT = "Renewal Without Repayment"
XIHU, BINJIANG = "Xihu Precision Motors", "Binjiang Photonics"


def test_agency_excludes_one_item_approves_the_rest_and_sees_the_quota(live_server: str, browser_page: Page,
                                                                       screenshots: Path,
                                                                       confirmations: Confirmations) -> None:
    page, base_url = browser_page, live_server

    for username in ("enterprise", "enterprise2"):
        _choose_guaranteed_offer(page, base_url, username)
        _sign_out(page)

    _bank_approves_both(page, base_url)
    _sign_out(page)

    _sign_in(page, base_url, "agency", landing=r"/agency/dashboard$")
    batch_url = _submit_the_open_batch(page)
    page.screenshot(path=screenshots / "20-batch.png", full_page=True)

    _exclude_one_and_approve_the_rest(page, batch_url, confirmations)
    page.screenshot(path=screenshots / "21-decided.png", full_page=True)

    _check_the_quota_bar(page)
    page.screenshot(path=screenshots / "22-quota.png", full_page=True)


# Steps ---------------------------------------------------------------------------------------------------

def _sign_in(page: Page, base_url: str, username: str, *, landing: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(landing))


def _sign_out(page: Page) -> None:
    page.locator("header.topbar").get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))


def _choose_guaranteed_offer(page: Page, base_url: str, username: str) -> None:
    """Files 2,000,000.00 for 12 months and chooses ZCB's renewal loan with the agency's guarantee: the 1.00 % fee
    capped at 0.50 % by the demo's SRDI fee rule, the list fee struck through beside it."""
    _sign_in(page, base_url, username, landing=r"/enterprise/requests$")
    page.goto(f"{base_url}/enterprise/requests/new")
    expect(page.locator("#accept_guarantee")).to_be_checked()
    page.fill("#amount", "2000000.00")
    page.fill("#term_months", "12")
    page.fill("#purpose", "Roll over the working-capital loan")
    page.get_by_role("button", name="Find offers").click()
    expect(page).to_have_url(re.compile(r"/enterprise/requests/\d+$"))

    table = page.locator("table#offers")
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    fee_col = headers.index("Guarantee fee")
    rows = table.locator("tbody tr").filter(has_text=PRODUCT)
    fees = [row.locator("td").nth(fee_col).inner_text().strip() for row in rows.all()]
    # The optional-guarantee product comes twice: on its own, and with the agreement's guarantee and its fee.
    assert sorted(fees) == ["0.50% 1.00%", "—"], fees
    guaranteed = rows.nth(fees.index("0.50% 1.00%"))
    guaranteed.get_by_role("button", name="Choose").click()
    expect(page.locator(".flash")).to_contain_text("Sent to")
    expect(page.locator("main > div.heading .status")).to_have_text("With the bank")


def _bank_approves_both(page: Page, base_url: str) -> None:
    _sign_in(page, base_url, "bank", landing=r"/bank/dashboard$")
    page.locator("header.topbar nav").get_by_role("link", name="Applications").click()
    expect(page).to_have_url(re.compile(r"/bank/applications$"))
    for enterprise in (XIHU, BINJIANG):
        card = page.locator("section.application").filter(has_text=enterprise)
        expect(card).to_have_count(1)
        expect(card).to_contain_text(PRODUCT)
        expect(card).to_contain_text("¥2,000,000.00")
        card.get_by_role("button", name="Approve").click()
        expect(page.locator(".flash")).to_contain_text("approved")
        expect(page.locator("section.application").filter(has_text=enterprise)).to_have_count(0)


def _submit_the_open_batch(page: Page) -> str:
    """From the batch list: submit the open batch, see it listed as submitted, open it; returns its URL."""
    page.locator("header.topbar nav").get_by_role("link", name="Batches").click()
    expect(page).to_have_url(re.compile(r"/agency/batches$"))
    row = page.locator("table#batches tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator(".status")).to_have_text("Open")
    expect(row).to_contain_text("ZJFG-ZCB-2025")
    expect(row.locator("td").nth(3)).to_have_text("2")
    expect(row.locator("td").nth(4)).to_have_text("4,000,000.00")
    row.get_by_role("button", name="Submit for review").click()
    expect(page.locator(".flash")).to_contain_text("is submitted for review")

    page.locator("header.topbar nav").get_by_role("link", name="Batches").click()
    row = page.locator("table#batches tbody tr")
    expect(row.locator(".status")).to_have_text("Submitted for review")
    expect(row).to_contain_text("0 of 5 working days")
    row.locator("td").first.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/agency/batches/\d+$"))
    expect(page.locator("#batch-status")).to_have_text("Submitted for review")
    expect(page.locator("table#items tbody tr")).to_have_count(2)
    for enterprise in (XIHU, BINJIANG):
        item = _item(page, enterprise)
        expect(item).to_contain_text("2,000,000.00")
        expect(item).to_contain_text("12 months")
        expect(item).to_contain_text("Zhejiang Commerce Bank")
        expect(item).to_contain_text(PRODUCT)
        expect(item).to_contain_text("0.50%")
        expect(item.locator(".status")).to_have_text("Pending review")
    expect(_item(page, XIHU)).to_contain_text("91330106MA2CFD8K3T")
    expect(_item(page, BINJIANG)).to_contain_text("Little giant")
    return page.url


def _exclude_one_and_approve_the_rest(page: Page, batch_url: str, confirmations: Confirmations) -> None:
    # Ticked without a reason: the form comes back with the error beside that reason, and nothing is decided.
    _item(page, BINJIANG).locator("input[name=exclude]").check()
    page.get_by_role("button", name="Approve all except the ticked").click()
    reason = _item(page, BINJIANG).locator("input[name^=reason_]")
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(_item(page, BINJIANG).locator(".field-error")).to_contain_text("Say why this item is excluded")
    expect(page.locator("#batch-status")).to_have_text("Submitted for review")
    expect(_item(page, BINJIANG).locator("input[name=exclude]")).to_be_checked()

    reason.fill("Sector concentration above our 30% limit")
    # What the progress box (static/progress.js) shows once the form is sent, kept across the page change.
    page.evaluate("""() => { const box = document.querySelector('[data-progress-box]');
        new MutationObserver(() => { if (!box.hidden) sessionStorage.setItem('progress', box.textContent.trim()); })
            .observe(box, {attributes: true, childList: true, subtree: true, characterData: true}); }""")
    page.get_by_role("button", name="Approve all except the ticked").click()
    expect(page).to_have_url(batch_url)
    assert page.evaluate("sessionStorage.getItem('progress')") == \
        "Deciding 2 loans: guarantees are approved or rejected and quota released."
    expect(page.locator(".flash")).to_contain_text("is decided: 1 approved, 1 excluded")
    # Each send asked first (static/confirm.js), counting what was ticked; the first came back for its reason.
    assert len(confirmations.dialogs) == 2 and "2 loans, ¥4,000,000.00 in all" in confirmations.dialogs[-1]
    assert "The 1 ticked are excluded" in confirmations.dialogs[-1]
    expect(page.locator("#batch-status")).to_have_text("Decided")
    expect(_item(page, BINJIANG).locator(".status")).to_have_text("Excluded")
    expect(_item(page, BINJIANG)).to_contain_text("Sector concentration above our 30% limit")
    expect(_item(page, XIHU).locator(".status")).to_have_text("Approved")
    expect(_item(page, XIHU)).to_contain_text("Loan #")
    expect(page.locator("input[name=exclude]")).to_have_count(0)


def _check_the_quota_bar(page: Page) -> None:
    page.locator("header.topbar nav").get_by_role("link", name="Agreements").click()
    expect(page).to_have_url(re.compile(r"/agency/agreements$"))
    row = page.locator("table#agreements tbody tr").filter(has_text="ZJFG-ZCB-2025")
    expect(row.locator(".status")).to_have_text("Active")
    legend = row.locator(".quota-legend")
    expect(legend.locator("[data-quota=reserved] dd")).to_have_text("¥2,000,000.00")  # the one approved loan
    expect(legend.locator("[data-quota=outstanding] dd")).to_have_text("¥0.00")
    expect(legend.locator("[data-quota=available] dd")).to_have_text("¥98,000,000.00")
    expect(legend.locator("[data-quota=total] dd")).to_have_text("¥100,000,000.00")
    expect(row.locator(".quota-bar .quota-reserved")).to_have_attribute("width", "2.0000")
    expect(row).to_contain_text("1.00%")


# Locators ------------------------------------------------------------------------------------------------

def _item(page: Page, enterprise: str) -> Locator:
    return page.locator("table#items tbody tr").filter(has_text=enterprise)
