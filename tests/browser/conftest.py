"""Shared by the browser tests: the real app as a subprocess over a fresh database, and headless Chromium.

`live_server` runs `flask db upgrade`, `flask demo seed` and `flask run` on a free port against a database made for
the one test, the same way an operator would; `browser_page` is a Playwright page in Debian's Chromium that
leaves a full-page screenshot in test-output/browser/ when the test fails.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, sync_playwright

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "test-output" / "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
STARTUP_TIMEOUT_S = 30

# Each live server gets a database of its own, even when several tests in a run use one.
_server_numbers = itertools.count(1)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, server: subprocess.Popen, log_path: Path) -> None:
    def log() -> str:
        return log_path.read_text(errors="replace")

    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited with {server.returncode}:\n{log()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer 200 within {STARTUP_TIMEOUT_S} s:\n{log()}")


@pytest.fixture
def live_server(databases, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The app on a free port over a fresh, migrated, demo-seeded database; yields its base URL. The demo speaks
    Chinese until a user chooses; these tests read English unless parametrized (indirect) with "zh_Hans"."""
    env = os.environ.copy()
    env.update({
        "MARKETPLACE_DATABASE_URL": databases.fresh(f"browser{next(_server_numbers)}"),
        "MARKETPLACE_PROFILE": "demo",
        "MARKETPLACE_BABEL_DEFAULT_LOCALE": getattr(request, "param", "en"),
        "MARKETPLACE_SECRET_KEY": "browser-test",
        "FLASK_APP": "wsgi",
    })
    for command in (["db", "upgrade"], ["demo", "seed"]):
        try:
            subprocess.run([sys.executable, "-m", "flask", *command], cwd=REPO_ROOT, env=env, check=True,
                           capture_output=True, text=True, timeout=120)
        except subprocess.CalledProcessError as error:
            pytest.fail(f"flask {' '.join(command)} failed ({error.returncode}):\n"
                        f"{error.stdout}\n{error.stderr}")

    port = _free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "flask", "run", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            base_url = f"http://127.0.0.1:{port}"
            _wait_healthy(f"{base_url}/healthz", server, log_path)
            yield base_url
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)


@pytest.fixture
def screenshots() -> Path:
    """test-output/browser/, made if missing."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    # Lets `browser_page` see whether the test body failed.
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


_CALL_FAILED = pytest.StashKey[bool]()


class Confirmations:
    """The confirmation dialogs a page showed, in order, and whether the next ones are refused."""

    def __init__(self) -> None:
        self.dialogs: list[str] = []
        self.refuse = False

    def answer(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        if self.refuse:
            dialog.dismiss()
        else:
            dialog.accept()


CONFIRMATIONS = pytest.StashKey[Confirmations]()


@pytest.fixture
def confirmations(request: pytest.FixtureRequest, browser_page: Page) -> Confirmations:
    """The dialogs `browser_page` answered (request browser_page first)."""
    return request.node.stash[CONFIRMATIONS]


@pytest.fixture
def browser_page(request: pytest.FixtureRequest, screenshots: Path) -> Iterator[Page]:
    """A fresh page in headless Chromium; on failure the page is saved as failure-<test name>.png.

    The confirmations of what cannot be undone (confirm.js) are answered as a user who reads them would: each is
    recorded in `dialogs` (see `confirmations`) and accepted, or dismissed while `answers.refuse` is set."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            answers = Confirmations()
            page.on("dialog", answers.answer)
            request.node.stash[CONFIRMATIONS] = answers
            yield page
            if request.node.stash.get(_CALL_FAILED, False):
                try:
                    page.screenshot(path=screenshots / f"failure-{request.node.name}.png", full_page=True)
                except Exception:  # the original failure matters more than the screenshot
                    pass
        finally:
            browser.close()
