"""The demo's sandbox bank plays a bank's system end to end: the outbox hands it the application, it decides a few
seconds later and reports the disbursement later still, through signed callbacks. HTTP between the two "systems"
goes through `responses` into the same app."""

import datetime as dt
import json
import time
from decimal import Decimal

import pytest
import responses
import time_machine
from sqlalchemy import select

from marketplace import db
from marketplace.bank_systems import sandbox
from marketplace.bank_systems.callbacks import sign
from marketplace.bank_systems.models import BankCallback, CallbackOutcome, SandboxCase, SandboxStep
from marketplace.demo import DEMO_PASSWORD, SANDBOX_URL
from marketplace.financing.models import Application, Loan
from marketplace.scheduler.runner import JOBS, SANDBOX, run_job
from tests.scheduler.helpers import said

ORIGIN = SANDBOX_URL.removesuffix("/sandbox-bank")


@pytest.fixture
def demo(app, client):
    assert app.test_cli_runner().invoke(args=["demo", "seed"]).exit_code == 0
    token = client.post("/api/v1/auth/token", json={"username": "enterprise", "password": DEMO_PASSWORD}).json
    return {"Authorization": f"Bearer {token['access_token']}"}


@pytest.fixture
def wire(client):
    """Route the two systems' HTTP calls into the app, as the demo server would serve them."""

    def forward(request):
        response = client.post(request.path_url, data=request.body, headers=dict(request.headers))
        return response.status_code, {}, response.get_data()

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, f"{SANDBOX_URL}/applications", callback=forward)
        mock.add_callback(responses.POST, f"{ORIGIN}/api/v1/bank-callbacks/SANDBOX", callback=forward)
        yield mock


def select_sandbox_offer(client, headers, amount="2000000.00"):
    request = client.post("/api/v1/financing-requests", headers=headers, json={
        "amount": amount, "term_months": 12, "purpose": "Working capital"}).json
    offer = next(o for o in request["offers"] if o["bank_name"] == "沙箱银行（系统自动审批）")
    routed = client.post(f"/api/v1/financing-requests/{request['id']}/select", headers=headers,
                         json={"offer_id": offer["id"]})
    assert routed.status_code == 200, routed.json
    return request["id"], routed.json["application"]["id"]


def later(seconds):
    return time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds), tick=False)


def request_of(client, headers, request_id):
    return client.get(f"/api/v1/financing-requests/{request_id}", headers=headers).json


def test_the_sandbox_bank_approves_and_disburses_by_itself(app, client, demo, wire):
    request_id, application_id = select_sandbox_offer(client, demo)

    assert "1 delivered" in said(app, run_job(app, JOBS["outbox_dispatch"]))
    with app.app_context():
        case = db.session.scalar(select(SandboxCase).where(SandboxCase.application_id == application_id))
        assert case.step is SandboxStep.RECEIVED and case.payload["request"]["amount"] == "2000000.00"
    assert run_job(app, SANDBOX) is None  # its decision is not due yet

    with later(6):
        decided = run_job(app, SANDBOX)
    assert f"application {application_id} approved" in said(app, decided)
    assert request_of(client, demo, request_id)["status"] == "approved"

    with later(6 + 11):
        disbursed = run_job(app, SANDBOX)
    assert f"loan of application {application_id} disbursed" in said(app, disbursed)
    with app.app_context():
        loan = db.session.scalar(select(Loan).where(Loan.application_id == application_id))
        assert loan.status.value == "disbursed" and loan.principal == Decimal("2000000.00")
        outcomes = db.session.scalars(select(BankCallback.outcome).order_by(BankCallback.id)).all()
    assert outcomes == [CallbackOutcome.APPLIED, CallbackOutcome.APPLIED]
    with later(60):
        assert run_job(app, SANDBOX) is None  # nothing more to report


def test_above_its_limit_the_sandbox_bank_declines_and_says_why(app, client, demo, wire):
    request_id, application_id = select_sandbox_offer(client, demo, amount="4000000.00")
    run_job(app, JOBS["outbox_dispatch"])
    with later(6):
        run_job(app, SANDBOX)
    assert request_of(client, demo, request_id)["status"] == "declined"
    with app.app_context():
        case = db.session.scalar(select(SandboxCase).where(SandboxCase.application_id == application_id))
        assert case.step is SandboxStep.DONE
        application = db.session.get(Application, application_id)
        assert application.status.value == "declined" and "at most 3,000,000.00" in application.reason


def signed(app, body: dict, key: str, secret: str | None = None, stamp: int | None = None) -> dict:
    """The request the outbox sends: the body, and its headers signed under the sandbox bank's secret."""
    raw = json.dumps(body).encode()
    with app.app_context():
        secret = secret or sandbox.sandbox_bank().callback_secret
    stamp = str(int(time.time()) if stamp is None else stamp)
    return {"data": raw, "content_type": "application/json", "headers": {
        "Idempotency-Key": key, "X-Timestamp": stamp, "X-Signature": sign(secret, stamp, raw)}}


INTAKE_BODY = {"application_id": 41, "request": {"amount": "1.00"}, "enterprise": {"tier": "srdi"},
               "offer": {"rate_spread_bp": 3000}}


def test_the_sandbox_intake_keeps_one_case_per_application(app, client, demo):
    first = client.post("/sandbox-bank/applications", **signed(app, INTAKE_BODY, "41"))
    again = client.post("/sandbox-bank/applications", **signed(app, INTAKE_BODY, "41"))
    assert (first.status_code, again.status_code) == (201, 200) and first.json == again.json
    assert client.post("/sandbox-bank/applications", **signed(app, INTAKE_BODY, "42")).status_code == 400
    with app.app_context():
        assert len(db.session.scalars(select(SandboxCase)).all()) == 1


def test_the_sandbox_intake_refuses_what_the_marketplace_did_not_sign(app, client, demo):
    """Issue 21: anyone could pre-register an application id and have the sandbox approve ¥1.00 at +3000 bp,
    signed with the bank's real secret. Only the marketplace's signed hand-off opens a case now."""
    raw = json.dumps(INTAKE_BODY).encode()
    for headers in ({"Idempotency-Key": "41"},
                    signed(app, INTAKE_BODY, "41", secret="not-the-bank-secret")["headers"],
                    signed(app, INTAKE_BODY, "41", stamp=int(time.time()) - 301)["headers"],
                    {**signed(app, INTAKE_BODY, "41")["headers"], "X-Timestamp": str(int(time.time()) + 1)}):
        refused = client.post("/sandbox-bank/applications", data=raw, content_type="application/json",
                              headers=headers)
        assert refused.status_code == 401, headers
    with app.app_context():
        assert db.session.scalars(select(SandboxCase)).all() == []


def test_the_sandbox_policy():
    payload = {"request": {"amount": "3000000.00"}, "enterprise": {"tier": "innovative"},
               "offer": {"rate_spread_bp": 25}}
    assert sandbox.decide(payload) == {"type": "application.approved", "approved_amount": "3000000.00",
                                       "rate_spread_bp": 25}
    above = sandbox.decide({**payload, "request": {"amount": "3000000.01"}})
    assert above["type"] == "application.declined" and "3,000,000.00" in above["reason"]
    assert sandbox.decide({**payload, "enterprise": {"tier": "none"}})["type"] == "application.declined"
