"""The product catalogue API: lifecycle, versioning, tenancy and validation, as API.md describes."""

import pytest

PRODUCT = {
    "name": "SRDI Credit Loan", "product_type": "credit", "amount_min": "500000.00", "amount_max": "10000000.00",
    "term_min_months": 6, "term_max_months": 36, "rate_spread_bp": 20, "eligible_tiers": ["srdi", "little_giant"],
    "eligible_regions": ["33"], "guarantee": "optional", "description": "For SRDI enterprises.",
}


@pytest.fixture
def bank(as_role):
    return as_role("bank")


@pytest.fixture
def published(bank):
    created = bank.post("/api/v1/products", json=PRODUCT).json
    return bank.post(f"/api/v1/products/{created['id']}/publish").json


def test_a_bank_creates_a_product_as_a_draft_version_1(bank, world):
    response = bank.post("/api/v1/products", json=PRODUCT)
    assert response.status_code == 201
    product = response.json
    assert product["status"] == "draft"
    assert product["version"] == 1
    assert product["bank_id"] == world.bank.id
    assert product["amount_min"] == "500000.00"
    assert product["eligible_tiers"] == ["srdi", "little_giant"]
    assert product["eligible_regions"] == ["33"]
    assert product["indicative_rate"] == "0.0320"  # 1-year LPR 3.00 % + 20 bp


def test_amount_min_above_amount_max_is_a_422_on_amount_min(bank):
    response = bank.post("/api/v1/products", json={**PRODUCT, "amount_min": "20000000.00"})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.json["errors"] == {"amount_min": ["The minimum amount cannot be above the maximum amount."]}


def test_an_unknown_product_type_is_422(bank):
    response = bank.post("/api/v1/products", json={**PRODUCT, "product_type": "mortgage"})
    assert response.status_code == 422
    assert list(response.json["errors"]) == ["product_type"]


@pytest.mark.parametrize("field, value", [
    ("term_min_months", 0), ("term_max_months", 361), ("eligible_tiers", ["srdi", "unicorn"]),
    ("eligible_tiers", []), ("amount_max", "1.005"), ("amount_min", "-5.00"), ("rate_spread_bp", 12.5),
    ("eligible_regions", ["Zhejiang"]), ("name", ""), ("guarantee", "maybe"), ("name", "x" * 201),
])
def test_each_bad_field_is_named_in_the_422(bank, field, value):
    response = bank.post("/api/v1/products", json={**PRODUCT, field: value})
    assert response.status_code == 422
    assert any(key.split(".")[0] == field for key in response.json["errors"]), response.json


def test_missing_fields_are_each_reported(bank):
    response = bank.post("/api/v1/products", json={"name": "Only a name"})
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"product_type", "amount_min", "amount_max", "term_min_months",
                                            "term_max_months", "rate_spread_bp", "eligible_tiers"}


def test_a_bad_request_writes_nothing(bank):
    bank.post("/api/v1/products", json={**PRODUCT, "amount_min": "20000000.00"})
    assert bank.get("/api/v1/products").headers["X-Total-Count"] == "0"


def test_publish_then_publish_again_is_409(bank):
    product = bank.post("/api/v1/products", json=PRODUCT).json
    first = bank.post(f"/api/v1/products/{product['id']}/publish")
    assert first.status_code == 200
    assert first.json["status"] == "published"
    assert first.json["published_at"] is not None
    again = bank.post(f"/api/v1/products/{product['id']}/publish")
    assert again.status_code == 409
    assert again.json["detail"] == "Version 1 is already published."


def test_suspend_and_resume_a_published_product(bank, published):
    suspended = bank.post(f"/api/v1/products/{published['id']}/suspend")
    assert suspended.json["status"] == "suspended"
    resumed = bank.post(f"/api/v1/products/{published['id']}/publish")
    assert resumed.json["status"] == "published"


@pytest.mark.parametrize("action", ["suspend", "publish", "archive"])
def test_an_archived_product_moves_no_more(bank, published, action):
    bank.post(f"/api/v1/products/{published['id']}/archive")
    response = bank.post(f"/api/v1/products/{published['id']}/{action}")
    assert response.status_code == 409


