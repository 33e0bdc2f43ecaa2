"""Notifications by e-mail: queued in the outbox with the change that causes them, sent by the dispatcher over SMTP
to a real SMTP server (aiosmtpd, in this process), once, retried after a 4xx, dead after a 5xx."""

from __future__ import annotations

import email
import email.policy
import socket
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from marketplace import db
from marketplace.auth.models import Role, User
from marketplace.outbox import MAIL, AttemptOutcome, MessageStatus, OutboxMessage
from tests.bank_systems.conftest import PRODUCT, REQUEST, due_now, run
from tests.pages import PASSWORD

OFFICER = "officer@bank-one.example"
UNREAD = "/api/v1/notifications?unread=true"


@dataclass
class Recorder:
    """An SMTP server's DATA handler: answers each DATA with the next of `answers` (then "250 OK"), keeps what it
    accepted and the Message-ID of every try."""

    answers: list[str] = field(default_factory=list)
    received: list[SimpleNamespace] = field(default_factory=list)
    tried: list[str] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        self.tried.append(message["Message-ID"])
        answer = self.answers.pop(0) if self.answers else "250 OK"
        if answer.startswith("250"):
            self.received.append(SimpleNamespace(mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos),
                                                 message=message))
        return answer


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server(app, monkeypatch):
    """smtp_server(*answers) → the Recorder of an SMTP server on 127.0.0.1 that the app now sends its mail to."""
    controllers = []

    def start(*answers: str) -> Recorder:
        recorder = Recorder(list(answers))
        controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
        controller.start()
        controllers.append(controller)
        monkeypatch.setitem(app.config, "SMTP_URL", f"smtp://127.0.0.1:{controller.port}")
        monkeypatch.setitem(app.config, "SMTP_TIMEOUT_S", 5.0)
        return recorder

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def route(as_role):
    """route() → the id of the application made when the enterprise selects the first bank's offer."""
    bank = as_role("bank")
    product = bank.post("/api/v1/products", json=PRODUCT)
    assert product.status_code == 201, product.json
    assert bank.post(f"/api/v1/products/{product.json['id']}/publish").status_code == 200
    enterprise = as_role("enterprise")

    def make() -> int:
        request = enterprise.post("/api/v1/financing-requests", json=REQUEST).json
        response = enterprise.post(f"/api/v1/financing-requests/{request['id']}/select",
                                   json={"offer_id": request["offers"][0]["id"]})
        assert response.status_code == 200, response.json
        return response.json["application"]["id"]

    return make


def set_email(api, address: str | None, wanted: bool = True) -> None:
    response = api.patch("/api/v1/auth/me", json={"email": address, "email_notifications": wanted})
    assert response.status_code == 200, response.json
    assert response.json["email"] == address and response.json["email_notifications"] is wanted


def mails(app) -> list[OutboxMessage]:
    with app.app_context():
        found = db.session.scalars(select(OutboxMessage).where(OutboxMessage.topic == MAIL)
                                   .order_by(OutboxMessage.id)).all()
        db.session.expunge_all()
        return found


def the_mail(app) -> OutboxMessage:
    [message] = mails(app)
    return message


def outcomes(message: OutboxMessage) -> list[AttemptOutcome]:
    return [attempt.outcome for attempt in message.attempt_log]


# Delivered once ------------------------------------------------------------------------------------------------

