"""Hand-offs to banks' systems: one outbox message per routed application, delivered once whatever the network
does (banks mocked with `responses`)."""

import datetime as dt
import json
import random

import requests
import responses
from responses.registries import OrderedRegistry
from sqlalchemy import func, select

from marketplace import db
from marketplace.bank_systems.callbacks import sign
from marketplace.bank_systems.outbox import backoff
from marketplace.orgs.models import Bank
from marketplace.outbox import AttemptOutcome, MessageStatus, OutboxMessage
from tests.bank_systems.conftest import APPLICATIONS, due_now, run


def message_of(app, application_id):
    with app.app_context():
        message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == str(application_id)))
        db.session.expunge_all()
        return message


def outcomes(message):
    return [attempt.outcome for attempt in message.attempt_log]


def count_messages(app):
    with app.app_context():
        return db.session.scalar(select(func.count(OutboxMessage.id)))


# Enqueueing ---------------------------------------------------------------------------------------------------

def test_routing_to_a_bank_with_a_system_queues_one_hand_off(app, wired, route):
    routed = route()
    message = message_of(app, routed)
    assert message.status is MessageStatus.PENDING and message.attempts == 0
    assert message.path == "/applications" and message.bank_id == wired.id
    assert message.payload["application_id"] == routed
    assert message.payload["request"]["amount"] == "2000000.00"
    assert message.payload["enterprise"]["tier"] == "srdi"
    assert message.payload["offer"]["product_name"] == "Plain credit"


def test_a_bank_without_a_system_gets_no_message(app, world, route):
    route()
    assert count_messages(app) == 0


# Delivery -----------------------------------------------------------------------------------------------------

@responses.activate
def test_success_is_one_delivery(app, wired, route):
    routed = route()
    responses.post(APPLICATIONS, json={"bank_ref": "B-1001"}, status=201)

    report = run(app)
    assert report.delivered and not report.retrying and not report.dead
    assert len(responses.calls) == 1
    sent = responses.calls[0].request
    assert sent.headers["Idempotency-Key"] == str(routed)
    assert json.loads(sent.body)["application_id"] == routed
    # Signed as a bank signs its callbacks, under its secret: the bank can tell the hand-off comes from us.
    with app.app_context():
        secret = db.session.get(Bank, wired.id).callback_secret
    assert sent.headers["X-Signature"] == sign(secret, sent.headers["X-Timestamp"], sent.body)
    message = message_of(app, routed)
    assert message.status is MessageStatus.DELIVERED and message.bank_ref == "B-1001"
    assert outcomes(message) == [AttemptOutcome.DELIVERED]

    due_now(app)
    assert run(app).sent == 0
    assert len(responses.calls) == 1


@responses.activate(registry=OrderedRegistry)
def test_a_time_out_then_success_is_delivered_once(app, wired, route):
    routed = route()
    responses.post(APPLICATIONS, body=requests.exceptions.ReadTimeout("read timed out"))
    responses.post(APPLICATIONS, json={"bank_ref": "B-7"}, status=200)

    assert run(app).retrying
    message = message_of(app, routed)
    assert message.status is MessageStatus.PENDING and "timed out" in message.last_error
    assert message.next_attempt_at > dt.datetime.now(dt.UTC)  # not before its back-off

    assert run(app).sent == 0  # not due yet
    due_now(app)
    assert run(app).delivered
    message = message_of(app, routed)
    assert len(responses.calls) == 2
    assert {call.request.headers["Idempotency-Key"] for call in responses.calls} == {str(routed)}
    assert message.status is MessageStatus.DELIVERED
    assert outcomes(message).count(AttemptOutcome.DELIVERED) == 1
    assert outcomes(message) == [AttemptOutcome.RETRY, AttemptOutcome.DELIVERED]


@responses.activate(registry=OrderedRegistry)
def test_three_500s_then_success(app, wired, route):
    routed = route()
    for _ in range(3):
        responses.post(APPLICATIONS, json={"error": "busy"}, status=500)
    responses.post(APPLICATIONS, json={}, status=200)

    for _ in range(4):
        due_now(app)
        run(app)
    message = message_of(app, routed)
    assert len(responses.calls) == 4
    assert message.status is MessageStatus.DELIVERED and message.bank_ref is None
    assert outcomes(message) == [AttemptOutcome.RETRY] * 3 + [AttemptOutcome.DELIVERED]
    assert [a.status_code for a in message.attempt_log] == [500, 500, 500, 200]


