"""Uploaded spreadsheets cannot make the server work for minutes (issue 21): a 5 KB XLSX that declares column XFD
and a cell at row 20,000 (17.5 s to walk before), a sheet of blank filler rows, a CSV of blank lines and a zip bomb
are each refused with 413 and a message saying what is too big, before the rows are walked, in the bank's product
import and in the admin's tier import alike. XML is parsed with defusedxml."""

from __future__ import annotations

import io
import zipfile

import openpyxl
import pytest

from marketplace import spreadsheets
from products.sheets import REQUIRED as IMPORT_COLUMNS

#: (who uploads, where, the import's header row): each file below starts with a header the import accepts.
PRODUCTS = ("bank", "/api/v1/products/imports", IMPORT_COLUMNS)
TIERS = ("admin", "/api/v1/tier-registry/imports", ("uscc", "tier", "valid_until"))


def workbook(header: tuple[str, ...], *cells: tuple[str, str]) -> bytes:
    book = openpyxl.Workbook()
    book.active.append(list(header))
    for address, value in cells:
        book.active[address] = value
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def zip_bomb(header: tuple[str, ...]) -> bytes:
    """A real workbook with one more member that unpacks to 64 MB of zeros (about 64 KB packed)."""
    out = io.BytesIO(workbook(header))
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/media/filler.bin", b"\0" * (64 * 2**20))
    return out.getvalue()


def send(as_role, target, content: bytes, name: str):
    who, path, _column = target
    return as_role(who).post(path, data={"file": (io.BytesIO(content), name)}, content_type="multipart/form-data")


@pytest.mark.parametrize("target", [PRODUCTS, TIERS], ids=["products", "tiers"])
@pytest.mark.parametrize(("build", "name", "says"), [
    (lambda header: workbook(header, ("XFD20000", "x")), "bomb.xlsx", "reaches column XFD"),
    (lambda header: workbook(header, ("B1048576", "x")), "rows.xlsx", "reaches row 1,048,576"),
    (lambda header: (",".join(header) + "\n" + "\n" * 250_000 + "x\n").encode(), "blank.csv",
     "blank ones included"),
    (lambda header: (",".join(header) + "\n" + ",,\n" * 250_000 + "x\n").encode(), "commas.csv",
     "blank ones included"),
    (zip_bomb, "zipped.xlsx", "unpacks to 64.0 MB"),
], ids=["dimension", "last-row", "blank-lines", "blank-cells", "zip-bomb"])
def test_a_spreadsheet_too_big_to_read_is_413_and_says_why(as_role, target, build, name, says):
    answer = send(as_role, target, build(target[2]), name)
    assert answer.status_code == 413, answer.json
    assert list(answer.json["errors"]) == ["file"] and says in answer.json["errors"]["file"][0]


def test_the_limits_leave_room_for_a_full_import_with_blank_rows_between():
    """2,000 rows of data, each after a blank row, and a column beyond the template's: read in full."""
    book = openpyxl.Workbook()
    book.active.append(["name", "product_type", "note"])
    for n in range(2000):
        book.active.append([])
        book.active.append([f"Loan {n}", "credit", "x"])
    out = io.BytesIO()
    book.save(out)
    rows = spreadsheets.read_rows("p.xlsx", out.getvalue(), ["name", "product_type"], 2000)
    assert len(rows) == 2000 and rows[-1] == (4001, {"name": "Loan 1999", "product_type": "credit"})


def test_openpyxl_parses_with_defusedxml():
    from openpyxl.xml import DEFUSEDXML

    assert DEFUSEDXML is True
