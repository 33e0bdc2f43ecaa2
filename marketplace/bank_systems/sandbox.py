"""The sandbox bank: a bank's own system, played on the demo server, so the demo world moves by itself.

It receives routed applications from the outbox (POST /sandbox-bank/applications, Idempotency-Key = our
application id), decides them by a simple rule a few seconds later, and a few seconds after an approval reports the
disbursement, each time through a signed callback to the marketplace's public endpoint, exactly as a real bank's
system would. `tick` (a scheduler job in the demo) sends whatever callbacks are due.

The rule: approve the amount asked, at the offered spread, up to 3,000,000.00 for a certified enterprise; decline
anything else, saying why.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select

from marketplace import db
from marketplace.bank_systems.callbacks import authenticate, sign
from marketplace.bank_systems.models import SandboxCase, SandboxStep
from marketplace.dates import business_today
from marketplace.errors import NotAuthenticated
from marketplace.orgs.models import Bank

bp = Blueprint("sandbox_bank", __name__, url_prefix="/sandbox-bank")

CODE = "SANDBOX"
LIMIT = Decimal("3000000.00")


def sandbox_bank() -> Bank | None:
    return db.session.scalar(select(Bank).where(Bank.code == CODE))


@bp.post("/applications")
def receive_application():
    """The bank's intake: one case per application however often it is sent, and only from the marketplace (the
    hand-off signed under the bank's secret, as a real bank would check it)."""
    bank = sandbox_bank()
    try:
        authenticate(bank, request.headers.get("X-Timestamp"), request.headers.get("X-Signature"),
                     request.get_data(cache=True))
    except NotAuthenticated as error:
        return jsonify(error=error.detail), 401
    key = request.headers.get("Idempotency-Key", "")
    body = request.get_json(silent=True)
    if bank is None or not key.isdigit() or not isinstance(body, dict) or str(body.get("application_id")) != key:
        return jsonify(error="expected an application with its id as Idempotency-Key"), 400
    case = db.session.scalar(select(SandboxCase).where(SandboxCase.bank_id == bank.id,
                                                       SandboxCase.application_id == int(key)))
    created = case is None
    if created:
        delay = dt.timedelta(seconds=current_app.config["SANDBOX_DECISION_DELAY_S"])
        case = SandboxCase(bank_id=bank.id, application_id=int(key), payload=body, due_at=db.utcnow() + delay)
        db.session.add(case)
        db.session.flush()  # its id is the bank's reference
    return jsonify(bank_ref=f"SBX-{case.id}", status="received"), 201 if created else 200


def decide(payload: dict[str, Any]) -> dict[str, Any]:
    """The sandbox's credit policy, as the callback's fields."""
    amount = Decimal(payload["request"]["amount"])
    tier = payload["enterprise"]["tier"]
    if tier == "none":
        return {"type": "application.declined", "reason": "The sandbox bank lends to certified enterprises only."}
    if amount > LIMIT:
        return {"type": "application.declined",
                "reason": f"The sandbox bank lends at most {LIMIT:,.2f}; {amount:,.2f} was asked."}
    return {"type": "application.approved", "approved_amount": f"{amount:.2f}",
            "rate_spread_bp": payload["offer"]["rate_spread_bp"]}


def tick(http: requests.Session | None = None) -> tuple[list[list[Any]], list[list[Any]]]:
    """Send every callback that is due (decisions, then disbursements) → what was sent and what was refused, each
    as [event type, application id]."""
    bank = sandbox_bank()
    if bank is None or not bank.api_base_url:
        return [], []
    http = http or requests.Session()
    base = urlsplit(bank.api_base_url)
    url = f"{base.scheme}://{base.netloc}/api/v1/bank-callbacks/{bank.code}"
    due = db.session.scalars(select(SandboxCase).where(SandboxCase.bank_id == bank.id,
                                                       SandboxCase.step != SandboxStep.DONE,
                                                       SandboxCase.due_at <= db.utcnow())
                             .order_by(SandboxCase.id)).all()
    cases = [(case.id, case.application_id, case.step, case.payload) for case in due]
    secret = bank.callback_secret
    db.session.commit()  # no transaction stays open while the marketplace is called
    sent, refused = [], []
    for case_id, application_id, step, payload in cases:
        if step is SandboxStep.RECEIVED:
            event = {"event_id": f"sbx-{case_id}-decision", "application_id": application_id, **decide(payload)}
            following = SandboxStep.APPROVED if event["type"] == "application.approved" else SandboxStep.DONE
        else:
            event = {"event_id": f"sbx-{case_id}-disbursed", "type": "loan.disbursed",
                     "application_id": application_id, "occurred_on": business_today().isoformat()}
            following = SandboxStep.DONE
        error, final = _call(http, url, secret, event)
        case = db.session.get(SandboxCase, case_id)
        case.last_error = error[:1000] if error else None
        if error is None:
            case.step = following
            case.due_at = db.utcnow() + dt.timedelta(seconds=current_app.config["SANDBOX_DISBURSE_DELAY_S"])
            sent.append([event["type"], application_id])
        elif final:  # refused (4xx): sending it again cannot help
            case.step = SandboxStep.DONE
            refused.append([event["type"], application_id])
        db.session.commit()
    return sent, refused


def _call(http: requests.Session, url: str, secret: str, event: dict[str, Any]) -> tuple[str | None, bool]:
    """POST one signed callback → (None when the marketplace took it, else what went wrong; whether that is
    final: a 4xx other than 401, which a retry would not change)."""
    body = json.dumps(event).encode()
    stamp = str(int(time.time()))
    try:
        response = http.post(url, data=body, timeout=(3.05, 10), headers={
            "Content-Type": "application/json", "X-Timestamp": stamp, "X-Signature": sign(secret, stamp, body)})
    except requests.RequestException as error:
        return f"{type(error).__name__}: {error}", False
    code = response.status_code
    if 200 <= code < 300:
        return None, False
    return f"HTTP {code}: {response.text[:500]}", 400 <= code < 500 and code != 401
