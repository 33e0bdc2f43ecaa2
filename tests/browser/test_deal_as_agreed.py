"""The deal as agreed, end to end in headless Chromium, in Chinese (the demo's default): the bank counters an
enterprise's guaranteed offer at 230 bp more with a reason, the enterprise sees the old and new terms side by side
and accepts, the agency excludes the item from its batch with a reason, and that reason shows on the enterprise's
request page and on the bank's application page, with the request's timeline and each side's message centre.

Screenshots of the counter-offer, the timeline and the message centre, at desktop width and at 390 px, are left in
test-output/browser/ (deal-*.png).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.zh import DESKTOP, both_widths, choose_a_guaranteed_offer, sign_in, sign_out

pytestmark = pytest.mark.browser

COUNTER_REASON = "应收账款集中于单一客户，需上浮利率"
EXCLUSION_REASON = "该企业关联担保超出本机构限额"


@pytest.mark.parametrize("live_server", ["zh_Hans"], indirect=True)
def test_a_counter_offer_accepted_then_an_exclusion_every_party_reads(live_server: str, browser_page: Page,
                                                                       screenshots: Path) -> None:
    page, base_url = browser_page, live_server
    page.set_viewport_size(DESKTOP)

    sign_in(page, base_url, "enterprise", landing=r"/enterprise/requests$")
    request_url = choose_a_guaranteed_offer(page, base_url, "流动资金周转")
    sign_out(page)

    sign_in(page, base_url, "bank", landing=r"/bank/dashboard$")
    application_url = _counter_at_230_bp_more(page, base_url)
    both_widths(page, screenshots, "deal-counter-bank")
    sign_out(page)

    sign_in(page, base_url, "enterprise", landing=r"/enterprise/requests$")
    page.goto(request_url)
    terms = page.locator("table#counter-terms")
    expect(terms).to_contain_text("原报价")
    expect(terms).to_contain_text("银行新条件")
    expect(page.locator("#counter-offer")).to_contain_text(COUNTER_REASON)
    expect(page.locator("#timeline li[data-event='application.countered']")).to_have_count(1)
    both_widths(page, screenshots, "deal-counter-enterprise")
    page.get_by_role("button", name="接受新条件").click()
    expect(page.locator(".flash")).to_contain_text("您已接受银行的新条件")
    expect(page.locator("#application")).to_contain_text("下一步由担保机构审核担保")
    sign_out(page)

    sign_in(page, base_url, "agency", landing=r"/agency/dashboard$")
    _exclude_it_from_its_batch(page)
    sign_out(page)

    sign_in(page, base_url, "enterprise", landing=r"/enterprise/requests$")
    page.goto(request_url)
    expect(page.locator("#application [data-reason='agency']")).to_contain_text(EXCLUSION_REASON)
    expect(page.locator("#application [data-reason='agency']")).to_contain_text("担保被拒原因")
    expect(page.locator("#choose-another")).to_contain_text("您可以选择其他报价")
    events = page.locator("#timeline li").evaluate_all("items => items.map(li => li.dataset.event)")
    assert events == ["request.filed", "offer.chosen", "application.countered", "counter.accepted",
                      "guarantee.placed", "batch.submitted", "guarantee.excluded"], events
    expect(page.locator("#timeline li[data-event='guarantee.excluded']")).to_contain_text(EXCLUSION_REASON)
    page.locator("#timeline").scroll_into_view_if_needed()
    both_widths(page, screenshots, "deal-timeline")
    expect(page.locator("a.bell .count")).to_be_visible()
    page.locator("a.bell").click()
    expect(page).to_have_url(re.compile(r"/notifications$"))
    expect(page.locator("#messages")).to_contain_text("提出了新的条件")
    expect(page.locator("#messages")).to_contain_text(EXCLUSION_REASON + "。")
    expect(page.locator("#messages")).to_contain_text("前，您可以选择其他报价。")
    expect(page.locator("#messages")).not_to_contain_text("The guarantee agency")
    both_widths(page, screenshots, "deal-messages")
    page.get_by_role("button", name="全部标为已读").click()
    expect(page.locator("a.bell .count")).to_have_count(0)
    sign_out(page)

    sign_in(page, base_url, "bank", landing=r"/bank/dashboard$")
    page.goto(application_url)
    expect(page.locator("[data-reason='agency']")).to_contain_text(EXCLUSION_REASON)
    expect(page.locator("h1 + .status, .heading .status").first).to_contain_text("无法提供担保")
    expect(page.locator("#timeline li[data-event='guarantee.excluded']")).to_contain_text(EXCLUSION_REASON)
    both_widths(page, screenshots, "deal-exclusion-bank")


# Steps ---------------------------------------------------------------------------------------------------

def _counter_at_230_bp_more(page: Page, base_url: str) -> str:
    page.goto(f"{base_url}/bank/applications")
    card = page.locator("section.application").first
    expect(card.locator("[data-deadline]")).to_be_visible()
    card.locator("h2 a").click()
    expect(page).to_have_url(re.compile(r"/bank/applications/\d+$"))
    application_url = page.url
    spread = page.locator("input[name=rate_spread_bp]")
    spread.fill(str(int(spread.input_value()) + 230))
    # Without a reason: refused beside the field, and nothing is decided.
    page.get_by_role("button", name="批准", exact=True).click()
    expect(page.locator("input[name=reason]")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field-error").first).to_contain_text("说明原因")
    page.fill("input[name=reason]", COUNTER_REASON)
    page.get_by_role("button", name="批准", exact=True).click()
    expect(page).to_have_url(application_url)
    expect(page.locator(".heading .status").first).to_contain_text("新条件待企业答复")
    expect(page.locator("table#counter-terms")).to_be_visible()
    expect(page.locator("#decision")).to_have_count(0)
    return application_url


def _exclude_it_from_its_batch(page: Page) -> None:
    page.locator("header.topbar nav").get_by_role("link", name="批次").click()  # from the agency's dashboard
    expect(page).to_have_url(re.compile(r"/agency/batches$"))
    row = page.locator("table#batches tbody tr").filter(has=page.locator(".status-open")).first
    row.get_by_role("button").click()  # submitted for review: the batch opens, ready to decide
    expect(page).to_have_url(re.compile(r"/agency/batches/\d+$"))
    expect(page.locator(".flash")).to_contain_text("已提交审核")
    item = page.locator("table#items tbody tr").first
    item.locator("input[name=exclude]").check()
    item.locator("input[name^=reason_]").fill(EXCLUSION_REASON)
    page.locator("form#decision button[type=submit]").click()
    expect(page.locator("#batch-status")).to_have_text("已审批")
    expect(item).to_contain_text(EXCLUSION_REASON)
