"""The demo as `make run` serves it: a real server with the scheduler inside, on a fresh SQLite file. An enterprise
selects a sandbox-bank offer and, with no further action, the application is approved and the loan disbursed
within a minute (the outbox hands it over, the sandbox bank decides and calls back, all over HTTP)."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.skipif(os.environ.get("MARKETPLACE_TEST_DB", "sqlite") != "sqlite",
                                reason="the demo runs on SQLite; runs in the SQLite pass")
FLASK = [sys.executable, "-m", "flask"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def demo_server(tmp_path: Path):
    port = free_port()
    env = {**os.environ, "FLASK_APP": "wsgi", "MARKETPLACE_PROFILE": "demo",
           "MARKETPLACE_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"}
    for command in (["db", "upgrade"], ["demo", "seed"]):
        subprocess.run([*FLASK, *command], env=env, check=True, capture_output=True, timeout=120)
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen([*FLASK, "demo", "serve", "--port", str(port)], env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/healthz", timeout=2)
                break
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still starting on a busy CPU
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def test_a_sandbox_bank_offer_is_approved_and_disbursed_within_a_minute(demo_server):
    token = requests.post(f"{demo_server}/api/v1/auth/token",
                          json={"username": "enterprise", "password": "demo-password"}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    request = requests.post(f"{demo_server}/api/v1/financing-requests", headers=headers, json={
        "amount": "2000000.00", "term_months": 12, "purpose": "Working capital"}).json()
    offer = next(o for o in request["offers"] if o["bank_name"] == "沙箱银行（系统自动审批）")
    started = time.monotonic()
    routed = requests.post(f"{demo_server}/api/v1/financing-requests/{request['id']}/select", headers=headers,
                           json={"offer_id": offer["id"]})
    assert routed.status_code == 200

    loan = None
    while time.monotonic() - started < 60:
        application = requests.get(f"{demo_server}/api/v1/financing-requests/{request['id']}",
                                   headers=headers).json()["application"]
        if application["loan_id"]:
            loan = requests.get(f"{demo_server}/api/v1/loans/{application['loan_id']}", headers=headers).json()
            if loan["status"] == "disbursed":
                break
        time.sleep(1)
    assert loan is not None and loan["status"] == "disbursed", loan
    assert loan["principal"] == "2000000.00"
    assert time.monotonic() - started < 60
