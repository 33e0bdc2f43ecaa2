"""The audit trail: every state change names who made it, for which organisation, from which request and address;
the table is append-only; admins read it with filters on /admin/audit and GET /api/v1/audit."""

import datetime as dt
import io

import pytest
import sqlalchemy as sa
import time_machine
from stdnum.cn import uscc

from marketplace import db
from marketplace.audit.models import AuditEntry
from marketplace.dates import SHANGHAI
from marketplace.scheduler.runner import JOBS, run_job
from tests.ledger import conftest as ledger
from tests.pages import sign_in

AUDIT = "/api/v1/audit"
scheme = ledger.scheme  # the worked-example fixture


def entries(admin, **filters):
    response = admin.get(AUDIT, query_string={"page_size": 500, **filters})
    assert response.status_code == 200, response.json
    return response.json


def one(admin, **filters):
    (entry,) = entries(admin, **filters)
    return entry


def test_key_changes_name_the_user_and_organisation_that_made_them(scheme, world, as_role):
    made = scheme(loans=1)
    admin, bank = as_role("admin"), as_role("bank")
    loan_id = made["loans"][0]
    for body in ({"type": "disbursed", "occurred_on": "2026-03-02"}, {"type": "overdue", "occurred_on": "2026-06-01"},
                 {"type": "default", "occurred_on": "2026-09-01"}):
        assert bank.post(f"/api/v1/loans/{loan_id}/events", json=body).status_code == 201

    bank_officer = {"actor": world.bank_user.username, "organization_id": world.bank.id,
                    "organization_name": world.bank.name}
    agency_officer = {"actor": world.agency_user.username, "organization_id": world.agency.id,
                      "organization_name": world.agency.name}
    published = one(admin, action="product.published")
    assert published | bank_officer == published
    assert published["changes"]["status"] == ["draft", "published"]

    countersigned = one(admin, action="agreement.active", object_id=made["agreement"]["id"])
    assert countersigned | bank_officer == countersigned
    assert countersigned["changes"]["status"] == ["pending_bank", "active"]

    decided = one(admin, action="batch.decided")
    assert decided | agency_officer == decided
    assert decided["changes"]["status"] == ["submitted", "decided"]

    defaulted = one(admin, action="loan.defaulted", object_id=loan_id)
    assert defaulted | bank_officer == defaulted
    assert defaulted["changes"]["status"] == ["overdue", "defaulted"]
    (default_event,) = [e for e in entries(admin, action="loan_event.created") if e["changes"]["type"] == "default"]
    assert default_event["actor"] == world.bank_user.username


def test_a_tier_import_is_recorded_with_its_counts_and_the_admin_who_ran_it(world, as_role):
    admin = as_role("admin")
    base = "91330106MC0000001"
    rows = f"uscc,tier,valid_until\n{base + uscc.calc_check_digit(base)},srdi,2027-12-31\nnot-a-code,srdi,2027-12-31\n"
    upload = admin.post("/api/v1/tier-registry/imports", content_type="multipart/form-data",
                        data={"file": (io.BytesIO(rows.encode()), "list.csv")})
    assert upload.status_code == 202, upload.json
    history = entries(admin, object_type="tier_import", object_id=upload.json["id"])
    assert history, "the import left no audit entry"
    assert {e["actor"] for e in history} == {world.admin_user.username}
    assert {e["organization_name"] for e in history} == {"Provincial finance office"}
    final = history[0]  # newest first
    assert final["action"] == "tier_import.completed"
    assert final["changes"]["rows_ok"] == [0, 1] and final["changes"]["rows_failed"] == [0, 1]


def test_each_entry_carries_the_request_id_and_address(world, as_role):
    bank = as_role("bank")
    created = bank.post("/api/v1/products", headers={"X-Request-ID": "trace-42"}, json={
        "name": "Working capital", "product_type": "credit", "amount_min": "100000.00",
        "amount_max": "1000000.00", "term_min_months": 6, "term_max_months": 12, "rate_spread_bp": 20,
        "eligible_tiers": ["srdi"], "guarantee": "none"})
    assert created.status_code == 201 and created.headers["X-Request-ID"] == "trace-42"
    entry = one(as_role("admin"), request_id="trace-42", action="product.created")
    assert entry["action"] == "product.created" and entry["object_id"] == created.json["id"]
    assert entry["address"] == "127.0.0.1"
    assert entry["changes"]["name"] == "Working capital"

    unsafe = bank.get("/api/v1/auth/me", headers={"X-Request-ID": "<script>"})
    assert unsafe.headers["X-Request-ID"] != "<script>" and len(unsafe.headers["X-Request-ID"]) == 32


