"""The bank officer's product pages: server-rendered forms with CSRF and inline errors."""

import re

import pytest

from tests.pages import csrf_token, post_form

FORM = {"name": "Page Loan", "product_type": "credit", "amount_min": "500000.00", "amount_max": "3000000.00",
        "term_min_months": "6", "term_max_months": "24", "rate_spread_bp": "25",
        "eligible_tiers": ["srdi", "little_giant"], "eligible_regions": ["33", "3301"], "guarantee": "none",
        "description": ""}


@pytest.fixture
def officer(browser_of, world):
    return browser_of(world.bank_user)


def test_anonymous_visitors_are_sent_to_login(client):
    response = client.get("/bank/products")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/bank/products"


def test_an_enterprise_user_may_not_open_the_bank_pages(browser_of, world):
    client = browser_of(world.enterprise_user)
    assert client.get("/bank/products").status_code == 403
    assert client.get("/bank/products/new").status_code == 403


def test_the_new_product_form_without_its_csrf_token_is_400(officer):
    response = officer.post("/bank/products/new", data=FORM)
    assert response.status_code == 400
    assert officer.get("/bank/products").text.count("data-product-id") == 0


def test_a_bad_form_comes_back_with_what_was_typed_and_a_message_beside_the_field(officer):
    response = post_form(officer, "/bank/products/new", {**FORM, "amount_min": "9000000.00", "term_max_months": "x"})
    assert response.status_code == 422
    html = response.text
    assert 'id="amount_min-error">The minimum amount cannot be above the maximum amount.' in html
    assert 'id="term_max_months-error">Enter a whole number.' in html
    assert 'value="Page Loan"' in html and 'value="9000000.00"' in html
    assert '<option value="33" selected>' in html and '<option value="3301" selected>' in html
    assert officer.get("/bank/products").text.count("data-product-id") == 0


def test_a_good_form_saves_a_draft_which_the_publish_button_publishes(officer):
    response = post_form(officer, "/bank/products/new", FORM)
    assert response.status_code == 302
    listing = officer.get("/bank/products").text
    assert "Page Loan" in listing and "Draft" in listing
    assert "3.25%" in listing  # LPR 3.00 % + 25 bp
    product_id = re.search(r'data-product-id="(\d+)"', listing).group(1)
    published = officer.post(f"/bank/products/{product_id}/publish", data={"csrf_token": csrf_token(listing)},
                             follow_redirects=True)
    assert "version 1 is published: enterprises whose requests fit it are offered it" in published.text
    assert 'status-published' in published.text


def test_editing_a_published_product_saves_version_2_and_leaves_version_1(officer, as_role):
    post_form(officer, "/bank/products/new", FORM)
    listing = officer.get("/bank/products").text
    product_id = re.search(r'data-product-id="(\d+)"', listing).group(1)
    officer.post(f"/bank/products/{product_id}/publish", data={"csrf_token": csrf_token(listing)})
    edit = officer.get(f"/bank/products/{product_id}/edit")
    assert "creates a new draft version" in edit.text
    saved = post_form(officer, f"/bank/products/{product_id}/edit", {**FORM, "rate_spread_bp": "15"})
    assert saved.status_code == 302
    products = {p["version"]: p for p in as_role("bank").get("/api/v1/products").json}
    assert products[1]["status"] == "published" and products[1]["rate_spread_bp"] == 25
    assert products[2]["status"] == "draft" and products[2]["rate_spread_bp"] == 15


def test_another_banks_product_edit_page_is_404(officer, as_role):
    other = as_role("bank2").post("/api/v1/products", json={
        **FORM, "term_min_months": 6, "term_max_months": 24, "rate_spread_bp": 25,
        "eligible_regions": ["33"]}).json
    assert officer.get(f"/bank/products/{other['id']}/edit").status_code == 404


