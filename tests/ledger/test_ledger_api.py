"""The ledger over the API: the journal by reference, an account's entries, exports, reversals, and each party
reading only its own accounts."""

import csv
import io

import openpyxl
import pytest


@pytest.fixture
def disbursed(scheme, as_role):
    made = scheme(loans=1)
    loan_id = made["loans"][0]
    as_role("bank").post(f"/api/v1/loans/{loan_id}/events", json={"type": "disbursed", "occurred_on": "2026-03-02"})
    return loan_id


def test_the_journal_by_reference_shows_the_fee_entry_and_its_postings(as_role, disbursed):
    (entry,) = as_role("admin").get(f"/api/v1/ledger/journal?ref=loan:{disbursed}").json
    assert (entry["kind"], entry["idempotency_key"], entry["occurred_on"]) == ("fee", f"loan:{disbursed}:fee",
                                                                             "2026-03-02")
    assert sorted(p["amount"] for p in entry["postings"]) == ["-2500.00", "-5000.00", "2500.00", "5000.00"]
    assert as_role("bank").get(f"/api/v1/loans/{disbursed}").json["journal_refs"] == [
        {"entry_id": entry["id"], "kind": "fee", "occurred_on": "2026-03-02", "ref": f"loan:{disbursed}"}]


def test_each_party_reads_only_its_own_accounts(as_role, disbursed, world):
    agency = as_role("agency").get("/api/v1/ledger/trial-balance").json
    assert {a["code"] for a in agency["accounts"]} == {f"agency:{world.agency.id}:fee_income",
                                                       f"agency:{world.agency.id}:fee_subsidy"}
    assert agency["total_debits"] == "7500.00" and agency["balanced"] is True
    assert as_role("bank").get("/api/v1/ledger/trial-balance").json["accounts"] == []
    assert as_role("enterprise2").get(f"/api/v1/ledger/journal?ref=loan:{disbursed}").json == []
    fee_income = next(a for a in agency["accounts"] if a["purpose"] == "fee_income")
    assert as_role("bank").get(f"/api/v1/ledger/accounts/{fee_income['id']}/entries").status_code == 404
    (line,) = as_role("agency").get(f"/api/v1/ledger/accounts/{fee_income['id']}/entries").json
    assert (line["kind"], line["amount"]) == ("fee", "5000.00")


def test_the_journal_exports_as_csv_and_xlsx_for_a_date_range(as_role, disbursed):
    admin = as_role("admin")
    response = admin.get("/api/v1/ledger/journal/export?from=2026-03-01&to=2026-03-31")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == 4 and {r["ref"] for r in rows} == {f"loan:{disbursed}"}
    assert sum(float(r["debit"] or 0) for r in rows) == sum(float(r["credit"] or 0) for r in rows) == 7500
    book = openpyxl.load_workbook(io.BytesIO(admin.get("/api/v1/ledger/journal/export?format=xlsx&from=2026-03-01")
                                             .get_data()))
    assert book["journal"].max_row == 5  # the header and four postings
    empty = admin.get("/api/v1/ledger/journal/export?from=2026-04-01")
    assert len(empty.get_data(as_text=True).strip().splitlines()) == 1
    assert admin.get("/api/v1/ledger/journal/export?from=2026-04-01&to=2026-03-01").status_code == 422


def test_a_correction_is_a_reversing_entry_posted_once(as_role, disbursed):
    admin = as_role("admin")
    (entry,) = admin.get(f"/api/v1/ledger/journal?ref=loan:{disbursed}").json
    body = {"occurred_on": "2026-03-03", "memo": "Fee keyed against the wrong agreement"}
    reversal = admin.post(f"/api/v1/ledger/journal/{entry['id']}/reverse", json=body,
                          headers={"Idempotency-Key": "fix-1"})
    assert reversal.status_code == 201 and reversal.json["reverses_id"] == entry["id"]
    assert admin.post(f"/api/v1/ledger/journal/{entry['id']}/reverse", json=body,
                      headers={"Idempotency-Key": "fix-1"}).json == reversal.json
    assert admin.post(f"/api/v1/ledger/journal/{entry['id']}/reverse", json=body,
                      headers={"Idempotency-Key": "fix-2"}).status_code == 409
    trial = admin.get("/api/v1/ledger/trial-balance").json
    assert trial["balanced"] is True and trial["total_debits"] == "0.00"
    assert as_role("bank").post(f"/api/v1/ledger/journal/{entry['id']}/reverse", json=body).status_code == 403
