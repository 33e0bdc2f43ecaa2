"""Long actions show their progress in headless Chromium (static/progress.js): a bank's product import shows the
upload, then that the rows are being checked, and the answer replaces the page as a normal submission would."""

from __future__ import annotations

import io
import re
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import Page, Route, expect

pytestmark = pytest.mark.browser

COLUMNS = ["name", "product_type", "amount_min", "amount_max", "term_min_months", "term_max_months",
           "rate_spread_bp", "eligible_tiers"]


def _sheet(path: Path) -> Path:
    """Three good rows (2, 3 and 5) and two bad ones (4: an unknown type; 6: minimum above maximum)."""
    book = openpyxl.Workbook()
    book.active.append(COLUMNS)
    book.active.append(["Sheet loan A", "credit", "500000.00", "3000000.00", 6, 24, 25, "srdi"])
    book.active.append(["Sheet loan B", "term", "500000.00", "3000000.00", 12, 36, 30, "srdi,little_giant"])
    book.active.append(["Sheet loan C", "mortgage", "500000.00", "3000000.00", 6, 24, 25, "srdi"])
    book.active.append(["Sheet loan D", "revolving", "300000.00", "1000000.00", 1, 12, 40, "srdi"])
    book.active.append(["Sheet loan E", "credit", "9000000.00", "1000000.00", 6, 24, 25, "srdi"])
    out = io.BytesIO()
    book.save(out)
    path.write_bytes(out.getvalue())
    return path


def test_a_product_import_shows_its_progress_then_its_result(live_server: str, browser_page: Page,
                                                             screenshots: Path, tmp_path: Path) -> None:
    page, base_url = browser_page, live_server
    page.goto(f"{base_url}/login")
    page.fill("#username", "bank")
    page.fill("#password", "demo-password")
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base_url}/bank/products/import")
    box = page.locator("[data-progress-box]")
    expect(box).to_be_hidden()

    seen: list[list] = []

    def watch(route: Route) -> None:
        """What the officer sees while the sheet is with the server."""
        if route.request.method == "POST":
            seen.append(box.evaluate("b => [b.hidden, b.textContent.trim(), b.querySelector('progress').value]"))
            page.screenshot(path=screenshots / "import-progress.png")
        route.continue_()

    page.route("**/bank/products/import", watch)
    page.set_input_files("#file", _sheet(tmp_path / "products.xlsx"))
    page.get_by_role("button", name="Import", exact=True).click()

    expect(page.locator("[data-figure=rows_ok]")).to_have_text("3")
    expect(page.locator("[data-figure=rows_failed]")).to_have_text("2")
    expect(page.locator("tr[data-row]")).to_have_count(2)
    expect(page.locator("tr[data-row='4']")).to_contain_text("product_type")
    expect(page).to_have_url(re.compile(r"/bank/products/import$"))
    page.screenshot(path=screenshots / "import-result.png", full_page=True)
    (hidden, text, _value), = seen  # the upload's share sent, or the rows being checked once it is all up
    assert not hidden and re.match(r"Uploading the file: \d+ %|Checking and importing the rows", text), text

    # The page the answer replaced still works: the products are there to publish.
    page.get_by_role("link", name="Back to my products").click()
    expect(page.locator("tr[data-product-id]")).to_have_count(3 + 4)  # the demo bank's four, and these three
