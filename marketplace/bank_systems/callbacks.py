"""Banks' signed callbacks: `receive` authenticates one, applies it through the same services as the API, once.

A callback is authenticated by X-Timestamp (unix seconds, at most CALLBACK_WINDOW_S off our clock) and
X-Signature, the hex HMAC-SHA256 of "{timestamp}.{raw body}" under the bank's callback secret (or, for a grace
period after a rotation, the previous one), compared in constant time. Its event_id is applied at most once per
bank; a repeat answers 200 and changes nothing. Every callback is kept, whatever became of it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

import marshmallow as ma
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from guarantees.services import GuaranteeUnavailable
from marketplace import db
from marketplace.audit import trail as audit
from marketplace.auth.services import system_user
from marketplace.bank_systems.models import BankCallback, CallbackOutcome
from marketplace.bank_systems.schemas import CallbackIn
from marketplace.errors import DomainError, NotAuthenticated, NotFound, ValidationFailed, keeping_changes
from marketplace.financing import services
from marketplace.financing.loans import record_event
from marketplace.financing.models import Application, LoanEventType
from marketplace.i18n import N_
from marketplace.orgs.models import Bank

#: Callback types → the loan event they report.
LOAN_EVENTS = {f"loan.{t.value}": t for t in LoanEventType}
APPLICATION_EVENTS = {"application.approved": "approved", "application.declined": "declined"}
BODY_KEPT = 20_000
#: Unix seconds in ASCII digits (twelve reach the year 33658), and a hex SHA-256: any other header is refused (401)
#: before it is turned into a number or compared.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


class MalformedBody(DomainError):
    status = 400
    slug = "malformed-body"
    title = N_("The body is not a JSON object")


@dataclass(frozen=True)
class Received:
    outcome: CallbackOutcome
    event_id: str
    application: Application | None
    #: Applied, but with an outcome the API answers with an error (an approval whose guarantee was unavailable:
    #: the application is guarantee_unavailable). The caller commits, then raises it.
    refused: DomainError | None = None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Signature a bank sends (also what the sandbox bank and the tests use)."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def receive(bank_code: str, timestamp: str | None, signature: str | None, body: bytes) -> Received:
    """Authenticate, check and apply one callback; the caller commits (this keeps the receipt in every case)."""
    bank = db.session.scalar(select(Bank).where(Bank.code == bank_code))
    receipt = BankCallback(bank_code=bank_code[:40], bank_id=bank.id if bank else None,
                           timestamp=(timestamp or "")[:20], body=body[:BODY_KEPT].decode("utf-8", "replace"))
    try:
        authenticate(bank, timestamp, signature, body)
    except NotAuthenticated as error:
        raise _kept(receipt, CallbackOutcome.UNAUTHENTICATED, error) from None
    try:
        data = _parse(body)
        receipt.event_id, receipt.event_type = data["event_id"], data["type"]
        receipt.application_id = data["application_id"]
        return _apply(bank, data, receipt)
    except DomainError as error:
        raise _kept(receipt, CallbackOutcome.REJECTED, error) from None


def _kept(receipt: BankCallback, outcome: CallbackOutcome, error: DomainError) -> DomainError:
    """Record a callback that was not applied: whatever it did is rolled back, and the receipt alone is committed
    before `error` is answered."""
    db.session.rollback()
    receipt.outcome, receipt.status_code, receipt.detail = outcome, error.status, error.detail[:1000]
    db.session.add(receipt)
    db.session.flush()
    return keeping_changes(error)


def authenticate(bank: Bank | None, timestamp: str | None, signature: str | None, body: bytes) -> None:
    """A signed request from or to `bank` (its callbacks; the sandbox bank checks our hand-offs the same way)."""
    config = current_app.config
    if bank is None:
        raise NotAuthenticated(_("Unknown bank code, or a signature that does not match."))
    if not timestamp or not _TIMESTAMP.fullmatch(timestamp):  # not str.isdigit: "²" is a digit to it
        raise NotAuthenticated(_("X-Timestamp must be the time of signing in unix seconds."))
    skew = abs(dt.datetime.now(dt.UTC).timestamp() - int(timestamp))
    if skew > config["CALLBACK_WINDOW_S"]:
        raise NotAuthenticated(_("X-Timestamp is %(s)d seconds from our clock; at most %(window)d are accepted.",
                                 s=skew, window=config["CALLBACK_WINDOW_S"]))
    secrets_ = [bank.callback_secret]
    rotated = bank.callback_secret_rotated_at
    if bank.previous_callback_secret and rotated and \
            db.utcnow() - rotated <= dt.timedelta(seconds=config["CALLBACK_SECRET_GRACE_S"]):
        secrets_.append(bank.previous_callback_secret)
    given = (signature or "").strip().lower()
    if not _SIGNATURE.fullmatch(given):  # compare_digest would raise on a non-ASCII string
        raise NotAuthenticated(_("Unknown bank code, or a signature that does not match."))
    # compare_digest with every candidate, so the time taken says nothing about which (if any) matched.
    if not sum(hmac.compare_digest(sign(secret, timestamp, body), given) for secret in secrets_):
        raise NotAuthenticated(_("Unknown bank code, or a signature that does not match."))


def _parse(body: bytes) -> dict[str, Any]:
    try:
        raw = json.loads(body, parse_float=str, parse_int=int)
    except ValueError as error:
        raise MalformedBody(_("The body is not valid JSON: %(error)s", error=str(error))) from error
    if not isinstance(raw, dict):
        raise MalformedBody()
    try:
        return CallbackIn().load(raw)
    except ma.ValidationError as error:
        raise ValidationFailed(errors=error.normalized_messages()) from error


def _apply(bank: Bank, data: dict[str, Any], receipt: BankCallback) -> Received:
    earlier = db.session.scalar(select(BankCallback.id).where(
        BankCallback.bank_id == bank.id, BankCallback.event_id == data["event_id"],
        BankCallback.outcome == CallbackOutcome.APPLIED))
    if earlier is not None:
        return _duplicate(receipt)
    application = db.session.scalar(select(Application).where(Application.id == data["application_id"],
                                                              Application.bank_id == bank.id))
    if application is None:
        raise NotFound(_("No application %(id)d was sent to your bank.", id=data["application_id"]))
    user = system_user(bank)
    audit.act_as(user)
    kind = data["type"]
    refused = None
    if kind in APPLICATION_EVENTS:
        decision = {"decision": APPLICATION_EVENTS[kind], "approved_amount": data.get("approved_amount"),
                    "rate_spread_bp": data.get("rate_spread_bp"), "reason": data.get("reason")}
        try:
            services.decide(application, user, decision)
        except GuaranteeUnavailable as error:  # decided all the same: the application is guarantee_unavailable
            refused = error
    else:
        if application.loan is None:
            raise NotFound(_("Application %(id)d has no loan yet.", id=application.id))
        record_event(application.loan, user, LOAN_EVENTS[kind], data.get("amount"), data["occurred_on"],
                     key=f"callback:{data['event_id']}")
    receipt.outcome = CallbackOutcome.APPLIED
    receipt.status_code = refused.status if refused else 200
    receipt.detail = refused.detail[:1000] if refused else None
    db.session.add(receipt)
    try:
        db.session.flush()
    except IntegrityError:  # the same event_id, applied by a concurrent request that committed first
        db.session.rollback()
        return _duplicate(receipt)
    return Received(CallbackOutcome.APPLIED, data["event_id"], application, refused)


def _duplicate(receipt: BankCallback) -> Received:
    receipt.outcome, receipt.status_code = CallbackOutcome.DUPLICATE, 200
    receipt.detail = _("Event %(id)s was applied before; nothing was done.", id=receipt.event_id)
    db.session.add(receipt)
    db.session.flush()
    application = db.session.scalar(select(Application).where(Application.id == receipt.application_id,
                                                              Application.bank_id == receipt.bank_id))
    return Received(CallbackOutcome.DUPLICATE, receipt.event_id, application)


def rotate_secret(bank: Bank) -> str:
    """A new callback secret; the old one keeps working for CALLBACK_SECRET_GRACE_S. The caller commits. Locked
    first, so that rotations at the same moment follow one another (each retires the secret the one before made)."""
    db.lock(bank)
    bank.previous_callback_secret, bank.callback_secret = bank.callback_secret, secrets.token_hex(32)
    bank.callback_secret_rotated_at = db.utcnow()
    db.session.flush()
    return bank.callback_secret