def test_a_draft_cannot_be_suspended(bank):
    product = bank.post("/api/v1/products", json=PRODUCT).json
    response = bank.post(f"/api/v1/products/{product['id']}/suspend")
    assert response.status_code == 409
    assert response.json["detail"] == "A draft product cannot become suspended."


def test_patching_a_draft_changes_it_in_place(bank):
    product = bank.post("/api/v1/products", json=PRODUCT).json
    patched = bank.patch(f"/api/v1/products/{product['id']}", json={"rate_spread_bp": 35, "eligible_regions": []})
    assert patched.status_code == 200
    assert patched.json["id"] == product["id"]
    assert patched.json["version"] == 1
    assert patched.json["rate_spread_bp"] == 35
    assert patched.json["eligible_regions"] == []


def test_patching_a_published_product_creates_version_2_as_a_draft(bank, published):
    response = bank.patch(f"/api/v1/products/{published['id']}", json={"rate_spread_bp": 45, "name": "Better loan"})
    assert response.status_code == 200
    draft = response.json
    assert draft["id"] != published["id"]
    assert (draft["version"], draft["status"], draft["family_id"]) == (2, "draft", published["id"])
    assert draft["rate_spread_bp"] == 45
    assert draft["amount_max"] == published["amount_max"]  # unchanged fields carried over
    original = bank.get(f"/api/v1/products/{published['id']}").json
    assert original == published  # version 1 stays published and unchanged


def test_publishing_version_2_archives_version_1(bank, published):
    draft = bank.patch(f"/api/v1/products/{published['id']}", json={"rate_spread_bp": 45}).json
    bank.post(f"/api/v1/products/{draft['id']}/publish")
    assert bank.get(f"/api/v1/products/{published['id']}").json["status"] == "archived"
    assert bank.get(f"/api/v1/products/{draft['id']}").json["status"] == "published"


def test_a_second_edit_of_a_published_product_points_at_the_open_draft(bank, published):
    draft = bank.patch(f"/api/v1/products/{published['id']}", json={"rate_spread_bp": 45}).json
    response = bank.patch(f"/api/v1/products/{published['id']}", json={"rate_spread_bp": 50})
    assert response.status_code == 409
    assert f"id {draft['id']}" in response.json["detail"]


def test_a_patch_is_checked_against_the_fields_it_leaves_alone(bank, published):
    response = bank.patch(f"/api/v1/products/{published['id']}", json={"amount_max": "100000.00"})
    assert response.status_code == 422
    assert "amount_min" in response.json["errors"]


def test_an_enterprise_sees_published_products_only(bank, published, as_role):
    bank.post("/api/v1/products", json={**PRODUCT, "name": "Still a draft"})
    response = as_role("enterprise").get("/api/v1/products")
    assert response.status_code == 200
    assert [p["id"] for p in response.json] == [published["id"]]
    assert response.headers["X-Total-Count"] == "1"


def test_an_enterprise_cannot_open_a_draft_by_id(bank, as_role):
    draft = bank.post("/api/v1/products", json=PRODUCT).json
    assert as_role("enterprise").get(f"/api/v1/products/{draft['id']}").status_code == 404


def test_a_bank_sees_its_own_drafts_and_other_banks_published_products_only(bank, published, as_role):
    bank2 = as_role("bank2")
    own_draft = bank2.post("/api/v1/products", json={**PRODUCT, "name": "Bank 2 draft"}).json
    bank.post("/api/v1/products", json={**PRODUCT, "name": "Bank 1 draft"})
    ids = {p["id"] for p in bank2.get("/api/v1/products").json}
    assert ids == {published["id"], own_draft["id"]}


def test_the_second_bank_patching_the_first_banks_product_gets_404(published, as_role):
    bank2 = as_role("bank2")
    response = bank2.patch(f"/api/v1/products/{published['id']}", json={"rate_spread_bp": 0})
    assert response.status_code == 404
    assert bank2.post(f"/api/v1/products/{published['id']}/suspend").status_code == 404


def test_an_enterprise_posting_a_product_gets_403(as_role):
    response = as_role("enterprise").post("/api/v1/products", json=PRODUCT)
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"


