"""Schemathesis against /api/v1/openapi.json, signed in as each role: no request gets a server error, and every
response conforms to the document (its status code is documented, and so are its content type, body and headers).

The run is bounded and seeded (hypothesis' derandomize), so CI generates the same cases every time, on SQLite and
on PostgreSQL; it runs in the test's rolled-back transaction, against a small marketplace made first so that
generated ids sometimes name real rows. Its case count is printed and kept in `fuzz-cases.txt` in the test's tmp dir.

Checks left out: `negative_data_rejection` and `positive_data_acceptance` would hold the API to its document as a
validator (it is deliberately more lenient: "5" is an amount too, JSON numbers are read exactly), and
`max_response_time` would make CI flaky.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import os
import time
from collections import Counter

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from marketplace import db
from marketplace.auth.models import User
from marketplace.auth.services import issue_token
from marketplace.dates import business_today
from marketplace.orgs.models import AgencyKind

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
#: Cases per operation and role: ~70 operations × 4 roles × (15 + 8) keeps each database's run near a minute.
#: MARKETPLACE_FUZZ_SCALE=10 runs ten times as many, for a deeper look before a release.
SCALE = float(os.environ.get("MARKETPLACE_FUZZ_SCALE", "1"))
EXAMPLES = {GenerationMode.POSITIVE: round(15 * SCALE), GenerationMode.NEGATIVE: round(8 * SCALE)}
REVOKE = "POST /api/v1/auth/token/revoke"
CALLBACK = "POST /api/v1/bank-callbacks/{bank_code}"


@pytest.fixture
def marketplace(app, world, make, as_role):
    """One of everything the API names by id, made through the API: a risk pool, an active agreement, a plain and a
    guaranteed product, an approved and disbursed loan, a guarantee in a batch, a fee rule and a tier import."""
    admin, bank, agency, enterprise = (as_role(role) for role in ("admin", "bank", "agency", "enterprise"))
    today = business_today()

    def made(response, status=201):
        assert response.status_code == status, response.json
        return response.json

    pool = made(admin.post("/api/v1/risk-pools", json={"name": "Pool", "region_code": "33"}))
    made(admin.post(f"/api/v1/risk-pools/{pool['id']}/deposits", json={"amount": "1000000.00"}))
    agreement = made(agency.post("/api/v1/agreements", json={
        "code": "FUZZ-1", "bank_id": world.bank.id, "valid_from": today.isoformat(),
        "valid_to": (today + dt.timedelta(days=365)).isoformat(), "total_quota": "10000000.00",
        "per_enterprise_cap": "5000000.00", "per_loan_cap": "3000000.00", "fee_rate": "0.0100",
        "shares": {"agency": "0.40", "bank": "0.20", "reguarantee": "0.20", "risk_pool": "0.20"},
        "reguarantor_id": make.agency(AgencyKind.PROVINCIAL).id, "risk_pool_id": pool["id"],
        "eligible_tiers": ["srdi", "little_giant"], "eligible_product_types": ["credit"]}))
    made(bank.post(f"/api/v1/agreements/{agreement['id']}/countersign"), 200)
    product = {"product_type": "credit", "amount_min": "100000.00", "amount_max": "10000000.00",
               "term_min_months": 6, "term_max_months": 36, "rate_spread_bp": 30,
               "eligible_tiers": ["srdi", "little_giant"]}
    plain = made(bank.post("/api/v1/products", json={**product, "name": "Plain", "guarantee": "none"}))
    guaranteed = made(bank.post("/api/v1/products", json={**product, "name": "Backed", "guarantee": "required"}))
    for each in (plain, guaranteed):
        made(bank.post(f"/api/v1/products/{each['id']}/publish"), 200)
    made(admin.post("/api/v1/fee-rules", json={
        "name": "Cap", "valid_from": today.isoformat(), "effect": {"kind": "cap_fee_rate", "value": "0.0050"}}))

    def application(guaranteed_offer: bool) -> dict:
        request = made(enterprise.post("/api/v1/financing-requests", json={
            "amount": "1000000.00", "term_months": 12, "purpose": "Working capital"}))
        offer = next(o for o in request["offers"] if (o["agreement_id"] is not None) is guaranteed_offer)
        return made(enterprise.post(f"/api/v1/financing-requests/{request['id']}/select",
                                    json={"offer_id": offer["id"]}), 200)["application"]

    loan_id = made(bank.post(f"/api/v1/applications/{application(False)['id']}/decision",
                             json={"decision": "approved"}), 200)["loan_id"]
    made(bank.post(f"/api/v1/loans/{loan_id}/events", json={"type": "disbursed", "occurred_on": today.isoformat()}))
    guarantee_application = application(True)
    made(bank.post(f"/api/v1/applications/{guarantee_application['id']}/decision", json={"decision": "approved"}),
         200)
    upload = io.BytesIO(f"uscc,tier,valid_until\n{world.enterprise.uscc},srdi,2099-12-31\n".encode())
    made(admin.post("/api/v1/tier-registry/imports", data={"file": (upload, "list.csv")},
                    content_type="multipart/form-data"), 202)
    entries = made(admin.get("/api/v1/ledger/journal"), 200)
    return {"product_id": plain["id"], "agreement_id": agreement["id"], "pool_id": pool["id"],
            "loan_id": loan_id, "application_id": guarantee_application["id"],
            "batch_id": made(agency.get("/api/v1/batches"), 200)[0]["id"],
            "request_id": made(enterprise.get("/api/v1/financing-requests"), 200)[0]["id"],
            "rule_id": made(admin.get("/api/v1/fee-rules"), 200)[0]["id"],
            "import_id": made(admin.get("/api/v1/tier-registry/imports"), 200)[0]["id"],
            "entry_id": entries[0]["id"], "account_id": entries[0]["postings"][0]["account_id"],
            "enterprise_id": world.enterprise.id, "bank_id": world.bank.id}


def _fresh_token(app, user_id: int) -> str:
    with app.app_context():
        plain, _token = issue_token(db.session.get(User, user_id), 600)
        db.session.commit()
    return plain


def _signed_callback(app, bank, case):
    """Send a generated callback signed with the bank's secret, so that it gets past the signature."""
    raw = json.dumps(case.body, default=str).encode() if case.body is not None else b""
    timestamp = str(int(time.time()))
    signature = hmac.new(bank.callback_secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return app.test_client().post(f"/api/v1/bank-callbacks/{bank.code}", data=raw, headers={
        "Content-Type": "application/json", "X-Timestamp": timestamp, "X-Signature": signature})


def _run(strategy, examples: int, send) -> None:
    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck),
              phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate, hypothesis.Phase.shrink])
    @given(case=strategy)
    def run(case):
        send(case)

    run()


