"""Returning an agreement instead of countersigning it (issue 22), in headless Chromium and in Chinese: the bank
opens the countersign page and reads every term in 万元 and %, returns the agreement with a reason (an empty reason
is refused beside the box; the confirmation repeats the reason), the agency reads the reason and resubmits the
agreement from a form holding its terms with a lower fee, and the bank countersigns the amended terms."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import Page, expect

from marketplace.dates import business_today
from tests.browser.conftest import Confirmations
from tests.browser.zh import DESKTOP, PASSWORD, sign_in, sign_out

pytestmark = pytest.mark.browser

CODE = "ZJFG-HZSB-RET"
REASON = "担保费率偏高，请调整为 0.60% 后重新提交。"


@pytest.mark.parametrize("live_server", ["zh_Hans"], indirect=True)
def test_the_bank_returns_an_agreement_and_countersigns_it_amended(live_server: str, browser_page: Page,
                                                                   confirmations: Confirmations) -> None:
    page, base_url = browser_page, live_server
    page.set_viewport_size(DESKTOP)

    # The agency proposes an agreement to the second bank, from today.
    answer = page.request.post(f"{base_url}/api/v1/auth/token", data={"username": "agency", "password": PASSWORD})
    token = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    bank2 = next(b for b in page.request.get(f"{base_url}/api/v1/banks", headers=token).json()
                 if "HZSB" in b.get("code", ""))
    today = business_today()
    proposed = page.request.post(f"{base_url}/api/v1/agreements", headers=token, data={
        "code": CODE, "bank_id": bank2["id"], "valid_from": today.isoformat(),
        "valid_to": (today + dt.timedelta(days=364)).isoformat(), "total_quota": "50000000.00",
        "per_enterprise_cap": "5000000.00", "per_loan_cap": "3000000.00", "fee_rate": "0.0080",
        "shares": {"agency": "0.80", "bank": "0.20", "reguarantee": "0.00", "risk_pool": "0.00"},
        "compensation_cap_rate": "0.05", "eligible_tiers": ["srdi", "little_giant"],
        "eligible_product_types": ["credit", "term"]})
    assert proposed.status == 201, proposed.text()

    # The bank opens the countersign page and reads every term.
    sign_in(page, base_url, "bank2", landing=r"/bank/dashboard$")
    page.goto(f"{base_url}/bank/agreements")
    page.locator("tr").filter(has_text=CODE).get_by_role("link", name="审阅并会签").click()
    expect(page).to_have_url(re.compile(r"/bank/agreements/\d+$"))
    terms = page.locator("#terms")
    for term, words in (("total_quota", "5,000.00 万元"), ("per_enterprise_cap", "500.00 万元"),
                        ("per_loan_cap", "300.00 万元"), ("fee_rate", "0.80%"), ("compensation_cap_rate", "5.00%"),
                        ("claim_mode", "自动代偿"), ("eligible_product_types", "信用贷"),
                        ("validity", today.isoformat())):
        expect(terms.locator(f"[data-term={term}]")).to_contain_text(words)
    expect(terms.locator("[data-term=shares]")).to_contain_text("银行 20.00%")
    expect(terms.locator("[data-term=agency]")).not_to_be_empty()

    # An empty reason is refused beside the box; nothing is returned.
    page.get_by_role("button", name="退回", exact=True).click()
    expect(page.locator("#reason-error")).to_contain_text("请填写退回原因")
    expect(page.locator("#agreement-status")).to_have_text("待银行会签")

    # With a reason, the confirmation repeats it; cancelled, nothing happens; confirmed, it is returned.
    page.fill("#reason", REASON)
    confirmations.refuse = True
    page.get_by_role("button", name="退回", exact=True).click()
    assert REASON in confirmations.dialogs[-1] and CODE in confirmations.dialogs[-1]
    page.wait_for_timeout(300)
    expect(page.locator("#agreement-status")).to_have_text("待银行会签")
    confirmations.refuse = False
    page.get_by_role("button", name="退回", exact=True).click()
    expect(page.locator(".flash")).to_contain_text(f"您已将协议 {CODE}")
    expect(page.locator("tr").filter(has_text=CODE).locator(".status")).to_have_text("已退回")
    sign_out(page)

    # The agency reads the reason and resubmits with a lower fee, from a form holding the terms.
    sign_in(page, base_url, "agency", landing=r"/agency/dashboard$")
    page.goto(f"{base_url}/agency/agreements")
    row = page.locator("tr").filter(has_text=CODE)
    expect(row.locator("[data-reason]")).to_contain_text(REASON)
    row.get_by_role("link", name="修改并重新提交").click()
    expect(page.locator("#return-reason")).to_contain_text(REASON)
    expect(page.locator("#total_quota")).to_have_value("50000000.00")
    expect(page.locator("#fee_rate")).to_have_value("0.8%")
    page.fill("#fee_rate", "0.60%")
    page.get_by_role("button", name="重新提交银行").click()
    expect(page.locator(".flash")).to_contain_text(f"协议 {CODE} 已按修改后的条款重新提交")
    expect(page.locator("tr").filter(has_text=CODE).locator(".status")).to_have_text("待银行会签")
    sign_out(page)

    # The bank countersigns the amended terms; the confirmation names them.
    sign_in(page, base_url, "bank2", landing=r"/bank/dashboard$")
    page.goto(f"{base_url}/bank/agreements")
    page.locator("tr").filter(has_text=CODE).get_by_role("link", name="审阅并会签").click()
    expect(page.locator("[data-term=fee_rate]")).to_contain_text("0.60%")
    expect(page.locator("#return-reason")).to_contain_text(REASON)
    page.locator("#countersign button[type=submit]").click()
    assert all(words in confirmations.dialogs[-1] for words in (CODE, "¥50,000,000.00", "0.60%", "20.00%", "无法撤销"))
    expect(page.locator(".flash")).to_contain_text(CODE)
    expect(page.locator("tr").filter(has_text=CODE).locator(".status")).to_have_text(re.compile("生效"))