def test_a_new_application_is_mailed_to_the_bank_officer_once(app, world, as_role, smtp_server, route):
    server = smtp_server()
    bank = as_role("bank")
    set_email(bank, OFFICER)
    application_id = route()

    [notification] = bank.get(UNREAD).json
    queued = the_mail(app)
    assert queued.status is MessageStatus.PENDING and queued.attempts == 0 and queued.bank_id is None
    assert queued.path == OFFICER and queued.idempotency_key == f"notification:{notification['id']}"
    assert server.received == []  # nothing is sent before the dispatcher runs

    report = run(app)
    assert report.delivered == [queued.id] and not report.retrying and not report.dead
    assert len(server.received) == 1
    [mail] = server.received
    assert mail.rcpt_tos == [OFFICER]
    assert mail.mail_from == app.config["MAIL_FROM"] == mail.message["From"]
    assert mail.message["To"] == OFFICER
    assert mail.message["Subject"] == notification["title"]
    assert mail.message["Subject"] == f"New application {application_id} from {world.enterprise.name}"
    assert mail.message["Message-ID"] == f"<outbox-{queued.id}@srdi-marketplace.example>"
    assert mail.message["Date"]
    text = mail.message.get_content()
    assert notification["body"] in text
    assert f"Open it in the marketplace: http://127.0.0.1:5000/bank/applications/{application_id}" in text

    delivered = the_mail(app)
    assert delivered.status is MessageStatus.DELIVERED and delivered.delivered_at is not None
    assert outcomes(delivered) == [AttemptOutcome.DELIVERED] and delivered.attempt_log[0].status_code == 250

    assert run(app).sent == 0
    due_now(app)
    assert run(app).sent == 0
    assert len(server.received) == 1


def test_the_mail_link_uses_the_site_url(app, as_role, monkeypatch, smtp_server, route):
    server = smtp_server()
    monkeypatch.setitem(app.config, "SITE_URL", "https://marketplace.example.gov.cn/")
    set_email(as_role("bank"), OFFICER)
    application_id = route()
    run(app)
    [mail] = server.received
    assert f"https://marketplace.example.gov.cn/bank/applications/{application_id}" in mail.message.get_content()


def test_each_mail_says_which_language_it_is_in(app, world, as_role, login_api, make, smtp_server, route):
    """Content-Language follows the recipient's language: zh-CN for a zh_Hans user, en for an English one."""
    server = smtp_server()
    set_email(as_role("bank"), OFFICER)
    chinese = make.user(Role.BANK, world.bank.id)
    set_email(login_api(chinese), "chinese@bank-one.example")
    with app.app_context():
        db.session.get(User, chinese.id).locale = "zh_Hans"
        db.session.commit()
    route()
    assert {m.path: m.payload["locale"] for m in mails(app)} == {OFFICER: "en", "chinese@bank-one.example": "zh_Hans"}

    assert len(run(app).delivered) == 2
    by_address = {mail.rcpt_tos[0]: mail.message for mail in server.received}
    [notification] = login_api(chinese).get(UNREAD).json
    assert by_address["chinese@bank-one.example"]["Subject"] == notification["title"]
    assert "的新申请" in notification["title"]
    text = by_address["chinese@bank-one.example"].get_content()
    assert notification["body"] in text and "请在平台中查看：http://127.0.0.1:5000/bank/applications/" in text
    assert "Open it in the marketplace" in by_address[OFFICER].get_content()
    assert by_address[OFFICER]["Content-Language"] == "en"
    assert by_address["chinese@bank-one.example"]["Content-Language"] == "zh-CN"


def test_every_officer_who_wants_mail_gets_their_own(app, world, as_role, login_api, smtp_server, route):
    server = smtp_server()
    set_email(as_role("bank"), OFFICER)
    created = as_role("admin").post("/api/v1/users", json={
        "username": "second.officer", "password": PASSWORD, "role": "bank", "organization_id": world.bank.id,
        "email": "second@bank-one.example"})
    assert created.status_code == 201, created.json
    assert created.json["email"] == "second@bank-one.example" and created.json["email_notifications"] is True
    route()

    assert sorted(m.path for m in mails(app)) == sorted([OFFICER, "second@bank-one.example"])
    assert len(run(app).delivered) == 2
    assert sorted(r for mail in server.received for r in mail.rcpt_tos) == sorted(
        [OFFICER, "second@bank-one.example"])
    assert len({mail.message["Message-ID"] for mail in server.received}) == 2
    second = login_api(SimpleNamespace(username="second.officer"))
    assert {mail.message["Subject"] for mail in server.received} == {second.get(UNREAD).json[0]["title"]}


# Retried after a 4xx, dead after a 5xx ------------------------------------------------------------------------------

