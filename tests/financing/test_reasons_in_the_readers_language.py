"""Why products were left out reads in the reader's language, whatever the language the request was filed in: the
request keeps codes, figures and product ids, and the words are chosen when it is read (issue 22)."""

import html
import importlib.util
import re
from pathlib import Path

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import event

from marketplace import db
from marketplace.auth.models import Role, User
from marketplace.financing.models import FinancingRequest
from tests.pages import sign_in

ROOT = Path(__file__).resolve().parents[2]
BASE = {"product_type": "credit", "amount_min": "100000.00", "amount_max": "10000000.00", "term_min_months": 6,
        "term_max_months": 36, "rate_spread_bp": 20, "guarantee": "none", "eligible_regions": [],
        "eligible_tiers": ["innovative", "srdi", "little_giant"]}
REQUEST = {"amount": "2000000.00", "term_months": 12, "purpose": "扩建生产线"}
CJK = re.compile(r"[\u3400-\u9fff]")
LATIN = re.compile(r"[A-Za-z]")


@pytest.fixture
def bank_api(make, login_api):
    """bank_api(name, code) → an API client of a new bank's officer."""
    return lambda name, code: login_api(make.user(Role.BANK, make.bank(name, code).id))


def publish(bank, name, **fields):
    created = bank.post("/api/v1/products", json={**BASE, "name": name, **fields})
    assert created.status_code == 201, created.json
    assert bank.post(f"/api/v1/products/{created.json['id']}/publish").status_code == 200
    return created.json["id"]


@pytest.fixture
def catalogue(bank_api):
    """Five products, none for an SRDI enterprise in Hangzhou asking for 2,000,000.00 over 12 months, each for its
    own reason; one bank's names are Chinese, the other's Latin."""
    czb, zcb = bank_api("浙商银行", "CZB"), bank_api("Zhejiang Commerce Bank", "ZCB")
    publish(czb, "专精特新信用贷", amount_max="1000000.00")
    publish(czb, "小巨人贷", eligible_tiers=["little_giant"])
    publish(zcb, "SRDI Credit Loan", term_max_months=6)
    publish(zcb, "Ningbo Park Loan", eligible_regions=["3302"])
    publish(zcb, "Guaranteed Loan", guarantee="required")


NAMES = ("浙商银行", "专精特新信用贷", "小巨人贷", "Zhejiang Commerce Bank", "SRDI Credit Loan", "Ningbo Park Loan",
         "Guaranteed Loan")

IN_CHINESE = [
    "浙商银行的“专精特新信用贷”的最高贷款额度低于您申请的 200.00 万元。",
    "Zhejiang Commerce Bank的“SRDI Credit Loan”不提供 12 个月期限的贷款。",
    "浙商银行的“小巨人贷”仅面向其他梯度等级的企业；贵企业当前有效的认定为专精特新中小企业。",
    "Zhejiang Commerce Bank的“Ningbo Park Loan”仅面向其他地区的企业。",
    "Zhejiang Commerce Bank的“Guaranteed Loan”需要担保，但目前没有担保机构与相关银行签订的协议能覆盖您的这笔贷款。",
]
IN_ENGLISH = [
    "浙商银行's “专精特新信用贷” lends less than the ¥2,000,000.00 you asked for.",
    "Zhejiang Commerce Bank's “SRDI Credit Loan” does not lend for 12 months.",
    "浙商银行's “小巨人贷” is for other tiers; your enterprise is certified as an SRDI SME.",
    "Zhejiang Commerce Bank's “Ningbo Park Loan” is only for enterprises in other regions.",
    "Zhejiang Commerce Bank's “Guaranteed Loan” needs a guarantee, and no guarantee agency's agreement with the bank "
    "covers your loan now.",
]


def without_names(sentence):
    for name in NAMES:
        sentence = sentence.replace(name, "")
    return sentence