@pytest.mark.parametrize("role", ["admin", "bank", "agency", "enterprise"])
def test_schemathesis_finds_no_server_error_and_no_schema_violation(app, world, marketplace, role, tmp_path, capsys,
                                                                    record_property):
    user = getattr(world, f"{role}_user")
    headers = {"Authorization": f"Bearer {_fresh_token(app, user.id)}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    cases = 0
    started = time.monotonic()

    for result in schema.get_all_operations():
        operation = result.ok()
        for mode, examples in EXAMPLES.items():
            strategy = operation.as_strategy(mode, headers=headers)
            known = {p.name: marketplace[p.name] for p in operation.path_parameters if p.name in marketplace}
            if mode is GenerationMode.POSITIVE and known:
                # Half the cases name rows that exist, so that the views get past their 404s.
                strategy = st.one_of(strategy, operation.as_strategy(mode, headers=headers, path_parameters=known))

            def send(case):
                nonlocal cases
                cases += 1
                if case.operation.label == CALLBACK:
                    response = _signed_callback(app, world.bank, case)
                    case.validate_response(response, checks=CHECKS)
                else:
                    if case.operation.label == REVOKE:  # revoking the role's token would sign out every later case
                        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {_fresh_token(app, user.id)}"}
                    response = case.call_and_validate(checks=CHECKS)
                statuses[response.status_code] += 1

            try:
                _run(strategy, examples, send)
            except hypothesis.errors.Unsatisfiable:
                pass  # nothing about the operation can be made invalid (no parameters, no body)
            except (Exception, BaseExceptionGroup) as error:
                failures.append(f"{operation.label} ({mode.value}): {error}")

    elapsed = time.monotonic() - started
    summary = (f"schemathesis as {role}: {cases} cases in {elapsed:.1f}s; statuses "
               f"{dict(sorted(statuses.items()))}; {len(failures)} operations failed")
    (tmp_path / "fuzz-cases.txt").write_text(summary + "\n")
    record_property("schemathesis_cases", cases)
    with capsys.disabled():
        print(f"\n{summary}")
    assert not failures, "\n\n".join(failures)
    assert not [s for s in statuses if s >= 500]


def test_the_document_is_valid_openapi_and_lists_every_error_as_a_problem(app, client):
    schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app).validate()
    document = client.get("/api/v1/openapi.json").json
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method == "parameters" or not path.startswith("/api/"):
                continue
            responses = operation["responses"]
            assert "default" not in responses, (method, path)
            assert "400" in responses, (method, path)
            for code, response in responses.items():
                if int(code) >= 400:
                    if "$ref" in response:
                        response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
                    assert list(response["content"]) == ["application/problem+json"], (method, path, code)
    token = document["paths"]["/api/v1/auth/token"]["post"]["responses"]
    assert {"401", "422", "429"} <= set(token)