def test_secrets_never_reach_the_trail(world, as_role):
    admin = as_role("admin")
    bank = admin.post("/api/v1/banks", json={"name": "Audit Bank", "code": "AUDB"}).json
    admin.post("/api/v1/users", json={"username": "audb-officer", "password": "a-long-unusual-passphrase",
                                      "role": "bank", "organization_id": bank["id"]})
    rotated = admin.post(f"/api/v1/banks/{bank['id']}/callback-secret")
    assert rotated.status_code == 200, rotated.json
    trail = entries(admin, object_type="bank", object_id=bank["id"]) + entries(admin, action="user.created")
    text = str(trail)
    assert bank["callback_secret"] not in text and rotated.json["callback_secret"] not in text
    assert "[redacted]" in text and "a-long-unusual-passphrase" not in text and "scrypt" not in text


def test_a_refused_change_leaves_no_entry(world, as_role):
    admin, bank = as_role("admin"), as_role("bank")
    before = len(entries(admin))
    assert bank.post("/api/v1/products", json={"name": ""}).status_code == 422
    assert bank.post("/api/v1/agreements/999999/countersign").status_code == 404
    assert len(entries(admin)) == before


def test_the_trail_is_append_only(app, world, as_role):
    as_role("bank").post("/api/v1/auth/token/revoke")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) > 0
        for statement in ("UPDATE audit_entries SET actor = 'someone else'", "DELETE FROM audit_entries"):
            with pytest.raises(sa.exc.DatabaseError, match="append-only"):
                with db.session.begin_nested():
                    db.session.execute(sa.text(statement))


def test_a_scheduled_job_is_named_as_the_actor(app, scheme, as_role):
    agreement = scheme(loans=0)["agreement"]
    valid_to = dt.date.fromisoformat(agreement["valid_to"])
    with time_machine.travel(dt.datetime.combine(valid_to + dt.timedelta(days=1), dt.time(0, 10), tzinfo=SHANGHAI),
                             tick=False):
        run_job(app, JOBS["agreement_expiry"])
    expired = one(as_role("admin"), action="agreement.expired")
    assert expired["object_id"] == agreement["id"] and expired["actor"] == "scheduler:agreement_expiry"
    assert expired["organization_id"] is None and expired["request_id"] is None


def test_admins_filter_the_trail_on_the_page_and_others_may_not_see_it(app, world, as_role):
    as_role("bank").post("/api/v1/auth/token/revoke")
    admin = sign_in(app, world.admin_user)
    page = admin.get("/admin/audit", query_string={"action": "user.token_revoked"})
    assert page.status_code == 200
    assert page.text.count('data-action="user.token_revoked"') == 1
    assert world.bank_user.username in page.text and world.bank.name in page.text
    everything = admin.get("/admin/audit").text
    assert 'data-action="user.signed_in"' in everything  # the admin's own sign-in
    bad = admin.get("/admin/audit", query_string={"action": "DROP TABLE", "from": "2026-13-01"})
    assert bad.status_code == 422 and 'id="action-error"' in bad.text and 'id="from-error"' in bad.text
    assert sign_in(app, world.bank_user).get("/admin/audit").status_code == 403
    assert as_role("bank").get(AUDIT).status_code == 403


def test_the_api_filters_by_action_prefix_actor_and_date(world, as_role):
    admin = as_role("admin")
    as_role("enterprise")
    issued = entries(admin, action="user.")
    assert {e["action"] for e in issued} == {"user.created", "user.token_issued"}  # factories' users, tokens
    mine = entries(admin, actor=world.enterprise_user.username)
    assert [e["action"] for e in mine] == ["user.token_issued"]
    assert entries(admin, actor=world.enterprise_user.username, **{"from": "2000-01-01", "to": "2000-01-02"}) == []
    refused = admin.get(AUDIT, query_string={"from": "2026-02-02", "to": "2026-02-01"})
    assert refused.status_code == 422 and "to" in refused.json["errors"]
