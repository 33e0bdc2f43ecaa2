"""What cannot be undone asks first (issue 22), in headless Chromium and in Chinese: suspending and archiving a
product, deleting a draft, countersigning an agreement (on its page, which shows every term), suspending one,
depositing into a risk pool and withdrawing a request each show a confirmation that says what will happen and to how
much money. Cancelled, nothing happens; confirmed, it does. (Deciding a batch asks too:
tests/browser/test_batch_review.py reads its confirmation.)
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import Page, expect

from marketplace.dates import business_today
from tests.browser.conftest import Confirmations
from tests.browser.zh import DESKTOP, PASSWORD, choose_a_guaranteed_offer, sign_in, sign_out

pytestmark = pytest.mark.browser


def _refused_then_confirmed(page: Page, answers: Confirmations, click, says: list[str]) -> None:
    """Click, cancel the confirmation (nothing may happen), then click again and confirm."""
    answers.refuse = True
    flashes = page.locator(".flash").all_inner_texts()
    click()
    assert answers.dialogs, "no confirmation was shown"
    for words in says:
        assert words in answers.dialogs[-1], (words, answers.dialogs[-1])
    page.wait_for_timeout(300)  # a form sent in spite of the cancel would be back by now, with a flash of its own
    assert page.locator(".flash").all_inner_texts() == flashes
    answers.refuse = False
    shown = len(answers.dialogs)
    click()
    assert len(answers.dialogs) == shown + 1


@pytest.mark.parametrize("live_server", ["zh_Hans"], indirect=True)
def test_each_irreversible_action_asks_first(live_server: str, browser_page: Page, confirmations: Confirmations
                                             ) -> None:
    page, base_url = browser_page, live_server
    page.set_viewport_size(DESKTOP)

    # The bank suspends a published product, cancelling first.
    sign_in(page, base_url, "bank", landing=r"/bank/dashboard$")
    page.goto(f"{base_url}/bank/products")
    row = page.locator("table tbody tr").filter(has=page.locator(".status-published")).first
    name = row.locator("td").first.inner_text().strip()
    row = page.locator("table tbody tr").filter(has_text=name).first
    _refused_then_confirmed(page, confirmations, lambda: row.get_by_role("button", name="暂停").click(),
                            ["暂停", "不再向企业提供报价"])
    expect(page.locator(".flash")).to_contain_text("已暂停")
    expect(page.locator("table tbody tr").filter(has_text=name).first.locator(".status")).to_have_text("已暂停")

    # … and archives it.
    row = page.locator("table tbody tr").filter(has_text=name).first
    _refused_then_confirmed(page, confirmations, lambda: row.get_by_role("button", name="下架").click(),
                            ["下架", "无法撤销"])
    expect(page.locator(".flash")).to_contain_text("已下架")

    # … and deletes a draft it never published.
    bank_token = _token(page, base_url, "bank")
    draft = page.request.post(f"{base_url}/api/v1/products", headers=bank_token, data={
        "name": "待删除的草稿产品", "product_type": "credit", "amount_min": "500000.00", "amount_max": "3000000.00",
        "term_min_months": 6, "term_max_months": 24, "rate_spread_bp": 30, "eligible_tiers": ["srdi"]})
    assert draft.status == 201, draft.text()
    page.goto(f"{base_url}/bank/products?status=draft")
    row = page.locator(f"tr[data-product-id='{draft.json()['id']}']")
    _refused_then_confirmed(page, confirmations, lambda: row.get_by_role("button", name="删除草稿").click(),
                            ["待删除的草稿产品", "无法撤销"])
    expect(page.locator(".flash")).to_contain_text("已删除")
    expect(page.locator(f"tr[data-product-id='{draft.json()['id']}']")).to_have_count(0)
    sign_out(page)

    # The enterprise withdraws a request.
    sign_in(page, base_url, "enterprise", landing=r"/enterprise/requests$")
    request_url = choose_a_guaranteed_offer(page, base_url, "补充流动资金")
    page.goto(request_url)
    _refused_then_confirmed(page, confirmations, lambda: page.get_by_role("button", name="撤回此融资需求").click(),
                            ["¥2,000,000.00", "12 个月", "无法撤销"])
    expect(page.locator(".flash")).to_contain_text("撤回")
    sign_out(page)

    # The admin deposits into a risk pool: the confirmation repeats the amount typed.
    sign_in(page, base_url, "admin", landing=r"/admin/dashboard$")
    page.goto(f"{base_url}/admin/risk-pools")
    pool = page.locator("tr[data-pool-id]").first
    deposited = pool.locator("[data-figure=deposited]").inner_text()
    deposit = pool.locator("form.deposit")
    deposit.locator("input[name=amount]").fill("50000.00")
    deposit.locator("input[name=deposited_on]").fill(business_today().isoformat())
    _refused_then_confirmed(page, confirmations, lambda: deposit.locator("button[type=submit]").click(),
                            ["¥50000.00", "不可撤回"])
    expect(page.locator(".flash")).to_contain_text("50,000.00")
    expect(page.locator("tr[data-pool-id]").first.locator("[data-figure=deposited]")).not_to_have_text(deposited)
    sign_out(page)

    # The agency proposes an agreement to the second bank (through the API), which countersigns it on its page.
    agency_token = _token(page, base_url, "agency")
    bank2 = next(b for b in page.request.get(f"{base_url}/api/v1/banks", headers=agency_token).json()
                 if "HZSB" in b.get("code", ""))
    today = business_today()
    proposed = page.request.post(f"{base_url}/api/v1/agreements", headers=agency_token, data={
        "code": "ZJFG-HZSB-2027", "bank_id": bank2["id"], "valid_from": today.isoformat(),
        "valid_to": (today + dt.timedelta(days=364)).isoformat(), "total_quota": "50000000.00",
        "per_enterprise_cap": "5000000.00", "per_loan_cap": "3000000.00", "fee_rate": "0.0080",
        "shares": {"agency": "0.80", "bank": "0.20", "reguarantee": "0.00", "risk_pool": "0.00"},
        "eligible_tiers": ["srdi", "little_giant"], "eligible_product_types": ["credit"]})
    assert proposed.status == 201, proposed.text()
    sign_in(page, base_url, "bank2", landing=r"/bank/dashboard$")
    page.goto(f"{base_url}/bank/agreements")
    page.locator("tr").filter(has_text="ZJFG-HZSB-2027").get_by_role("link", name="审阅并会签").click()
    expect(page.locator("#terms")).to_contain_text("5,000.00 万元")
    _refused_then_confirmed(page, confirmations, lambda: page.locator("#countersign button[type=submit]").click(),
                            ["ZJFG-HZSB-2027", "¥50,000,000.00", "¥3,000,000.00", "0.80%", "20.00%", "无法撤销"])
    expect(page.locator(".flash")).to_contain_text("ZJFG-HZSB-2027")
    sign_out(page)

    # The agency suspends it.
    sign_in(page, base_url, "agency", landing=r"/agency/dashboard$")
    page.goto(f"{base_url}/agency/agreements")
    row = page.locator("tr").filter(has_text="ZJFG-HZSB-2027")
    _refused_then_confirmed(page, confirmations, lambda: row.get_by_role("button", name="暂停").click(),
                            ["ZJFG-HZSB-2027", "暂停"])
    expect(page.locator("tr").filter(has_text="ZJFG-HZSB-2027").locator(".status")).to_have_text(
        re.compile("暂停"))


def _token(page: Page, base_url: str, username: str) -> dict[str, str]:
    answer = page.request.post(f"{base_url}/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}