@responses.activate
def test_a_400_is_dead_at_once(app, wired, route):
    routed = route()
    responses.post(APPLICATIONS, json={"error": "unknown product"}, status=400)

    assert run(app).dead
    for _ in range(3):
        due_now(app)
        assert run(app).sent == 0
    message = message_of(app, routed)
    assert len(responses.calls) == 1
    assert message.status is MessageStatus.DEAD and message.dead_at is not None
    assert "HTTP 400" in message.last_error and "unknown product" in message.last_error
    assert outcomes(message) == [AttemptOutcome.REFUSED]


@responses.activate
def test_malformed_json_from_the_bank_is_still_a_delivery(app, wired, route):
    routed = route()
    responses.post(APPLICATIONS, body="<html>OK</html>", status=200, content_type="application/json")

    assert run(app).delivered
    message = message_of(app, routed)
    assert len(responses.calls) == 1
    assert message.status is MessageStatus.DELIVERED and message.bank_ref is None
    assert "not JSON" in message.last_error


@responses.activate
def test_connection_refused_retries_then_dies_after_eight_tries(app, wired, route):
    routed = route()
    responses.post(APPLICATIONS, body=requests.exceptions.ConnectionError("Connection refused"))

    for _ in range(12):
        due_now(app)
        run(app)
    message = message_of(app, routed)
    assert len(responses.calls) == 8
    assert message.status is MessageStatus.DEAD and "Connection refused" in message.last_error
    assert outcomes(message) == [AttemptOutcome.RETRY] * 8
    assert [a.number for a in message.attempt_log] == list(range(1, 9))


@responses.activate
def test_no_message_is_lost_whatever_the_banks_answer(app, wired, route):
    answers = [requests.exceptions.ConnectTimeout("connect timed out"), 503, 200, 404,
               requests.exceptions.ConnectionError("reset")]
    ids = [route() for _ in answers]
    calls = iter(answers * 20)

    def reply(_request):
        answer = next(calls)
        if isinstance(answer, Exception):
            raise answer
        return answer, {}, "{}"

    responses.add_callback(responses.POST, APPLICATIONS, callback=reply)
    for _ in range(10):
        due_now(app)
        run(app)
    with app.app_context():
        statuses = dict(db.session.execute(select(OutboxMessage.idempotency_key, OutboxMessage.status)).all())
    assert sorted(statuses) == sorted(str(i) for i in ids)  # one message per application, none lost
    assert set(statuses.values()) <= {MessageStatus.DELIVERED, MessageStatus.DEAD}


# Back-off -----------------------------------------------------------------------------------------------------

def test_back_off_doubles_with_jitter_and_a_cap(app):
    with app.app_context():
        rng = random.Random(3)
        waits = [[backoff(tries, rng).total_seconds() for _ in range(200)] for tries in (1, 2, 3, 12)]
    base = app.config["OUTBOX_BACKOFF_BASE_S"]
    for tries, seen in zip((1, 2, 3), waits, strict=False):
        ceiling = base * 2 ** (tries - 1)
        assert ceiling / 2 <= min(seen) and max(seen) <= ceiling
        assert len(set(seen)) > 100  # jittered, not one value
    assert max(waits[3]) <= app.config["OUTBOX_BACKOFF_CAP_S"]


# Re-driving ---------------------------------------------------------------------------------------------------

@responses.activate(registry=OrderedRegistry)
def test_an_admin_re_drives_a_dead_message(app, wired, route, as_role):
    routed = route()
    responses.post(APPLICATIONS, json={"error": "bank closed for the night"}, status=400)
    responses.post(APPLICATIONS, json={"bank_ref": "B-9"}, status=201)
    run(app)
    admin = as_role("admin")

    dead = admin.get("/api/v1/outbox?status=dead")
    assert dead.status_code == 200 and [m["idempotency_key"] for m in dead.json] == [str(routed)]
    message_id = dead.json[0]["id"]
    assert as_role("bank").post(f"/api/v1/outbox/{message_id}/redrive").status_code == 403

    redriven = admin.post(f"/api/v1/outbox/{message_id}/redrive")
    assert redriven.status_code == 200, redriven.json
    assert redriven.json["status"] == "pending" and redriven.json["redrives"] == 1
    assert admin.post(f"/api/v1/outbox/{message_id}/redrive").status_code == 409

    assert run(app).delivered
    shown = admin.get(f"/api/v1/outbox/{message_id}").json
    assert shown["status"] == "delivered" and shown["bank_ref"] == "B-9"
    assert [(a["round"], a["number"], a["outcome"]) for a in shown["attempt_log"]] == [
        (0, 1, "refused"), (1, 1, "delivered")]
    assert len(responses.calls) == 2
    assert admin.get("/api/v1/outbox/999999").status_code == 404
    assert admin.get("/api/v1/outbox?status=lost").status_code == 422
