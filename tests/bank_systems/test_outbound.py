"""The outbox is no way into the marketplace's own network (issue 21, SSRF): it never follows a redirect, and in
production a bank's system is https at a public address, checked when the address is saved and before each call;
MARKETPLACE_OUTBOUND_ALLOW_PRIVATE lifts the address check (the demo and test profiles set it)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from marketplace import create_app, db
from marketplace.orgs.models import Bank
from marketplace.outbox import AttemptOutcome, MessageStatus
from tests.bank_systems.conftest import run
from tests.bank_systems.test_outbox import message_of, outcomes


class Listener:
    """A local HTTP server that records what it is sent and answers each POST with `status` (and `location`)."""

    def __init__(self, status: int = 201, location: str | None = None) -> None:
        self.requests: list[tuple[str, bytes]] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                listener.requests.append((self.path, body))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"bank_ref": "LOCAL-1"}')

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listeners() -> Iterator[list[Listener]]:
    made: list[Listener] = []
    yield made
    for listener in made:
        listener.close()


def wire(app, world, url: str) -> None:
    with app.app_context():
        db.session.get(Bank, world.bank.id).api_base_url = url
        db.session.commit()


def test_a_bank_system_answering_307_to_another_local_listener_leaves_it_with_no_request(app, world, route,
                                                                                        listeners):
    inside = Listener()  # stands for an internal service
    bank = Listener(status=307, location=f"{inside.url}/admin/secrets")
    listeners += [inside, bank]
    wire(app, world, bank.url)
    routed = route()

    report = run(app)

    assert [path for path, _body in bank.requests] == ["/applications"]
    assert inside.requests == []  # the enterprise's name and USCC went nowhere else
    message = message_of(app, routed)
    assert report.dead == [message.id] and message.status is MessageStatus.DEAD
    assert outcomes(message) == [AttemptOutcome.REFUSED]
    assert "307" in message.last_error and "not followed" in message.last_error


@pytest.fixture
def production(tmp_path):
    """The app as production runs it (its own SQLite file), with or without private addresses allowed."""

    def make(**config):
        return create_app({"PROFILE": "production", "SECRET_KEY": "x" * 32, "TESTING": True,
                           "BABEL_DEFAULT_LOCALE": "en", "DATABASE_URL": f"sqlite:///{tmp_path / 'production.db'}",
                           **config})

    return make


@pytest.mark.parametrize(("url", "allowed"), [
    ("http://bank.example.com/api", "https only"),
    ("https://127.0.0.1:8443/api", "private or reserved"),
    ("https://10.1.2.3/api", "private or reserved"),
    ("https://169.254.169.254/latest/meta-data", "private or reserved"),
    ("https://[::1]/api", "private or reserved"),
    ("https://[::ffff:192.168.0.1]/api", "private or reserved"),
    ("https://localhost/api", "private or reserved"),
    ("https://no-such-host.invalid/api", "does not resolve"),
])
def test_production_refuses_a_bank_address_it_must_not_call(production, url, allowed):
    from marketplace import outbound

    app = production()
    with app.app_context():
        assert allowed in outbound.refusal(url)


def test_production_calls_a_public_https_address_and_the_switch_lifts_the_address_check(production, monkeypatch):
    from marketplace import outbound

    public = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: public)
    with production().app_context():
        assert outbound.refusal("https://bank.example.com/api") is None
    with production(OUTBOUND_ALLOW_PRIVATE=True).app_context():
        assert outbound.refusal("https://10.1.2.3/api") is None
        assert outbound.refusal("http://10.1.2.3/api") == "A bank's system is called over https only."


def test_a_private_address_is_refused_when_the_bank_is_saved_and_again_when_it_is_called(app, world, route,
                                                                                       as_role, listeners,
                                                                                       monkeypatch):
    monkeypatch.setitem(app.config, "OUTBOUND_ALLOW_PRIVATE", False)
    saved = as_role("admin").post("/api/v1/banks", json={
        "name": "Inner Bank", "code": "INNER", "api_base_url": "http://127.0.0.1:9/api"})
    assert saved.status_code == 422 and list(saved.json["errors"]) == ["api_base_url"]
    assert "127.0.0.1" in saved.json["errors"]["api_base_url"][0]
    assert all(b["code"] != "INNER" for b in as_role("admin").get("/api/v1/banks?page_size=100").json)

    # An address saved before (or a name that now resolves inside): the outbox checks again and does not call it.
    inside = Listener()
    listeners.append(inside)
    wire(app, world, inside.url)
    routed = route()
    run(app)
    assert inside.requests == []
    message = message_of(app, routed)
    assert message.status is MessageStatus.DEAD and outcomes(message) == [AttemptOutcome.REFUSED]
    assert message.last_error.startswith("not called: 127.0.0.1 resolves to 127.0.0.1")
