"""End to end in headless Chromium: a bank officer's product form keeps what was typed on a validation
error, then saves a draft and publishes it.

The real app runs as a subprocess (`flask run`) against a fresh database made for this test, migrated and
seeded with the demo world the same way an operator would do it.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "test-output" / "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
STARTUP_TIMEOUT_S = 30

pytestmark = pytest.mark.browser


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
def live_server(databases, tmp_path: Path) -> Iterator[str]:
    """The app on a free port over a fresh, migrated, demo-seeded database; yields its base URL."""
    env = os.environ.copy()
    env.update({
        "MARKETPLACE_DATABASE_URL": databases.fresh("browser"),
        "MARKETPLACE_PROFILE": "demo",
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


def test_bank_officer_fixes_an_inline_error_then_publishes(live_server: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            try:
                _drive(page, live_server)
            except BaseException:
                try:
                    page.screenshot(path=SCREENSHOTS / "failure.png", full_page=True)
                except Exception:  # the original failure matters more than the screenshot
                    pass
                raise
        finally:
            browser.close()


def _drive(page, base_url: str) -> None:
    # Sign in as the demo bank officer; a bank lands on its own products.
    page.goto(f"{base_url}/login")
    page.fill("#username", "bank")
    page.fill("#password", "demo-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/bank/products$"))
    expect(page.get_by_role("heading", name="My products")).to_be_visible()

    # A new product whose minimum amount is above its maximum.
    page.get_by_role("link", name="New product").click()
    expect(page).to_have_url(re.compile(r"/bank/products/new$"))
    page.fill("#name", "Browser Test Loan")
    page.select_option("#product_type", "credit")
    page.fill("#amount_min", "5000000.00")
    page.fill("#amount_max", "1000000.00")
    page.fill("#term_min_months", "6")
    page.fill("#term_max_months", "24")
    page.fill("#rate_spread_bp", "25")
    for tier in ("srdi", "little_giant"):
        expect(page.locator(f"input[name=eligible_tiers][value={tier}]")).to_be_checked()
    page.get_by_role("button", name="Save draft").click()

    # The form comes back with the error next to the field and everything typed still there.
    expect(page).to_have_url(re.compile(r"/bank/products/new$"))
    expect(page.locator("form.card")).to_be_visible()
    expect(page.locator("#amount_min-error")).to_contain_text("cannot be above the maximum")
    expect(page.locator("#amount_min")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#name")).to_have_value("Browser Test Loan")
    expect(page.locator("#product_type")).to_have_value("credit")
    expect(page.locator("#amount_min")).to_have_value("5000000.00")
    expect(page.locator("#amount_max")).to_have_value("1000000.00")
    expect(page.locator("#term_max_months")).to_have_value("24")
    for tier in ("srdi", "little_giant"):
        expect(page.locator(f"input[name=eligible_tiers][value={tier}]")).to_be_checked()
    page.screenshot(path=SCREENSHOTS / "01-inline-error.png", full_page=True)

    # Corrected, it saves as a draft.
    page.fill("#amount_max", "8000000.00")
    page.get_by_role("button", name="Save draft").click()
    expect(page).to_have_url(re.compile(r"/bank/products$"))
    row = page.locator("tr").filter(has_text="Browser Test Loan")
    expect(row).to_have_count(1)
    expect(row.locator(".status")).to_have_text("Draft")

    # Published from its row.
    row.get_by_role("button", name="Publish").click()
    expect(page).to_have_url(re.compile(r"/bank/products$"))
    expect(row.locator(".status")).to_have_text("Published")
    expect(page.locator(".flash")).to_contain_text("is now published")
    page.screenshot(path=SCREENSHOTS / "02-published.png", full_page=True)
