"""A batch downloads as XLSX or CSV: its items and a totals row that equal the API's count and amount."""

import csv
import io
from decimal import Decimal

import openpyxl

from guarantees.reports import BATCH_EXPORT_COLUMNS
from tests.guarantees.test_batches_api import open_batch
from tests.pages import sign_in


def test_a_batch_xlsx_opens_with_openpyxl_and_its_totals_equal_the_apis(as_role, active_agreement, approve):
    agreement = active_agreement()
    approve("1000000.00")
    approve("1234567.89", who="enterprise2")
    approve("765432.11")
    batch_id = open_batch(as_role, agreement["id"])["id"]
    api = as_role("agency").get(f"/api/v1/batches/{batch_id}").json

    response = as_role("agency").get(f"/api/v1/batches/{batch_id}/export", query_string={"format": "xlsx"})

    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == f"attachment; filename=batch_{batch_id}.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    header, *items, totals = list(sheet.values)
    assert header == BATCH_EXPORT_COLUMNS
    assert [row[0] for row in items] == [item["guarantee_id"] for item in api["items"]]
    assert len(items) == api["item_count"] == 3
    amount = BATCH_EXPORT_COLUMNS.index("amount")
    assert Decimal(str(totals[amount])).quantize(Decimal("0.01")) == Decimal(api["total_amount"]) == Decimal(
        "3000000.00")
    assert sum(Decimal(str(row[amount])) for row in items) == Decimal(api["total_amount"])
    assert totals[0] == "Total" and totals[3] == "3 items"
    assert sheet.cell(row=2, column=amount + 1).number_format == "#,##0.00"


def test_a_batch_csv_has_the_same_rows_in_utf8_with_a_bom(as_role, active_agreement, approve):
    agreement = active_agreement()
    approve("2000000.00")
    batch_id = open_batch(as_role, agreement["id"])["id"]

    response = as_role("agency").get(f"/api/v1/batches/{batch_id}/export")

    assert response.mimetype == "text/csv" and response.data.startswith("\ufeff".encode())
    header, item, totals = csv.reader(io.StringIO(response.data.decode("utf-8-sig")))
    assert tuple(header) == BATCH_EXPORT_COLUMNS
    assert item[BATCH_EXPORT_COLUMNS.index("amount")] == "2000000.00" and item[-2] == "pending"
    assert totals[BATCH_EXPORT_COLUMNS.index("amount")] == "2000000.00"


def test_only_the_batchs_agency_and_the_admin_can_download_it(as_role, active_agreement, approve, make, login_api):
    from marketplace.auth.models import Role

    agreement = active_agreement()
    approve("1000000.00")
    batch_id = open_batch(as_role, agreement["id"])["id"]
    other_agency = login_api(make.user(Role.AGENCY, make.agency().id))

    assert as_role("admin").get(f"/api/v1/batches/{batch_id}/export").status_code == 200
    assert other_agency.get(f"/api/v1/batches/{batch_id}/export").status_code == 404
    assert as_role("bank").get(f"/api/v1/batches/{batch_id}/export").status_code == 403
    assert as_role("agency").get(f"/api/v1/batches/{batch_id}/export?format=pdf").status_code == 422


def test_the_batch_page_links_its_downloads(app, world, as_role, active_agreement, approve):
    agreement = active_agreement()
    approve("1000000.00")
    batch_id = open_batch(as_role, agreement["id"])["id"]
    browser = sign_in(app, world.agency_user)

    page = browser.get(f"/agency/batches/{batch_id}").text
    download = browser.get(f"/agency/batches/{batch_id}/export.xlsx")

    assert f"/agency/batches/{batch_id}/export.xlsx" in page and f"/agency/batches/{batch_id}/export.csv" in page
    assert download.status_code == 200
    rows = list(openpyxl.load_workbook(io.BytesIO(download.data)).active.values)
    assert len(rows) == 1 + 1 + 1


def test_an_exclusion_reason_written_as_a_formula_exports_as_inert_text(as_role, active_agreement, approve):
    """Issue 21: what the agency types as its reason reaches the export as text, never a live formula."""
    agreement = active_agreement()
    approve("1000000.00")
    batch_id = open_batch(as_role, agreement["id"])["id"]
    agency = as_role("agency")
    agency.post(f"/api/v1/batches/{batch_id}/submit")
    guarantee_id = agency.get(f"/api/v1/batches/{batch_id}").json["items"][0]["guarantee_id"]
    reason = "=1+cmd|' /C calc'!A0"
    decided = agency.post(f"/api/v1/batches/{batch_id}/decision",
                          json={"exclusions": [{"guarantee_id": guarantee_id, "reason": reason}]})
    assert decided.status_code == 200, decided.json

    column = BATCH_EXPORT_COLUMNS.index("reason")
    sheet = openpyxl.load_workbook(io.BytesIO(agency.get(f"/api/v1/batches/{batch_id}/export",
                                                         query_string={"format": "xlsx"}).data)).active
    cell = sheet.cell(row=2, column=column + 1)
    assert (cell.value, cell.data_type) == (reason, "s")
    _header, item, _totals = csv.reader(io.StringIO(agency.get(f"/api/v1/batches/{batch_id}/export").data
                                                    .decode("utf-8-sig")))
    assert item[column] == "'" + reason