def test_the_catalogue_shows_published_products_to_any_signed_in_user(browser_of, world, as_role):
    bank = as_role("bank")
    api_form = {**FORM, "term_min_months": 6, "term_max_months": 24, "rate_spread_bp": 25, "eligible_regions": []}
    shown = bank.post("/api/v1/products", json={**api_form, "name": "Shown Loan"}).json
    bank.post(f"/api/v1/products/{shown['id']}/publish")
    bank.post("/api/v1/products", json={**api_form, "name": "Hidden Draft"})
    page = browser_of(world.enterprise_user).get("/products").text
    assert "Shown Loan" in page and "Hidden Draft" not in page


def test_the_catalogue_says_what_to_expect_when_it_is_empty(browser_of, world):
    page = browser_of(world.enterprise_user).get("/products").text
    assert "No products are published yet" in page


def test_the_form_takes_amounts_as_people_type_them(officer, as_role):
    """Issue 22: 50万 and 1,000万, or 1,000,000; the API itself takes "500000.00" only."""
    saved = post_form(officer, "/bank/products/new", {**FORM, "amount_min": "50万", "amount_max": "1,000万"})
    assert saved.status_code == 302
    (product,) = as_role("bank").get("/api/v1/products").json
    assert (product["amount_min"], product["amount_max"]) == ("500000.00", "10000000.00")
    refused = post_form(officer, "/bank/products/new", {**FORM, "amount_min": "五十万"})
    assert refused.status_code == 422 and 'id="amount_min-error"' in refused.text
    api = as_role("bank").post("/api/v1/products", json={**FORM, "amount_min": "50万", "term_min_months": 6,
                                                        "term_max_months": 24, "rate_spread_bp": 25,
                                                        "eligible_regions": ["33"]})
    assert api.status_code == 422 and list(api.json["errors"]) == ["amount_min"]


def test_a_draft_has_a_delete_button_that_asks_first_and_deletes_it(officer):
    post_form(officer, "/bank/products/new", FORM)
    listing = officer.get("/bank/products").text
    product_id = re.search(r'data-product-id="(\d+)"', listing).group(1)
    form = re.search(rf'<form method="post" action="/bank/products/{product_id}/delete"[^>]*>', listing).group(0)
    assert "data-confirm=" in form and "Page Loan" in form and "cannot be undone" in form
    deleted = officer.post(f"/bank/products/{product_id}/delete", data={"csrf_token": csrf_token(listing)},
                           follow_redirects=True)
    assert "The draft “Page Loan” version 1 is deleted." in deleted.text
    assert f'data-product-id="{product_id}"' not in deleted.text


def test_a_published_product_has_no_delete_button_and_is_not_deleted(officer):
    post_form(officer, "/bank/products/new", FORM)
    listing = officer.get("/bank/products").text
    product_id = re.search(r'data-product-id="(\d+)"', listing).group(1)
    officer.post(f"/bank/products/{product_id}/publish", data={"csrf_token": csrf_token(listing)})
    listing = officer.get("/bank/products").text
    assert f"/bank/products/{product_id}/delete" not in listing
    refused = officer.post(f"/bank/products/{product_id}/delete", data={"csrf_token": csrf_token(listing)},
                           follow_redirects=True)
    assert "Only a draft that was never published can be deleted" in refused.text
    assert 'status-published' in refused.text


def test_the_regions_are_chosen_by_name_and_one_zhejiang_does_not_have_is_refused(officer, as_role):
    form = officer.get("/bank/products/new").text
    assert re.search(r'<optgroup label="Wenzhou">\s*<option value="3303" >All of Wenzhou</option>', form)
    assert '<option value="330383" >Longgang City</option>' in form
    response = post_form(officer, "/bank/products/new", {**FORM, "eligible_regions": ["3301", "3399"]})
    assert response.status_code == 422
    assert 'id="eligible_regions-error">3399 is not Zhejiang, one of its cities' in response.text
    api = as_role("bank").post("/api/v1/products", json={**FORM, "term_min_months": 6, "term_max_months": 24,
                                                        "rate_spread_bp": 25, "eligible_regions": ["32", "3300"]})
    assert api.status_code == 422 and list(api.json["errors"]) == ["eligible_regions.0", "eligible_regions.1"]
