"""Issue 22, guardrails on products: an interest rate above zero, a spread within −150…+600 bp and amounts and terms
within the ranges the provincial admin sets per product type. Today a 0 % product, a +3000 bp one (33 %, offered to
SRDI enterprises), a ¥0.01 minimum and a 1万亿 maximum were all published."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook

from tests.pages import csrf_token
from tests.products.test_products_api import PRODUCT

CREDIT = "/api/v1/pricing-bounds/credit"
BOUNDS = {"spread_min_bp": -50, "spread_max_bp": 200, "amount_min": "100000.00", "amount_max": "20000000.00",
          "term_min_months": 3, "term_max_months": 36}


@pytest.mark.parametrize(("change", "field", "says"), [
    ({"rate_spread_bp": 3000}, "rate_spread_bp", "-150 to +600 basis points"),
    ({"rate_spread_bp": 601}, "rate_spread_bp", "-150 to +600 basis points"),
    ({"rate_spread_bp": -151}, "rate_spread_bp", "-150 to +600 basis points"),
    ({"amount_min": "0.01"}, "amount_min", "at least ¥10,000.00"),
    ({"amount_max": "1000000000000.00"}, "amount_max", "at most ¥500,000,000.00"),
    ({"term_min_months": 1, "term_max_months": 240}, "term_max_months", "at most 120 months"),
])
def test_a_product_outside_the_default_bounds_is_refused_on_its_field(world, as_role, change, field, says):
    bank = as_role("bank")
    refused = bank.post("/api/v1/products", json={**PRODUCT, **change})
    assert refused.status_code == 422 and field in refused.json["errors"], refused.json
    assert says in refused.json["errors"][field][0]
    assert bank.get("/api/v1/products").json == []


def test_the_edges_of_the_bounds_are_inside_them(world, as_role):
    for spread in (-150, 600):
        created = as_role("bank").post("/api/v1/products", json={**PRODUCT, "rate_spread_bp": spread,
                                                                  "amount_min": "10000.00"})
        assert created.status_code == 201, created.json


def test_a_rate_at_or_below_zero_is_refused_when_the_admin_allows_such_a_spread(world, as_role):
    """With the LPR at 3.00 %, −300 bp is a 0 % loan."""
    assert as_role("admin").put(CREDIT, json={**BOUNDS, "spread_min_bp": -300}).status_code == 200
    refused = as_role("bank").post("/api/v1/products", json={**PRODUCT, "rate_spread_bp": -300})
    assert refused.status_code == 422 and "must be above zero" in refused.json["errors"]["rate_spread_bp"][0]
    assert as_role("bank").post("/api/v1/products", json={**PRODUCT, "rate_spread_bp": -299}).status_code == 201


def test_the_admin_sets_a_types_bounds_and_everyone_reads_them(world, as_role):
    assert as_role("bank").put(CREDIT, json=BOUNDS).status_code == 403
    saved = as_role("admin").put(CREDIT, json=BOUNDS)
    assert saved.status_code == 200 and saved.json == {"product_type": "credit", **BOUNDS}
    listed = {b["product_type"]: b for b in as_role("enterprise").get("/api/v1/pricing-bounds").json}
    assert listed["credit"] == {"product_type": "credit", **BOUNDS}
    assert listed["term"]["spread_max_bp"] == 600  # another type keeps the defaults
    assert as_role("bank").get("/api/v1/pricing-bounds/nonsense").status_code == 404

    refused = as_role("bank").post("/api/v1/products", json={**PRODUCT, "rate_spread_bp": 250})
    assert refused.status_code == 422 and "-50 to +200" in refused.json["errors"]["rate_spread_bp"][0]
    renewal = as_role("bank").post("/api/v1/products", json={**PRODUCT, "product_type": "renewal",
                                                              "rate_spread_bp": 250})
    assert renewal.status_code == 201


@pytest.mark.parametrize(("change", "field"), [
    ({"spread_min_bp": 300}, "spread_min_bp"),
    ({"amount_min": "30000000.00"}, "amount_min"),
    ({"term_min_months": 48}, "term_min_months"),
    ({"term_max_months": 400}, "term_max_months"),
    ({"amount_max": "abc"}, "amount_max"),
])
def test_bounds_that_contradict_themselves_are_refused(world, as_role, change, field):
    refused = as_role("admin").put(CREDIT, json={**BOUNDS, **change})
    assert refused.status_code == 422 and list(refused.json["errors"]) == [field], refused.json
    assert as_role("admin").get(CREDIT).json["spread_max_bp"] == 600


def test_a_draft_saved_before_the_bounds_tightened_is_not_published_outside_them(world, as_role):
    bank = as_role("bank")
    draft = bank.post("/api/v1/products", json={**PRODUCT, "rate_spread_bp": 400}).json
    as_role("admin").put(CREDIT, json=BOUNDS)
    refused = bank.post(f"/api/v1/products/{draft['id']}/publish")
    assert refused.status_code == 422 and "rate_spread_bp" in refused.json["errors"]
    assert bank.get(f"/api/v1/products/{draft['id']}").json["status"] == "draft"
    edited = bank.patch(f"/api/v1/products/{draft['id']}", json={"rate_spread_bp": 150})
    assert edited.status_code == 200
    assert bank.post(f"/api/v1/products/{draft['id']}/publish").status_code == 200


def test_an_imported_row_outside_the_bounds_is_a_row_error(world, as_role):
    sheet = Workbook()
    rows = [("name", "product_type", "amount_min", "amount_max", "term_min_months", "term_max_months",
             "rate_spread_bp", "eligible_tiers"),
            ("Fair Loan", "credit", "500000.00", "10000000.00", 6, 36, 30, "srdi"),
            ("Usury Loan", "credit", "1.00", "10000000.00", 6, 36, 3000, "srdi")]
    for row in rows:
        sheet.active.append(row)
    content = io.BytesIO()
    sheet.save(content)
    answer = as_role("bank").post("/api/v1/products/imports", data={"file": (io.BytesIO(content.getvalue()),
                                                                             "products.xlsx")},
                                  content_type="multipart/form-data")
    assert answer.status_code == 200, answer.json
    assert len(answer.json["product_ids"]) == 1
    (error,) = answer.json["errors"]
    assert error["row"] == 3 and "rate_spread_bp" in error["message"] and "amount_min" in error["message"]


def test_the_admin_page_saves_a_types_bounds_and_says_what_is_wrong(app, world, browser_of):
    admin = browser_of(world.admin_user)
    page = admin.get("/admin/pricing-bounds")
    assert page.status_code == 200 and 'data-product-type="credit"' in page.text
    token = csrf_token(page.text)
    wrong = admin.post("/admin/pricing-bounds/credit", data={**BOUNDS, "spread_min_bp": "300",
                                                             "csrf_token": token})
    assert wrong.status_code == 422 and "The lowest spread cannot be above the highest." in wrong.text
    saved = admin.post("/admin/pricing-bounds/credit", data={**BOUNDS, "csrf_token": token})
    assert saved.status_code == 302
    assert "Now: spread -50 to +200 bp" in admin.get("/admin/pricing-bounds").text
    assert browser_of(world.bank_user).get("/admin/pricing-bounds").status_code == 403


def test_publishing_from_the_list_says_which_bound_the_draft_leaves(app, world, as_role, browser_of):
    draft = as_role("bank").post("/api/v1/products", json={**PRODUCT, "rate_spread_bp": 400}).json
    as_role("admin").put(CREDIT, json=BOUNDS)
    officer = browser_of(world.bank_user)
    listing = officer.get("/bank/products").text
    refused = officer.post(f"/bank/products/{draft['id']}/publish", data={"csrf_token": csrf_token(listing)},
                           follow_redirects=True)
    assert "is not published: The spread over the LPR is -50 to +200 basis points" in refused.text
    assert as_role("bank").get(f"/api/v1/products/{draft['id']}").json["status"] == "draft"
