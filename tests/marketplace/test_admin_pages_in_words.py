"""The admin's audit trail and jobs pages speak the reader's language (issue 22): actions as phrases, changes as
fields in words with formatted values, the finance office by its name, every time in Beijing time, each job by what
it does and each run by what it did. The codes stay in `title` attributes for support, never in the visible text."""

import datetime as dt
import html as html_module
import re

import time_machine

from marketplace import db
from marketplace.dates import SHANGHAI
from marketplace.scheduler.models import JobRun, RunOutcome
from marketplace.scheduler.runner import JOBS, run_job
from tests.pages import csrf_token, sign_in

#: 06:03 UTC is 14:03 in Beijing.
SIGNED_IN_AT = dt.datetime(2026, 12, 5, 6, 3, tzinfo=dt.UTC)
PRODUCT = {"name": "专精特新信用贷", "name_en": "SRDI Credit Loan", "product_type": "credit",
           "amount_min": "500000.00", "amount_max": "5000000.00", "term_min_months": 6, "term_max_months": 36,
           "rate_spread_bp": 30, "eligible_tiers": ["srdi"]}


def admin_reading(app, world, locale):
    """The admin, signed in at 14:03 Beijing time, reading in `locale`."""
    with time_machine.travel(SIGNED_IN_AT, tick=False):
        browser = sign_in(app, world.admin_user)
    browser.post("/language", data={"locale": locale, "next": "/admin/audit",
                                    "csrf_token": csrf_token(browser.get("/admin/audit").text)})
    return browser


def visible(html: str) -> str:
    """The page's text as a reader sees it: no tags, so no attributes."""
    return " ".join(html_module.unescape(re.sub(r"<[^>]+>", " ", html)).split())


def signed_in_row(html: str) -> str:
    return html.split('data-action="user.signed_in"')[1].split("</tr>")[0]


def test_a_chinese_admin_reads_a_sign_in_as_words_with_the_office_name_and_beijing_time(app, world):
    html = admin_reading(app, world, "zh_Hans").get("/admin/audit", query_string={"action": "user.signed_in"}).text
    row = visible(signed_in_row(html))
    assert "登录" in row and "省财政厅" in row and "2026-12-05 14:03" in row and "用户 #" in row
    assert "user.signed_in" not in visible(html) and "Provincial finance office" not in visible(html)
    assert 'title="user.signed_in"' in html  # for support
    assert '<option value="user.signed_in" selected>登录</option>' in html  # the filter, in words too
    assert re.search(r'<option value="product\."\s*>信贷产品：全部操作</option>', html)


def test_an_english_admin_reads_the_same_sign_in_in_english(app, world):
    html = admin_reading(app, world, "en").get("/admin/audit", query_string={"action": "user.signed_in"}).text
    row = visible(signed_in_row(html))
    assert "Signed in" in row and "Provincial finance office" in row and "2026-12-05 14:03" in row
    assert "User #" in row and "user.signed_in" not in visible(html)


def test_a_change_reads_as_field_before_and_after_with_statuses_and_money_in_words(app, world, as_role):
    bank = as_role("bank")
    made = bank.post("/api/v1/products", json=PRODUCT).json
    assert bank.post(f"/api/v1/products/{made['id']}/publish").status_code == 200
    chinese = admin_reading(app, world, "zh_Hans")
    published = visible(chinese.get("/admin/audit", query_string={"action": "product.published"}).text)
    assert "信贷产品变为“已发布”" in published and f"信贷产品 #{made['id']}" in published
    assert "字段 原值 新值" in published and "状态 草稿 已发布" in published
    assert "product.published" not in published and "draft" not in published
    created = visible(chinese.get("/admin/audit", query_string={"action": "product.created"}).text)
    assert "新建信贷产品" in created and "最低金额 500,000.00 元" in created and "LPR 加点 +30 个基点" in created
    assert f"银行 {world.bank.name}" in created  # the product's bank by its name, not its id

    english = admin_reading(app, world, "en")
    published = visible(english.get("/admin/audit", query_string={"action": "product.published"}).text)
    assert "Product now published" in published and "Status draft published" in published
    created = visible(english.get("/admin/audit", query_string={"action": "product.created"}).text)
    assert "Minimum amount ¥500,000.00" in created