def test_a_451_is_retried_and_then_delivered_once(app, as_role, smtp_server, route):
    server = smtp_server("451 4.3.0 try again later")
    set_email(as_role("bank"), OFFICER)
    route()
    queued = the_mail(app)

    report = run(app)
    assert report.retrying == [queued.id] and not report.delivered and not report.dead
    assert server.received == [] and len(server.tried) == 1
    waiting = the_mail(app)
    assert waiting.status is MessageStatus.PENDING and waiting.attempts == 1
    assert "451" in waiting.last_error and "try again later" in waiting.last_error
    assert outcomes(waiting) == [AttemptOutcome.RETRY] and waiting.attempt_log[0].status_code == 451
    assert waiting.next_attempt_at > db.utcnow()  # backing off

    assert run(app).sent == 0  # not due yet
    assert len(server.tried) == 1

    due_now(app)
    assert run(app).delivered == [queued.id]
    assert len(server.received) == 1 and server.received[0].rcpt_tos == [OFFICER]
    assert len(server.tried) == 2 and server.tried[0] == server.tried[1]  # the same Message-ID on every try
    delivered = the_mail(app)
    assert delivered.status is MessageStatus.DELIVERED and delivered.attempts == 2
    assert outcomes(delivered) == [AttemptOutcome.RETRY, AttemptOutcome.DELIVERED]

    due_now(app)
    assert run(app).sent == 0
    assert len(server.received) == 1 and len(server.tried) == 2


def test_a_550_is_dead_at_once(app, as_role, smtp_server, route):
    server = smtp_server("550 5.1.1 no such mailbox")
    set_email(as_role("bank"), OFFICER)
    route()
    queued = the_mail(app)

    assert run(app).dead == [queued.id]
    for _ in range(3):
        due_now(app)
        assert run(app).sent == 0
    assert server.received == [] and len(server.tried) == 1
    dead = the_mail(app)
    assert dead.status is MessageStatus.DEAD and dead.dead_at is not None and dead.attempts == 1
    assert "550" in dead.last_error and "no such mailbox" in dead.last_error
    assert outcomes(dead) == [AttemptOutcome.REFUSED] and dead.attempt_log[0].status_code == 550


def test_no_smtp_server_listening_is_retried(app, as_role, monkeypatch, route):
    monkeypatch.setitem(app.config, "SMTP_URL", f"smtp://127.0.0.1:{free_port()}")  # nothing listens there
    set_email(as_role("bank"), OFFICER)
    route()
    report = run(app)
    assert len(report.retrying) == 1
    waiting = the_mail(app)
    assert waiting.status is MessageStatus.PENDING and waiting.attempts == 1
    assert waiting.last_error.startswith("SMTP failed")


# Who gets no mail ------------------------------------------------------------------------------------------------

def test_a_user_who_turned_mail_off_is_told_in_the_app_only(app, world, as_role, smtp_server, route):
    server = smtp_server()
    bank = as_role("bank")
    set_email(bank, OFFICER, wanted=False)
    application_id = route()

    [notification] = bank.get(UNREAD).json
    assert notification["link"] == f"/bank/applications/{application_id}"
    assert mails(app) == []
    assert run(app).sent == 0
    assert server.received == [] and server.tried == []


def test_a_user_without_an_address_gets_no_mail(app, as_role, smtp_server, route):
    server = smtp_server()
    assert as_role("bank").get("/api/v1/auth/me").json["email"] is None
    route()
    assert len(as_role("bank").get(UNREAD).json) == 1
    assert mails(app) == []
    assert run(app).sent == 0 and server.tried == []


def test_without_smtp_the_test_profile_queues_no_mail(app, as_role, monkeypatch, route):
    monkeypatch.setitem(app.config, "SMTP_URL", None)
    assert app.config["PROFILE"] == "test"
    bank = as_role("bank")
    set_email(bank, OFFICER)
    route()

    assert len(bank.get(UNREAD).json) == 1  # told in the app all the same
    assert mails(app) == []
    assert run(app).sent == 0
