"""Delivering the outbox (marketplace/outbox.py, where hand-offs are queued with the state change): `dispatch`.

Messages are hand-offs to banks' systems (HTTP) and e-mails (SMTP, marketplace.notifications.mail), under the same
discipline. A message is claimed in a short transaction of its own (its try counted, its next try pushed past the
request's time-outs, so a crash mid-send only delays it), sent with no transaction open, and its outcome recorded in
another:

- a 2xx delivers it (a body that is not JSON is noted, not retried: the bank has it);
- a time-out, a connection error, a 5xx, 408 or 429 is tried again after an exponential back-off with jitter,
  until the message is dead after OUTBOX_MAX_ATTEMPTS tries;
- any other 4xx is dead at once: sending the same request again cannot help.

A hand-off is signed as banks sign their callbacks (API.md): X-Timestamp, and X-Signature, the hex HMAC-SHA256 of
"{timestamp}.{raw body}" under the bank's callback secret, so the bank's system can tell it comes from us.

Two dispatchers never send the same message at once (PostgreSQL: FOR UPDATE SKIP LOCKED while claiming). A message
sent but not recorded (a crash) is sent again: the bank sees the same Idempotency-Key and keeps one hand-off.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from dataclasses import dataclass
from typing import Any

import requests
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from marketplace import db, outbound, timeline
from marketplace.audit import trail as audit
from marketplace.auth.models import User
from marketplace.bank_systems.callbacks import sign
from marketplace.errors import Conflict
from marketplace.financing.models import Application
from marketplace.i18n import state_word
from marketplace.notifications import mail
from marketplace.outbox import APPLICATION_SUBMITTED, MAIL, AttemptOutcome, MessageStatus, OutboxAttempt, OutboxMessage

#: Statuses worth another try; any other 4xx is final.
RETRYABLE_STATUS = {408, 429}


@dataclass(frozen=True)
class Claim:
    """What sending one message needs, read while it was claimed."""

    message_id: int
    topic: str
    url: str
    key: str
    payload: dict[str, Any]
    number: int
    round: int
    #: The bank's callback secret, which signs the hand-off (None for mail).
    secret: str | None = None


@dataclass(frozen=True)
class Result:
    outcome: AttemptOutcome
    status_code: int | None = None
    error: str | None = None
    bank_ref: str | None = None


@dataclass
class Report:
    """What one dispatch pass did: message ids by outcome."""

    delivered: list[int]
    retrying: list[int]
    dead: list[int]

    @property
    def sent(self) -> int:
        return len(self.delivered) + len(self.retrying) + len(self.dead)


def dispatch(limit: int = 50, http: requests.Session | None = None) -> Report:
    """Send every message that is due (at most `limit`), one by one; commits as it goes."""
    report = Report([], [], [])
    http = http or requests.Session()
    for claim in _claim(limit):
        started = db.utcnow()
        t0 = time.monotonic()
        result = _send(http, claim)
        duration_ms = round((time.monotonic() - t0) * 1000)
        status = _record(claim, result, started, duration_ms)
        {MessageStatus.DELIVERED: report.delivered, MessageStatus.PENDING: report.retrying,
         MessageStatus.DEAD: report.dead}[status].append(claim.message_id)
    return report


def _settings() -> tuple[tuple[float, float], int]:
    config = current_app.config
    return (config["OUTBOX_CONNECT_TIMEOUT_S"], config["OUTBOX_READ_TIMEOUT_S"]), config["OUTBOX_MAX_ATTEMPTS"]


def _claim(limit: int) -> list[Claim]:
    (connect_s, read_s), max_attempts = _settings()
    now = db.utcnow()
    lease = dt.timedelta(seconds=connect_s + read_s + 30)
    due = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.status == MessageStatus.PENDING,
                                    OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)
        .with_for_update(skip_locked=True, of=OutboxMessage)).all()
    claims = []
    for message in due:
        if message.attempts >= max_attempts:  # its last try was sent, but its outcome never recorded
            _die(message, now, _("No outcome was recorded for the last of %(n)d tries.", n=max_attempts))
            continue
        message.attempts += 1
        message.next_attempt_at = now + lease
        url = "mailto:" + message.path if message.topic == MAIL else \
            message.bank.api_base_url.rstrip("/") + message.path
        claims.append(Claim(message.id, message.topic, url, message.idempotency_key, message.payload,
                            message.attempts, message.redrives,
                            secret=None if message.topic == MAIL else message.bank.callback_secret))
    db.session.commit()
    return claims


def _send(http: requests.Session, claim: Claim) -> Result:
    if claim.topic == MAIL:
        outcome, code, error = mail.send(claim.message_id, claim.payload)
        return Result(AttemptOutcome(outcome), code, error)
    timeouts, _max = _settings()
    if why := outbound.refusal(claim.url):  # again at each call: the name may resolve elsewhere since it was saved
        return Result(AttemptOutcome.REFUSED, error=f"not called: {why}"[:1000])
    body = json.dumps(claim.payload, separators=(",", ":"), ensure_ascii=False).encode()
    stamp = str(int(time.time()))
    try:
        response = http.post(claim.url, data=body, timeout=timeouts, allow_redirects=False, headers={
            "Idempotency-Key": claim.key, "Accept": "application/json", "Content-Type": "application/json",
            "X-Timestamp": stamp, "X-Signature": sign(claim.secret or "", stamp, body)})
    except requests.Timeout as error:
        return Result(AttemptOutcome.RETRY, error=f"timed out: {error}"[:1000])
    except requests.ConnectionError as error:
        return Result(AttemptOutcome.RETRY, error=f"connection failed: {error}"[:1000])
    except requests.RequestException as error:  # an invalid URL, too many redirects: the same again fails again
        return Result(AttemptOutcome.REFUSED, error=f"request failed: {error}"[:1000])
    code = response.status_code
    if 200 <= code < 300:
        try:
            body = response.json()
        except ValueError:
            return Result(AttemptOutcome.DELIVERED, code, error="the answer was not JSON; delivered all the same")
        bank_ref = body.get("bank_ref") if isinstance(body, dict) else None
        return Result(AttemptOutcome.DELIVERED, code, bank_ref=str(bank_ref)[:100] if bank_ref is not None else None)
    if 300 <= code < 400:  # never followed: a redirect could point the payload anywhere, inside our network too
        return Result(AttemptOutcome.REFUSED, code, error=f"HTTP {code}: redirected to "
                      f"{response.headers.get('Location', '')[:300]!r}, which is not followed")
    detail = f"HTTP {code}: {response.text[:500]}"
    if code >= 500 or code in RETRYABLE_STATUS:
        return Result(AttemptOutcome.RETRY, code, error=detail)
    return Result(AttemptOutcome.REFUSED, code, error=detail)


def _record(claim: Claim, result: Result, started: dt.datetime, duration_ms: int) -> MessageStatus:
    _timeouts, max_attempts = _settings()
    now = db.utcnow()
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.id == claim.message_id)
                                .with_for_update(of=OutboxMessage))
    db.session.add(OutboxAttempt(message_id=message.id, number=claim.number, round=claim.round,
                                 outcome=result.outcome, status_code=result.status_code, error=result.error,
                                 started_at=started, duration_ms=duration_ms))
    if result.outcome is AttemptOutcome.DELIVERED:
        message.status, message.delivered_at, message.bank_ref = MessageStatus.DELIVERED, now, result.bank_ref
        message.last_error = result.error
        if message.topic == APPLICATION_SUBMITTED:
            _handed_off(message, result.bank_ref)
    elif result.outcome is AttemptOutcome.RETRY and claim.number < max_attempts:
        message.last_error = result.error
        message.next_attempt_at = now + backoff(claim.number)
    else:
        _die(message, now, result.error)
    db.session.commit()
    return message.status


def _handed_off(message: OutboxMessage, bank_ref: str | None) -> None:
    """On the application's timeline: its bank's system has it (the payload names the application it carries)."""
    application_id = message.payload.get("application_id") if isinstance(message.payload, dict) else None
    if isinstance(application_id, int) and db.session.get(Application, application_id) is not None:
        timeline.record(timeline.HANDED_OFF, by=None, application_id=application_id, bank=message.bank.name,
                        bank_ref=bank_ref)


def _die(message: OutboxMessage, now: dt.datetime, error: str | None) -> None:
    message.status, message.dead_at, message.last_error = MessageStatus.DEAD, now, error


def backoff(tries: int, rng: random.Random | None = None) -> dt.timedelta:
    """The wait after the `tries`-th failed try: base × 2^(tries−1), capped, of which a random half ("equal
    jitter"), so that messages failing together do not retry together."""
    config = current_app.config
    ceiling = min(config["OUTBOX_BACKOFF_CAP_S"], config["OUTBOX_BACKOFF_BASE_S"] * 2 ** (tries - 1))
    return dt.timedelta(seconds=ceiling / 2 + (rng or random).uniform(0, ceiling / 2))


def redrive(message: OutboxMessage, user: User) -> OutboxMessage:
    """Give a dead message a new round of tries, now; the caller commits. Locked first: a second re-drive waits,
    then finds it pending and is refused."""
    db.lock(message)
    if message.status is not MessageStatus.DEAD:
        raise Conflict(_("Only a dead message can be re-driven; message %(id)d is %(status)s.",
                         id=message.id, status=state_word(message.status)))
    message.status, message.attempts, message.next_attempt_at = MessageStatus.PENDING, 0, db.utcnow()
    message.redrives += 1
    message.redriven_by_id, message.redriven_at = user.id, db.utcnow()
    db.session.flush()
    audit.record("outbox_message.redriven", "outbox_message", message.id, {"redrives": message.redrives})
    return message
