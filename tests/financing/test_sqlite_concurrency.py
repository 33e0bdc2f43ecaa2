"""The demo as `make run` serves it — a threaded server on a SQLite file, with the scheduler inside — takes 40
approvals sent at the same moment one after the other: 10 go through, 30 find the quota taken, and none fails
with "database is locked" (issue 18).

The server is a real one in its own process, so the world is built and committed in the file beforehand."""

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from flask_migrate import upgrade
from sqlalchemy import select

from marketplace import create_app, db
from marketplace.auth.models import User
from marketplace.auth.services import issue_token
from tests.bank_systems.test_demo_live import free_port
from tests.guarantees.test_quota_concurrency import AMOUNT, APPROVALS, world_with_routed_applications

pytestmark = pytest.mark.skipif(os.environ.get("MARKETPLACE_TEST_DB", "sqlite") != "sqlite",
                                reason="the demo runs on SQLite; runs in the SQLite pass")


@pytest.fixture
def demo_race(tmp_path: Path):
    """A served SQLite file holding an agreement with room for 10 loans and 40 applications routed to its bank."""
    url = f"sqlite:///{tmp_path / 'race.db'}"
    app = create_app({"PROFILE": "demo", "DATABASE_URL": url, "SECRET_KEY": "race"})
    with app.app_context():
        upgrade()
    agreement_id, applications = world_with_routed_applications(app, one_enterprise=False)
    with app.app_context():
        token, _ = issue_token(db.session.scalar(select(User).where(User.username == "race.bank")), 3600)
        db.session.commit()
    db.engine_of(app).dispose()

    port = free_port()
    env = {**os.environ, "FLASK_APP": "wsgi", "MARKETPLACE_PROFILE": "demo", "MARKETPLACE_DATABASE_URL": url}
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "flask", "demo", "serve", "--port", str(port)], env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                requests.get(f"{base}/healthz", timeout=2)
                break
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still starting up
                if server.poll() is not None:
                    pytest.fail(f"the demo server stopped: {(tmp_path / 'server.log').read_text()[-2000:]}")
                time.sleep(0.2)
        else:
            pytest.fail(f"the demo server did not answer: {(tmp_path / 'server.log').read_text()[-2000:]}")
        yield base, agreement_id, applications, {"Authorization": f"Bearer {token}"}
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def test_forty_approvals_at_once_on_the_demo_server_give_ten_loans_and_thirty_conflicts(demo_race):
    base, agreement_id, applications, headers = demo_race
    start = threading.Barrier(APPROVALS)

    def approve(application_id: int) -> int:
        start.wait()
        return requests.post(f"{base}/api/v1/applications/{application_id}/decision",
                             json={"decision": "approved"}, headers=headers, timeout=120).status_code

    with ThreadPoolExecutor(max_workers=APPROVALS) as pool:
        statuses = list(pool.map(approve, applications))

    assert Counter(statuses) == {200: 10, 409: 30}  # no 5xx: none of them met a locked database
    agreement = requests.get(f"{base}/api/v1/agreements/{agreement_id}", headers=headers, timeout=10).json()
    assert Decimal(agreement["quota_reserved"]) == AMOUNT * 10
