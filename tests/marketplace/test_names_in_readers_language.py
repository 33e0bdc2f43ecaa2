"""Organisations and products have a Chinese name and may have an English one; each page shows the one in its
reader's language, and the API gives both."""

import importlib.util
from pathlib import Path

from marketplace.auth.models import Role
from tests.pages import csrf_token, sign_in

PRODUCT = {"name": "专精特新信用贷", "name_en": "SRDI Credit Loan", "product_type": "credit",
           "amount_min": "500000.00", "amount_max": "5000000.00", "term_min_months": 6, "term_max_months": 36,
           "rate_spread_bp": 30, "eligible_tiers": ["srdi"]}


def reading(app, user, locale):
    browser = sign_in(app, user)
    browser.post("/language", data={"locale": locale, "next": "/products",
                                    "csrf_token": csrf_token(browser.get("/products").text)})
    return browser


def test_a_bank_and_its_product_read_in_chinese_or_english(app, make, as_role):
    created = as_role("admin").post("/api/v1/banks", json={"name": "杭州联合银行", "name_en": "Hangzhou United Bank",
                                                          "code": "HZUB"})
    assert created.status_code == 201 and created.json["name_en"] == "Hangzhou United Bank"
    officer = make.user(Role.BANK, created.json["id"])
    banks = as_role("admin").get("/api/v1/banks").json
    assert {"name": "杭州联合银行", "name_en": "Hangzhou United Bank"}.items() <= next(
        b for b in banks if b["code"] == "HZUB").items()
    bank = sign_in(app, officer)
    made = bank.post("/bank/products/new", data={
        **{k: v for k, v in PRODUCT.items() if k != "eligible_tiers"}, "eligible_tiers": "srdi", "guarantee": "none",
        "csrf_token": csrf_token(bank.get("/bank/products/new").text)})
    assert made.status_code == 302, made.text
    chinese = reading(app, officer, "zh_Hans").get("/bank/products").text
    english = reading(app, officer, "en").get("/bank/products").text
    assert "专精特新信用贷" in chinese and "SRDI Credit Loan" not in chinese
    assert "SRDI Credit Loan" in english and "专精特新信用贷" not in english
    assert "杭州联合银行" in reading(app, officer, "zh_Hans").get("/bank/dashboard").text


def test_a_product_without_an_english_name_reads_its_chinese_one_in_english(app, world, as_role):
    made = as_role("bank").post("/api/v1/products", json={**PRODUCT, "name_en": "  "})
    assert made.status_code == 201 and made.json["name_en"] is None
    assert as_role("bank").post(f"/api/v1/products/{made.json['id']}/publish").status_code == 200
    assert "专精特新信用贷" in reading(app, world.enterprise_user, "en").get("/products").text


def test_names_written_english_then_chinese_are_split_by_the_migration():
    path = Path(__file__).parents[2] / "migrations" / "versions" / "0021_english_names.py"
    spec = importlib.util.spec_from_file_location("english_names", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert migration.split("Zhejiang Commerce Bank · 浙商银行") == ("浙商银行", "Zhejiang Commerce Bank")
    assert migration.split("浙商银行") == ("浙商银行", None)
    assert migration.split("A · B") == ("A · B", None)  # no Chinese on the right: left as it is
    assert migration.split("浙商 · 银行") == ("浙商 · 银行", None)  # Chinese on the left: not an English name
