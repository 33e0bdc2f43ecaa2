"""After the loan is made, in headless Chromium and in Chinese (the demo's default): a guaranteed loan is chosen,
approved by the bank and cleared by the agency's batch; the bank officer disburses it from the loan's page (contract
number and 等额本息, through the confirmation step), records two repayments, and sees the schedule's first two periods
paid and the guarantee fee in the loan's ledger entries. The enterprise then reads the same schedule on its page.

Screenshots of the loan page, a confirmation and the enterprise's page, at desktop width and at 390 px, are left in
test-output/browser/ (servicing-*.png).
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.zh import DESKTOP, both_widths, choose_a_guaranteed_offer, sign_in, sign_out

pytestmark = pytest.mark.browser

CONTRACT = "浙商银〔2026〕专精特新贷字第0188号"


@pytest.mark.parametrize("live_server", ["zh_Hans"], indirect=True)
def test_the_bank_disburses_a_guaranteed_loan_and_records_two_repayments(live_server: str, browser_page: Page,
                                                                         screenshots: Path) -> None:
    page, base_url = browser_page, live_server
    page.set_viewport_size(DESKTOP)

    sign_in(page, base_url, "enterprise", landing=r"/enterprise/requests$")
    choose_a_guaranteed_offer(page, base_url, "购置五轴数控加工中心")
    sign_out(page)
    sign_in(page, base_url, "bank", landing=r"/bank/dashboard$")
    _approve_the_application(page, base_url)
    sign_out(page)
    sign_in(page, base_url, "agency", landing=r"/agency/dashboard$")
    _clear_the_batch(page)
    sign_out(page)

    sign_in(page, base_url, "bank", landing=r"/bank/dashboard$")
    loan_url = _open_the_approved_loan(page, base_url)
    fee = _disburse(page, screenshots)
    periods = page.locator("table#schedule tbody tr")
    expect(periods).to_have_count(12)
    totals = [_money(text) for text in page.locator("table#schedule tbody tr td:nth-child(5)").all_inner_texts()]
    assert totals[:11] == [totals[0]] * 11, totals  # 等额本息: equal instalments but the last

    for number, amount in ((1, totals[0]), (2, totals[1])):
        _repay(page, amount, screenshots if number == 1 else None)
        expect(page.locator(f"table#schedule tr[data-period='{number}']")).to_have_attribute("data-period-status",
                                                                                            "paid")
        expect(page.locator(f"table#schedule tr[data-period='{number}']")).to_contain_text("已还清")
    expect(page.locator("table#schedule tr[data-period='3']")).not_to_have_attribute("data-period-status", "paid")
    expect(page.locator("#events tr[data-event-type='repayment']")).to_have_count(2)
    expect(page.locator("#summary [data-status]")).to_have_attribute("data-status", "repaying")

    # The loan's ledger entries: the guarantee fee posted at disbursement, for the fee the confirmation stated.
    fee_entry = page.locator("#loan-ledger tbody[data-entry-kind='fee']")
    expect(fee_entry).to_have_count(1)
    expect(fee_entry).to_contain_text("担保费")
    expect(fee_entry).to_contain_text(f"{fee:,.2f}")
    page.locator("#schedule").scroll_into_view_if_needed()
    both_widths(page, screenshots, "servicing-bank-loan")
    sign_out(page)

    sign_in(page, base_url, "enterprise", landing=r"/enterprise/requests$")
    page.locator("header.topbar nav a[href$='/enterprise/loans']").click()
    expect(page).to_have_url(re.compile(r"/enterprise/loans$"))
    loan_id = loan_url.rsplit("/", 1)[1]
    page.locator(f"a[href$='/enterprise/loans/{loan_id}']").first.click()
    expect(page.locator("table#schedule tr[data-period-status='paid']")).to_have_count(2)
    expect(page.locator("#summary [data-contract]")).to_have_text(CONTRACT)
    both_widths(page, screenshots, "servicing-enterprise-loan")


# Steps ---------------------------------------------------------------------------------------------------

def _money(text: str) -> Decimal:
    """¥170,321.50 → Decimal("170321.50")."""
    return Decimal(re.sub(r"[^\d.]", "", text))


def _approve_the_application(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/bank/applications")
    page.locator("section.application").first.locator("h2 a").click()
    expect(page).to_have_url(re.compile(r"/bank/applications/\d+$"))
    page.fill("input[name=reason]", "订单充足，经营稳定")
    page.get_by_role("button", name="批准", exact=True).click()
    expect(page.locator(".flash")).to_be_visible()
    expect(page.locator("#decision")).to_have_count(0)


def _clear_the_batch(page: Page) -> None:
    page.locator("header.topbar nav").get_by_role("link", name="批次").click()  # from the agency's dashboard
    expect(page).to_have_url(re.compile(r"/agency/batches$"))
    row = page.locator("table#batches tbody tr").filter(has=page.locator(".status-open")).first
    row.get_by_role("button").click()  # submitted for review: the batch opens, ready to decide
    expect(page).to_have_url(re.compile(r"/agency/batches/\d+$"))
    page.locator("form#decision button[type=submit]").click()
    expect(page.locator("#batch-status")).to_have_text("已审批")


def _open_the_approved_loan(page: Page, base_url: str) -> str:
    page.locator("header.topbar nav a[href$='/bank/loans']").click()
    expect(page).to_have_url(re.compile(r"/bank/loans$"))
    page.select_option("#f-status", "approved")
    page.locator("#f-status").evaluate("select => select.form.requestSubmit()")
    expect(page).to_have_url(re.compile(r"/bank/loans\?.*\bstatus=approved\b"))
    rows = page.locator("table#loans tbody tr")
    expect(rows).to_have_count(1)
    rows.first.locator("a[href*='/bank/loans/']").first.click()
    expect(page).to_have_url(re.compile(r"/bank/loans/\d+$"))
    expect(page.locator("#summary [data-status]")).to_have_attribute("data-status", "approved")
    expect(page.locator("table#schedule")).to_have_count(0)
    return page.url


def _disburse(page: Page, screenshots: Path) -> Decimal:
    """Disburses through the confirmation step; returns the guarantee fee the confirmation states."""
    form = page.locator("form#form-disbursed")
    # Without a contract number: refused beside the field, and nothing is recorded.
    form.locator("button[type=submit]").click()
    expect(page.locator("#disbursed-contract_no")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#summary [data-status]")).to_have_attribute("data-status", "approved")

    page.fill("#disbursed-contract_no", CONTRACT)
    page.select_option("#disbursed-repayment_method", "equal_installment")
    page.locator("form#form-disbursed button[type=submit]").click()
    confirm = page.locator("#confirm")
    expect(confirm).to_have_attribute("data-confirm", "disbursed")
    expect(confirm.locator("[data-amount]")).to_have_text("¥2,000,000.00")
    fee_line = confirm.locator("#consequences li").filter(has_text="担保费")
    expect(fee_line).to_have_count(1)
    fee = _money(re.search(r"¥[\d,]+\.\d{2}", fee_line.inner_text()).group())
    assert fee > 0, fee_line.inner_text()
    both_widths(page, screenshots, "servicing-confirm-disbursement")
    page.locator("#confirm-form button[name=confirm]").click()
    expect(page).to_have_url(re.compile(r"/bank/loans/\d+$"))
    expect(page.locator(".flash")).to_be_visible()
    expect(page.locator("#summary [data-status]")).to_have_attribute("data-status", "disbursed")
    expect(page.locator("#summary [data-method]")).to_have_attribute("data-method", "equal_installment")
    expect(page.locator("#guarantee")).to_contain_text(f"{fee:,.2f}")
    return fee


def _repay(page: Page, amount: Decimal, screenshots: Path | None) -> None:
    page.fill("#repayment-amount", f"{amount}")
    page.locator("form#form-repayment button[type=submit]").click()
    confirm = page.locator("#confirm")
    expect(confirm).to_have_attribute("data-confirm", "repayment")
    expect(confirm.locator("[data-amount]")).to_have_text(f"¥{amount:,.2f}")
    expect(confirm.locator("#consequences")).to_contain_text("先息后本")
    if screenshots is not None:
        both_widths(page, screenshots, "servicing-confirm-repayment")
    page.locator("#confirm-form button[name=confirm]").click()
    expect(page).to_have_url(re.compile(r"/bank/loans/\d+$"))
    expect(page.locator(".flash")).to_contain_text("已登记还款")
