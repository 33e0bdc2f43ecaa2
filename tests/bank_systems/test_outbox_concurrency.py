"""On PostgreSQL, with real commits: dispatchers running at the same time never send one message twice (each
claims its messages FOR UPDATE SKIP LOCKED and pushes their next try past the request's time-outs)."""

import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import responses
from flask_migrate import upgrade
from sqlalchemy import func, select

from marketplace import create_app, db
from marketplace.bank_systems.outbox import dispatch
from marketplace.orgs.services import create_bank
from marketplace.outbox import MessageStatus, OutboxMessage, enqueue

pytestmark = pytest.mark.skipif(os.environ.get("MARKETPLACE_TEST_DB", "sqlite") != "postgresql",
                                reason="row locks and concurrent dispatchers are PostgreSQL's; runs in the PostgreSQL "
                                       "pass")

MESSAGES = 40
DISPATCHERS = 4
URL = "https://racing-bank.example/api"


@pytest.fixture(scope="module")
def race_app(databases):
    application = create_app({"PROFILE": "test", "DATABASE_URL": databases.fresh("outbox_race"),
                              "SECRET_KEY": "race"})
    with application.app_context():
        upgrade()
        bank = create_bank("Racing bank", "RACE", api_base_url=URL)
        for n in range(MESSAGES):
            enqueue(bank, "application.submitted", f"race-{n}", "/applications", {"application_id": n})
        db.session.commit()
    yield application
    db.engine_of(application).dispose()


def test_dispatchers_at_the_same_time_send_each_message_once(race_app):
    sent: Counter[str] = Counter()
    lock = threading.Lock()

    def bank_system(request):
        time.sleep(0.01)  # a slow bank keeps the dispatchers overlapping
        with lock:
            sent[request.headers["Idempotency-Key"]] += 1
        return 201, {}, "{}"

    def dispatcher(_n: int) -> int:
        delivered = 0
        with race_app.app_context():
            while (report := dispatch(limit=5)).sent:
                delivered += len(report.delivered)
        return delivered

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, f"{URL}/applications", callback=bank_system)
        with ThreadPoolExecutor(DISPATCHERS) as pool:
            delivered = list(pool.map(dispatcher, range(DISPATCHERS)))

    assert sum(delivered) == MESSAGES
    assert sorted(sent) == sorted(f"race-{n}" for n in range(MESSAGES)) and set(sent.values()) == {1}
    assert sum(1 for d in delivered if d) > 1  # the work was shared, not done by one dispatcher alone
    with race_app.app_context():
        statuses = db.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
    assert statuses == [(MessageStatus.DELIVERED, MESSAGES)]
