"""One unit convention per page (issue 22): tables of amounts are in 万元 in Chinese with headers that say so (the
exact figure in yuan on hover), large totals in 亿元; English keeps yuan with (CNY) in the header."""

from decimal import Decimal

from flask_babel import force_locale

from marketplace.fees.views import condition_words
from marketplace.i18n import table_amount, total
from tests.marketplace.test_names_in_readers_language import reading


def test_a_request_list_reads_in_wan_in_chinese_and_in_yuan_in_english(app, world, as_role):
    filed = as_role("enterprise").post("/api/v1/financing-requests",
                                       json={"amount": "2000000.00", "term_months": 12, "purpose": "扩建生产线"})
    assert filed.status_code == 201, filed.json
    chinese = reading(app, world.enterprise_user, "zh_Hans").get("/enterprise/requests").text
    english = reading(app, world.enterprise_user, "en").get("/enterprise/requests").text
    assert "金额（万元）" in chinese and '<td class="num">200.00</td>' in chinese
    assert "Amount (CNY)" in english and '<td class="num">2,000,000.00</td>' in english


def test_large_totals_read_in_yi_and_table_figures_in_wan(app):
    with app.test_request_context(), force_locale("zh_Hans"):
        assert total(Decimal("1234567890.00")) == "12.35 亿元"
        assert total(Decimal("98765432.10")) == "9,876.54 万元"
        assert table_amount(Decimal("1000000.00")) == "100.00"
        assert table_amount(Decimal("123.00")) == "0.01"
    with app.test_request_context(), force_locale("en"):
        assert total(Decimal("1234567890.00")) == "¥1,234,567,890.00"
        assert table_amount(Decimal("1000000.00")) == "1,000,000.00"


def test_the_fee_rules_list_their_conditions_as_the_reader_does(app, world):
    """A rule's tiers and regions read 专精特新、专精特新“小巨人” and 浙江省、杭州市 in Chinese: by name, not code."""
    conditions = {"tiers": ["srdi", "little_giant"], "region_prefixes": ["33", "3301"]}
    labels = {"srdi": "专精特新", "little_giant": "专精特新“小巨人”"}
    with app.test_request_context(), force_locale("zh_Hans"):
        assert condition_words(conditions, labels, {}) == [
            "梯度等级：专精特新、专精特新“小巨人”", "地区：浙江省、杭州市"]
    with app.test_request_context(), force_locale("en"):
        assert condition_words(conditions, labels, {})[1] == "Region: Zhejiang, Hangzhou"