def test_an_unknown_action_reads_as_its_object_and_an_action_never_as_its_code(app, world):
    from marketplace.audit import trail

    with app.test_request_context():
        trail.act_as_system("system")
        trail.record("tier_import.rechecked", "tier_import", 7, {"rows_ok": [1, 2]})
        trail.record("gadget.polished", "gadget", 3, {})
        db.session.commit()
    html = admin_reading(app, world, "zh_Hans").get("/admin/audit").text
    text = visible(html)
    assert "认定名单导入操作" in text and "记录操作" in text
    assert "rechecked" not in text and "gadget" not in text


def test_a_chinese_admin_reads_each_job_by_what_it_does_and_each_run_by_what_it_did(app, world):
    with time_machine.travel(dt.datetime(2026, 9, 30, 16, 0, tzinfo=SHANGHAI), tick=False):
        run_job(app, JOBS["batch_cutoff"])
    html = admin_reading(app, world, "zh_Hans").get("/admin/jobs").text
    text = visible(html)
    assert "每日截批：将未提交的批次提交担保机构审核" in text and "工作日 16:00（北京时间）" in text
    assert "2026-09-30：提交 0 个批次待审核" in text and "2026-09-30 16:00" in text
    assert "batch_cutoff" not in text and "flask" not in text and "Asia/Shanghai" not in text
    assert 'title="batch_cutoff"' in html

    english = visible(admin_reading(app, world, "en").get("/admin/jobs").text)
    assert "Daily cut-off: submits each open batch for its agency's review" in english
    assert "2026-09-30: 0 batches submitted for review" in english and "flask" not in english


def test_a_run_recorded_before_result_codes_reads_as_it_was_written_and_a_failure_in_words(app, world):
    with app.app_context():
        db.session.add_all([
            JobRun(job="claim_deadlines", started_at=dt.datetime(2026, 9, 1, 1, 5, tzinfo=dt.UTC),
                   outcome=RunOutcome.OK, detail="2026-09-01: 0 claims past their deadline"),
            JobRun(job="overdue_scan", started_at=dt.datetime(2026, 9, 2, 1, 5, tzinfo=dt.UTC),
                   outcome=RunOutcome.FAILED, detail="RuntimeError: the database went away")])
        db.session.commit()
    html = admin_reading(app, world, "zh_Hans").get("/admin/jobs").text
    text = visible(html)
    assert "2026-09-01: 0 claims past their deadline" in text  # as it was stored
    assert "运行失败，未做任何更改" in text and "the database went away" not in text
    assert 'title="RuntimeError: the database went away"' in html


def test_values_and_actions_read_in_the_reader_s_words(app):
    from marketplace.audit.wording import action_words, value_words

    with app.test_request_context("/api/v1/audit", headers={"Accept-Language": "zh-CN"}):
        assert value_words("amount_min", "500000.00") == "500,000.00 元"
        assert value_words("total_quota", "100000000.00", "Money") == "100,000,000.00 元"
        assert value_words("fee_rate", "0.0100", "Numeric") == "1.00%"
        assert value_words("spread_min_bp", -150) == "-150 个基点"
        assert value_words("status", "published") == "已发布"
        assert value_words("created_at", "2026-12-05T06:03:00+00:00") == "2026-12-05 14:03"
        assert (value_words("active", True), value_words("password_hash", "[redacted]")) == ("是", "（已隐去）")
        assert value_words("reminded", "near") == "已提醒答复期限将至"
        assert action_words("user.signed_in") == "登录" and action_words("product.created") == "新建信贷产品"
        assert action_words("agreement.active") == "协议变为“生效中”"
        assert action_words("widget.spun") == "记录操作"
    with app.test_request_context("/api/v1/audit", headers={"Accept-Language": "en"}):
        assert value_words("amount_min", "500000.00") == "¥500,000.00"
        assert action_words("agreement.active") == "Agreement now in force"
        assert action_words("widget.spun") == "Record: other action"