def reasons_on_page(app, user, request_id, locale):
    """The reasons as the request's page lists them to `user` reading in `locale`."""
    with app.app_context():
        db.session.get(User, user.id).locale = locale
        db.session.commit()
    page = sign_in(app, user).get(f"/enterprise/requests/{request_id}").text
    listed = re.search(r'<ul class="reasons" id="unmatched-reasons">(.*?)</ul>', page, re.S)
    return [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", listed.group(1))] if listed else []


def reasons_by_api(client, request_id, language):
    response = client.get(f"/api/v1/financing-requests/{request_id}", headers={"Accept-Language": language})
    assert response.status_code == 200, response.json
    return response.json["unmatched_reasons"]


def test_the_same_request_reads_wholly_in_chinese_to_a_chinese_reader_and_in_english_to_an_english_one(
        app, world, catalogue, as_role):
    filed = as_role("enterprise").post("/api/v1/financing-requests", json=REQUEST,
                                       headers={"Accept-Language": "zh-CN"}).json
    assert filed["offers"] == [] and filed["unmatched_reasons"] == IN_CHINESE

    chinese = reasons_on_page(app, world.enterprise_user, filed["id"], "zh_Hans")
    english = reasons_on_page(app, world.enterprise_user, filed["id"], "en")

    assert chinese == IN_CHINESE
    assert english == IN_ENGLISH
    assert not any(LATIN.search(without_names(sentence)) for sentence in chinese)
    assert not any(CJK.search(without_names(sentence)) for sentence in english)
    assert not any(re.search(r" [“”]|[“”] |(?<!\d)[,.;:!?]|[,.;:!?](?!\d)", without_names(sentence))
                   for sentence in chinese)  # no space beside quotes; full-width punctuation, except in numbers


def test_the_api_gives_the_reasons_in_the_callers_language(world, catalogue, as_role):
    enterprise = as_role("enterprise")
    filed = enterprise.post("/api/v1/financing-requests", json=REQUEST, headers={"Accept-Language": "en"}).json
    assert filed["unmatched_reasons"] == IN_ENGLISH

    assert reasons_by_api(enterprise, filed["id"], "zh-CN,zh;q=0.9,en;q=0.5") == IN_CHINESE
    assert reasons_by_api(enterprise, filed["id"], "en-GB,en;q=0.9") == IN_ENGLISH
    listed = enterprise.get("/api/v1/financing-requests", headers={"Accept-Language": "zh-TW"}).json
    assert [r["unmatched_reasons"] for r in listed if r["id"] == filed["id"]] == [IN_CHINESE]


def test_several_products_with_one_reason_are_listed_the_chinese_way_with_the_rest_counted(bank_api, as_role, world):
    bank = bank_api("浙商银行", "CZB")
    for name in ("短期贷甲", "短期贷乙", "短期贷丙", "短期贷丁"):
        publish(bank, name, term_max_months=6)
    filed = as_role("enterprise").post("/api/v1/financing-requests", json=REQUEST).json

    assert reasons_by_api(as_role("enterprise"), filed["id"], "zh-CN") == [
        "浙商银行的“短期贷甲”、浙商银行的“短期贷乙”、浙商银行的“短期贷丙”和另外 1 款产品不提供 12 个月期限的贷款。"]
    assert reasons_by_api(as_role("enterprise"), filed["id"], "en") == [
        "浙商银行's “短期贷甲”, 浙商银行's “短期贷乙”, 浙商银行's “短期贷丙” and 1 more product "
        "do not lend for 12 months."]


def test_an_amount_beyond_every_product_reads_in_wan_yuan_in_chinese_and_in_yuan_in_english(catalogue, as_role, world):
    enterprise = as_role("enterprise")
    filed = enterprise.post("/api/v1/financing-requests", json={**REQUEST, "amount": "50000000.00"}).json

    assert reasons_by_api(enterprise, filed["id"], "zh-CN") == [
        "您申请的金额 5,000.00 万元 超过所有已发布信贷产品的贷款上限：目前最高可贷 1,000.00 万元。请尝试较小的金额。"]
    assert reasons_by_api(enterprise, filed["id"], "en") == [
        "You asked for ¥50,000,000.00, more than any published product lends: the largest loan on offer is "
        "¥10,000,000.00. Try a smaller amount."]


def test_a_product_renamed_after_the_request_is_named_as_the_version_that_was_matched(bank_api, as_role, world):
    """A published version never changes: renaming a product publishes a new version, and the reason goes on naming
    the one the enterprise was told about, as its offers do."""
    bank = bank_api("浙商银行", "CZB")
    product_id = publish(bank, "短期贷", term_max_months=6)
    enterprise = as_role("enterprise")
    filed = enterprise.post("/api/v1/financing-requests", json=REQUEST).json

    renamed = bank.patch(f"/api/v1/products/{product_id}", json={"name": "灵活贷"}).json
    assert bank.post(f"/api/v1/products/{renamed['id']}/publish").status_code == 200

    assert reasons_by_api(enterprise, filed["id"], "zh-CN") == ["浙商银行的“短期贷”不提供 12 个月期限的贷款。"]


def test_a_product_no_longer_on_record_is_counted_instead_of_named(app, world, catalogue, as_role):
    enterprise = as_role("enterprise")
    filed = enterprise.post("/api/v1/financing-requests", json=REQUEST).json
    with app.app_context():
        request = db.session.get(FinancingRequest, filed["id"])
        term = next(entry for entry in request.unmatched_reasons if entry["code"] == "term")
        request.unmatched_reasons = [{**term, "products": [*term["products"], 999_999]}]
        db.session.commit()

    assert reasons_by_api(enterprise, filed["id"], "en") == [
        "Zhejiang Commerce Bank's “SRDI Credit Loan” and 1 more product do not lend for 12 months."]
    assert reasons_by_api(enterprise, filed["id"], "zh-CN") == [
        "Zhejiang Commerce Bank的“SRDI Credit Loan”和另外 1 款产品不提供 12 个月期限的贷款。"]


LEGACY = "浙商银行's “专精特新信用贷” 的最高贷款额度低于您申请的 ¥2,000,000.00。"


def test_reasons_stored_as_sentences_before_codes_still_read_as_written(app, world, catalogue, as_role):
    enterprise = as_role("enterprise")
    filed = enterprise.post("/api/v1/financing-requests", json=REQUEST).json
    with app.app_context():
        request = db.session.get(FinancingRequest, filed["id"])
        request.unmatched_reasons = [{"code": "text", "text": LEGACY}, request.unmatched_reasons[1]]
        db.session.commit()

    assert reasons_by_api(enterprise, filed["id"], "en") == [LEGACY, IN_ENGLISH[1]]
    assert reasons_by_api(enterprise, filed["id"], "zh-CN") == [LEGACY, IN_CHINESE[1]]
    assert reasons_on_page(app, world.enterprise_user, filed["id"], "zh_Hans") == [LEGACY, IN_CHINESE[1]]


def migration(direction):
    """Run 0022_reasons_as_codes up or down on the suite's database, inside the test's transaction."""
    spec = importlib.util.spec_from_file_location(
        "reasons_as_codes", ROOT / "migrations" / "versions" / "0022_reasons_as_codes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with Operations.context(MigrationContext.configure(db.session.connection())):
        getattr(module, direction)()
    db.session.expire_all()


def test_the_migration_keeps_each_stored_sentence_as_a_text_reason_and_leaves_codes_alone(app, world, catalogue,
                                                                                           as_role):
    enterprise = as_role("enterprise")
    old, new = (enterprise.post("/api/v1/financing-requests", json=REQUEST).json["id"] for _ in range(2))
    with app.app_context():
        db.session.get(FinancingRequest, old).unmatched_reasons = [LEGACY, "No bank has published a product yet."]
        coded = db.session.get(FinancingRequest, new).unmatched_reasons
        db.session.commit()

        migration("upgrade")
        assert db.session.get(FinancingRequest, old).unmatched_reasons == [
            {"code": "text", "text": LEGACY}, {"code": "text", "text": "No bank has published a product yet."}]
        assert db.session.get(FinancingRequest, new).unmatched_reasons == coded
        db.session.commit()
    assert reasons_by_api(enterprise, old, "en") == [LEGACY, "No bank has published a product yet."]

    with app.app_context():
        migration("downgrade")
        assert db.session.get(FinancingRequest, old).unmatched_reasons == [
            LEGACY, "No bank has published a product yet."]
        assert all(isinstance(s, str) and not CJK.search(s) for s in
                   db.session.get(FinancingRequest, new).unmatched_reasons)
        db.session.rollback()


def test_a_page_of_requests_reads_the_products_its_reasons_name_in_one_query(app, world, bank_api, as_role):
    bank, enterprise = bank_api("浙商银行", "CZB"), as_role("enterprise")
    for name in ("短期贷甲", "短期贷乙", "短期贷丙"):  # each request names a product of its own
        product_id = publish(bank, name, term_max_months=6)
        enterprise.post("/api/v1/financing-requests", json=REQUEST)
        bank.post(f"/api/v1/products/{product_id}/archive")
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = db.engine_of(app)
    event.listen(engine, "before_cursor_execute", record)
    try:
        page = enterprise.get("/api/v1/financing-requests", headers={"Accept-Language": "zh-CN"}).json
    finally:
        event.remove(engine, "before_cursor_execute", record)

    assert [r["unmatched_reasons"] for r in page] == [[f"浙商银行的“{name}”不提供 12 个月期限的贷款。"]
                                                      for name in ("短期贷丙", "短期贷乙", "短期贷甲")]
    assert len([s for s in statements if re.search(r"\bFROM products\b", s)]) == 1, statements