def test_no_token_gets_401(client, published):
    assert client.get("/api/v1/products").status_code == 401
    assert client.post("/api/v1/products", json=PRODUCT).status_code == 401


def test_filters_and_pagination(bank, as_role):
    for index, (ptype, tiers) in enumerate([("credit", ["srdi"]), ("term", ["little_giant"]),
                                            ("credit", ["innovative"]), ("park", ["srdi"])]):
        created = bank.post("/api/v1/products", json={**PRODUCT, "name": f"P{index}", "product_type": ptype,
                                                      "eligible_tiers": tiers}).json
        bank.post(f"/api/v1/products/{created['id']}/publish")
    reader = as_role("enterprise")
    assert [p["name"] for p in reader.get("/api/v1/products?product_type=credit").json] == ["P0", "P2"]
    assert [p["name"] for p in reader.get("/api/v1/products?tier=srdi").json] == ["P0", "P3"]
    assert reader.get("/api/v1/products?bank_id=999999").json == []
    page = reader.get("/api/v1/products?page=2&page_size=3")
    assert [p["name"] for p in page.json] == ["P3"]
    assert page.headers["X-Total-Count"] == "4"
    assert reader.get("/api/v1/products?tier=gold").status_code == 422


def test_the_admin_sees_every_status(bank, published, as_role):
    bank.post("/api/v1/products", json={**PRODUCT, "name": "Draft"})
    assert as_role("admin").get("/api/v1/products").headers["X-Total-Count"] == "2"
    assert as_role("admin").get("/api/v1/products?status=draft").headers["X-Total-Count"] == "1"


def test_an_empty_patch_is_422_and_makes_no_new_version(bank, published):
    response = bank.patch(f"/api/v1/products/{published['id']}", json={})
    assert response.status_code == 422
    assert response.json["errors"] == {"_schema": ["Send at least one field to change."]}
    assert bank.get("/api/v1/products").headers["X-Total-Count"] == "1"


# Deleting a draft (issue 22) ----------------------------------------------------------------------------------------

def test_the_bank_deletes_a_draft_it_never_published(app, bank):
    from sqlalchemy import select

    from marketplace import db
    from marketplace.audit.models import AuditEntry

    draft = bank.post("/api/v1/products", json=PRODUCT).json
    response = bank.delete(f"/api/v1/products/{draft['id']}")
    assert response.status_code == 204 and response.data == b""
    assert bank.get(f"/api/v1/products/{draft['id']}").status_code == 404
    with app.app_context():
        actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "product",
                                                                     AuditEntry.object_id == draft["id"])).all()
    assert "product.deleted" in actions


@pytest.mark.parametrize("status", ["published", "suspended", "archived"])
def test_only_a_draft_can_be_deleted_anything_else_is_409(bank, published, status):
    if status != "published":
        bank.post(f"/api/v1/products/{published['id']}/{'suspend' if status == 'suspended' else 'archive'}")
    response = bank.delete(f"/api/v1/products/{published['id']}")
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    assert "Only a draft that was never published can be deleted" in response.json["detail"]
    assert bank.get(f"/api/v1/products/{published['id']}").json["status"] == status


def test_deleting_the_new_draft_version_of_a_published_product_leaves_the_published_one(bank, published):
    draft = bank.patch(f"/api/v1/products/{published['id']}", json={"rate_spread_bp": 30}).json
    assert draft["version"] == 2
    assert bank.delete(f"/api/v1/products/{draft['id']}").status_code == 204
    assert bank.get(f"/api/v1/products/{published['id']}").json["status"] == "published"
    again = bank.patch(f"/api/v1/products/{published['id']}", json={"rate_spread_bp": 35})
    assert again.status_code == 200 and again.json["status"] == "draft"


def test_another_banks_draft_is_missing_and_stays(bank, as_role):
    draft = bank.post("/api/v1/products", json=PRODUCT).json
    for who in ("bank2",):
        assert as_role(who).delete(f"/api/v1/products/{draft['id']}").status_code == 404
    assert as_role("enterprise").delete(f"/api/v1/products/{draft['id']}").status_code == 403
    assert bank.get(f"/api/v1/products/{draft['id']}").json["status"] == "draft"
    assert bank.delete("/api/v1/products/987654").status_code == 404
