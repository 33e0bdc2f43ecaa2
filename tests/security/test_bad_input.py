"""Bad input is a 4xx problem, never a 500, and writes nothing (issue 7, item 5).

Oversized bodies (413), wrong content types (415), malformed JSON (400), numbers that are not exact amounts, text
that no column could hold, SQL-looking strings where a structured value belongs, and page numbers no database should
be asked for: each is answered with application/problem+json, and every table has as many rows after as before.
"""

from __future__ import annotations

import io
import json
from decimal import Decimal

import marshmallow as ma
import pytest
from sqlalchemy import func, select
from stdnum.cn import uscc

from marketplace import db
from marketplace.fields import Money, Rate, Text
from marketplace.guards import MAX_BODY, MAX_UPLOAD
from tests.pages import csrf_token, sign_in

MIB = 1024 * 1024
PRODUCT = {"name": "Plain credit", "product_type": "credit", "amount_min": "100000.00", "amount_max": "10000000.00",
           "term_min_months": 6, "term_max_months": 36, "rate_spread_bp": 30, "eligible_tiers": ["srdi"]}
USCC_BASE = "91330106MA2CFE2K3"
REGISTRATION = {"username": "owner.chen", "password": "a-long-password",
                "uscc": USCC_BASE + uscc.calc_check_digit(USCC_BASE), "name": "Gongshu Sensors",
                "region_code": "330105", "industry_code": "C4011", "size": "micro", "annual_revenue": "9000000.00",
                "rd_expense": "1200000.00", "employees": 35}
SQL = ["' OR 1=1 --", "1; DROP TABLE users", "1' UNION SELECT password_hash FROM users --"]
LONG = "x" * 10_000
CONTROL = ["nul\x00byte", "escape\x1b[31m", "bell\x07", "line\nbreak", "c1\x85next", "del\x7f"]


def row_counts(app) -> dict[str, int]:
    with app.app_context():
        return {table.name: db.session.scalar(select(func.count()).select_from(table))
                for table in db.Base.metadata.sorted_tables}


def assert_problem(response, status: int | tuple[int, ...]) -> None:
    expected = status if isinstance(status, tuple) else (status,)
    assert response.status_code in expected, (response.status_code, response.get_data(as_text=True)[:500])
    assert response.mimetype == "application/problem+json", response.mimetype
    body = response.json
    assert {"type", "title", "status", "detail"} <= set(body) and body["status"] == response.status_code, body


def product_with(**changes):
    return {**PRODUCT, **changes}


def json_bytes(text: str) -> dict:
    return {"data": text.encode("utf-8", "surrogatepass"), "content_type": "application/json"}


# (who, method, path, request keyword arguments, expected status or statuses). {product} is a draft product's id.
CASES = [
    # Bodies over the limit, read by the view or not.
    ("bank", "post", "/api/v1/products", {"json": product_with(description="x" * (MAX_BODY + 1))}, 413),
    ("bank", "post", "/api/v1/products/{product}/publish", {"data": b"x" * (MAX_BODY + 1),
                                                            "content_type": "application/json"}, 413),
    ("admin", "post", "/api/v1/tier-registry/imports",
     {"data": {"file": (io.BytesIO(b"a" * (MAX_UPLOAD + 1)), "list.csv")}, "content_type": "multipart/form-data"},
     413),
    ("bank", "post", "/api/v1/products", {"input_stream": io.BytesIO(b" " * (MAX_BODY + 1)),
                                          "content_type": "application/json",
                                          "environ_overrides": {"wsgi.input_terminated": True}}, 413),
    # The wrong content type, or JSON that does not parse.
    ("bank", "post", "/api/v1/products", {"data": json.dumps(PRODUCT), "content_type": "text/plain"}, 415),
    ("bank", "post", "/api/v1/products", {"data": {"name": "x"}}, 415),  # form-encoded
    ("bank", "post", "/api/v1/products", {"data": json.dumps(PRODUCT)}, 415),  # untyped
    ("admin", "post", "/api/v1/tier-registry/imports", {"json": {"file": "uscc,tier,valid_until"}}, 415),
    ("bank", "post", "/api/v1/products", json_bytes('{"name": "Plain credit", '), 400),
    ("bank", "post", "/api/v1/products", json_bytes("[" * 100_000 + "]" * 100_000), 400),
    ("bank", "post", "/api/v1/products", {"data": b'{"name": "\xff\xfe"}', "content_type": "application/json"}, 400),
    ("bank", "post", "/api/v1/products", json_bytes("[]"), 422),
    ("bank", "post", "/api/v1/products", json_bytes('"a string"'), 422),
    ("bank", "post", "/api/v1/products", json_bytes("null"), 422),
    # NaN, infinities, 1e309, negative and three-decimal money, floats where whole numbers belong.
    *[("bank", "post", "/api/v1/products", json_bytes(json.dumps(PRODUCT).replace('"100000.00"', literal)), 400)
      for literal in ("NaN", "Infinity", "-Infinity")],
    *[("bank", "post", "/api/v1/products", json_bytes(json.dumps(PRODUCT).replace('"100000.00"', literal)), 422)
      for literal in ("1e309", "-1e309", "-1", "1.005", "1e-309", "true", "[]", "{}")],
    *[("bank", "post", "/api/v1/products", {"json": product_with(amount_min=value)}, 422)
      for value in ("NaN", "Infinity", "-Infinity", "1e309", "-1.00", "-0.01", "1.005", "0.001", "1,000.00",
                    "¥100", "", "  ", "12345678901234.00",
                    # ASCII digits only (issue 21): underscores, other scripts' digits, exponents, a plus sign.
                    "1_000", "100_000.00", "١٠٠٠٠٠", "１００００００", "1e6", "+100000.00")],
    *[("bank", "post", "/api/v1/products", json_bytes(json.dumps(PRODUCT).replace('"term_min_months": 6',
                                                                                 f'"term_min_months": {n}')), 422)
      for n in ("1e309", "6.0", "6.5", "null", '"6"', str(10**30), str(-(10**30)))],
    ("agency", "post", "/api/v1/agreements", {"json": {"bank_id": 2**63, "code": "X-1"}}, 422),
    ("enterprise", "post", "/api/v1/financing-requests", {"json": {"amount": "1.005", "term_months": 12,
                                                                    "purpose": "Working capital"}}, 422),
    ("enterprise", "post", "/api/v1/financing-requests", {"json": {"amount": "-5000.00", "term_months": 12,
                                                                    "purpose": "Working capital"}}, 422),
    ("admin", "put", "/api/v1/lpr", {"json": {"effective_on": "2026-01-20", "lpr_1y": "NaN", "lpr_5y": "0.035"}}, 422),
    ("admin", "put", "/api/v1/lpr", {"json": {"effective_on": "2026-01-20", "lpr_1y": "0.0300001",
                                              "lpr_5y": "0.035"}}, 422),
    ("admin", "put", "/api/v1/lpr", {"json": {"effective_on": "9999-12-31", "lpr_1y": "0.03", "lpr_5y": "0.035"}},
     422),
    ("admin", "put", "/api/v1/lpr", {"json": {"effective_on": "0001-01-01", "lpr_1y": "0.03", "lpr_5y": "0.035"}},
     422),
    ("admin", "put", "/api/v1/lpr", {"json": {"effective_on": "2026-02-30", "lpr_1y": "0.03", "lpr_5y": "0.035"}},
     422),
    # 10,000-character names and other text over its column's length.
    ("bank", "post", "/api/v1/products", {"json": product_with(name=LONG)}, 422),
    ("bank", "post", "/api/v1/products", {"json": product_with(description=LONG)}, 422),
    ("anonymous", "post", "/api/v1/enterprises/register", {"json": {**REGISTRATION, "name": LONG}}, 422),
    ("anonymous", "post", "/api/v1/enterprises/register", {"json": {**REGISTRATION, "username": LONG}}, 422),
    ("anonymous", "post", "/api/v1/enterprises/register", {"json": {**REGISTRATION, "password": LONG}}, 422),
    ("admin", "post", "/api/v1/banks", {"json": {"name": LONG, "code": "B-LONG"}}, 422),
    ("admin", "post", "/api/v1/agencies", {"json": {"name": "Agency", "code": LONG, "kind": "local"}}, 422),
    ("admin", "post", "/api/v1/risk-pools", {"json": {"name": LONG, "region_code": "33"}}, 422),
    ("admin", "post", "/api/v1/fee-rules", {"json": {"name": LONG, "valid_from": "2026-01-01",
                                                     "effect": {"kind": "cap_fee_rate", "value": "0.005"}}}, 422),
    ("enterprise", "post", "/api/v1/financing-requests", {"json": {"amount": "100000.00", "term_months": 12,
                                                                    "purpose": LONG}}, 422),
    ("anonymous", "post", "/api/v1/auth/token", {"json": {"username": LONG, "password": "x"}}, 422),
    ("admin", "get", f"/api/v1/ledger/journal?ref={LONG}", {}, 422),
    ("admin", "get", f"/api/v1/audit?actor={LONG}", {}, 422),
    ("bank", "post", "/api/v1/products", {"json": product_with(eligible_regions=["33"] * 3001)}, 422),
    ("bank", "post", "/api/v1/products", {"json": product_with(eligible_tiers=["srdi"] * 5)}, 422),
    # Control characters, lone surrogates, and the trailing newline a `$` in a pattern lets through.
    *[("bank", "post", "/api/v1/products", {"json": product_with(name=text)}, 422) for text in CONTROL],
    ("bank", "post", "/api/v1/products", json_bytes(json.dumps(product_with(name="X")).replace('"X"', '"\\ud800"')),
     422),
    ("bank", "post", "/api/v1/products", {"json": product_with(description="nul\x00byte")}, 422),
    ("bank", "post", "/api/v1/products", {"json": product_with(eligible_regions=["330106\n"])}, 422),
    ("anonymous", "post", "/api/v1/enterprises/register", {"json": {**REGISTRATION, "region_code": "330105\n"}},
     422),
    ("anonymous", "post", "/api/v1/enterprises/register", {"json": {**REGISTRATION, "name": "Gongshu\x00"}}, 422),
    ("anonymous", "post", "/api/v1/enterprises/register", {"json": {**REGISTRATION, "password": "pass\ud800word"}},
     422),
    ("admin", "post", "/api/v1/banks", {"json": {"name": "Bank", "code": "BANK-9\n"}}, 422),
    ("anonymous", "post", "/api/v1/auth/token", {"json": {"username": "admin\x00", "password": "x"}}, 422),
    ("admin", "get", "/api/v1/ledger/journal?ref=loan:1%00", {}, 400),
    ("admin", "get", "/api/v1/audit?request_id=%00", {}, 400),
    ("admin", "get", "/api/v1/audit?actor=%1B", {}, 422),
    ("anonymous", "post", "/api/v1/bank-callbacks/BANK1", {"data": b'{"event_id": "e\x00"}',
                                                           "content_type": "application/json"}, 400),
    ("anonymous", "post", "/api/v1/bank-callbacks/BANK1", {"data": b'{"event_id": "e\x00"}'}, 400),
    ("admin", "get", "/api/v1/subsidy-settlements?month=2026-10%0A", {}, 422),
    ("admin", "post", "/api/v1/tier-registry/imports",
     {"data": {"file": (io.BytesIO(b"uscc,tier,valid_until\n"), "list\x00.csv")},
      "content_type": "multipart/form-data"}, 422),
    ("admin", "post", "/api/v1/tier-registry/imports",
     {"data": {"file": (io.BytesIO(b"uscc,tier,valid_until\n"), "x" * 300 + ".csv")},
      "content_type": "multipart/form-data"}, 422),
    ("anonymous", "post", "/api/v1/bank-callbacks/BANK%00", {"json": {}}, 400),
    ("enterprise", "post", "/api/v1/financing-requests", {"json": {"amount": "100000.00", "term_months": 12,
                                                                    "purpose": "x"},
                                                           "headers": {"Idempotency-Key": "key\x00"}}, 400),
    # SQL where a structured value belongs: ids in paths, enums, codes, USCCs, dates, filters, pages.
    *[("bank", "get", f"/api/v1/products/{text}", {}, 404) for text in SQL],
    ("bank", "get", "/api/v1/products/1%20OR%201=1", {}, 404),
    *[("bank", "get", f"/api/v1/applications?status={text}", {}, 422) for text in SQL],
    *[("bank", "get", f"/api/v1/products?product_type={text}", {}, 422) for text in SQL],
    *[("bank", "get", f"/api/v1/products?bank_id={text}", {}, 422) for text in SQL],
    *[("agency", "get", f"/api/v1/batches?agreement_id={text}", {}, 422) for text in SQL],
    *[("admin", "get", f"/api/v1/outbox?status={text}", {}, 422) for text in SQL],
    *[("admin", "get", f"/api/v1/lpr?on={text}", {}, 422) for text in SQL],
    *[("admin", "get", f"/api/v1/users?page={text}", {}, 422) for text in SQL],
    *[("anonymous", "post", "/api/v1/enterprises/register", {"json": {**REGISTRATION, "uscc": text}}, 422)
      for text in SQL],
    *[("admin", "post", "/api/v1/banks", {"json": {"name": "Bank", "code": text}}, 422) for text in SQL],
    *[("bank", "post", "/api/v1/products", {"json": product_with(product_type=text)}, 422) for text in SQL],
    *[("admin", "put", "/api/v1/lpr", {"json": {"effective_on": text, "lpr_1y": "0.03", "lpr_5y": "0.035"}}, 422)
      for text in SQL],
    # Page sizes and pages no database should be asked for; ids no column could hold.
    *[("admin", "get", f"/api/v1/users?{query}", {}, 422)
      for query in ("page_size=1000000000", "page_size=501", "page_size=0", "page_size=-1", "page=0", "page=-1",
                    "page=1000000000", f"page={10**30}", "page=1.5", "page=NaN", "page_size=1e3")],
    *[("bank", "get", f"/api/v1/products/{number}", {}, 404)
      for number in ("0", "2147483648", "99999999999999999999", "9" * 5000, "-1", "1.0")],
    ("bank", "get", f"/api/v1/products?bank_id={2**63}", {}, 422),
    ("admin", "get", f"/api/v1/audit?organization_id={10**30}", {}, 422),
]


@pytest.fixture
def callers(world, as_role, client):
    return {"anonymous": client, **{who: as_role(who) for who in ("admin", "bank", "agency", "enterprise")}}


@pytest.fixture
def product(callers):
    return callers["bank"].post("/api/v1/products", json=PRODUCT).json


def _case_id(case) -> str:
    who, method, path, kwargs, status = case
    shown = path if len(path) < 60 else path[:57] + "..."
    body = kwargs.get("json")
    detail = json.dumps(body, default=str)[:40] if body is not None else kwargs.get("content_type", "")
    return f"{who}-{method}-{shown}-{detail}-{status}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(case) for case in CASES])
def test_bad_input_is_a_4xx_problem_and_writes_nothing(app, callers, product, case):
    who, method, path, kwargs, status = case
    caller = callers[who]
    before = row_counts(app)
    response = getattr(caller, method)(path.replace("{product}", str(product["id"])), **kwargs)
    assert_problem(response, status)
    assert row_counts(app) == before


def test_the_problem_names_the_field_that_was_wrong(callers):
    response = callers["bank"].post("/api/v1/products", json=product_with(amount_min="1.005", name="x\x00"))
    assert_problem(response, 422)
    assert set(response.json["errors"]) == {"amount_min", "name"}


def test_sql_in_free_text_is_stored_as_the_text_it_is(callers):
    bank = callers["bank"]
    text = "Robert'); DROP TABLE products; -- 1' OR '1'='1"
    created = bank.post("/api/v1/products", json=product_with(name=text[:200], description=text + "\n" + SQL[1]))
    assert created.status_code == 201, created.json
    again = bank.get(f"/api/v1/products/{created.json['id']}").json
    assert (again["name"], again["description"]) == (text[:200], text + "\n" + SQL[1])
    assert bank.get("/api/v1/products?page_size=500&product_type=credit").status_code == 200


def test_sql_in_a_free_text_filter_finds_nothing(callers):
    for text in SQL:
        response = callers["admin"].get("/api/v1/ledger/journal", query_string={"ref": text})
        assert (response.status_code, response.json) == (200, [])


def test_line_breaks_and_tabs_are_text_in_a_description(callers):
    response = callers["bank"].post("/api/v1/products", json=product_with(description="Line one\r\n\tLine two"))
    assert response.status_code == 201, response.json
    assert response.json["description"] == "Line one\r\n\tLine two"


def test_the_last_page_there_could_be_is_an_empty_page(callers):
    response = callers["admin"].get("/api/v1/users?page=1000000&page_size=500")
    assert (response.status_code, response.json, response.headers["X-Total-Count"]) == (200, [], "6")


def test_an_upload_over_1_mib_but_within_10_mib_is_read(callers):
    row = "91330106MA2BAD0001,srdi,2099-12-31,本行的统一社会信用代码校验位不对，整份名单仍须读完\n".encode()
    big = "uscc,tier,valid_until,备注\n".encode() + row * (2 * MIB // len(row) + 1)
    response = callers["admin"].post("/api/v1/tier-registry/imports", data={"file": (io.BytesIO(big), "list.csv")},
                                     content_type="multipart/form-data")
    assert response.status_code != 413 and response.status_code < 500, response.json


def test_a_multipart_part_without_a_name_is_a_4xx_not_a_500(app, callers):
    """Found by schemathesis: a part with no name comes through the form under the key None."""
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data\r\n\r\n{{}}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"file\"\r\n\r\nx\r\n"
            f"--{boundary}--\r\n").encode()
    for who, path in (("bank", "/api/v1/products/imports"), ("admin", "/api/v1/tier-registry/imports")):
        response = callers[who].post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}")
        assert 400 <= response.status_code < 500, (path, response.status_code)
        assert response.mimetype == "application/problem+json"


def test_pages_refuse_oversized_forms_before_checking_their_csrf_token(app, world):
    bank = sign_in(app, world.bank_user)
    response = bank.post("/bank/products/new", data={"name": "x" * (MAX_BODY + 1)})
    assert response.status_code == 413
    assert response.mimetype == "text/html"


def test_the_tier_registry_page_takes_uploads_up_to_10_mib(app, world):
    admin = sign_in(app, world.admin_user)
    token = csrf_token(admin.get("/admin/tier-registry").text)
    too_big = admin.post("/admin/tier-registry", content_type="multipart/form-data", data={
        "csrf_token": token, "file": (io.BytesIO(b"a" * (MAX_UPLOAD + 1)), "list.csv")})
    assert too_big.status_code == 413
    row = "91330106MA2BAD0001,srdi,2099-12-31,本行的统一社会信用代码校验位不对，整份名单仍须读完\n".encode()
    big = "uscc,tier,valid_until,备注\n".encode() + row * (2 * MIB // len(row) + 1)
    within = admin.post("/admin/tier-registry", content_type="multipart/form-data", data={
        "csrf_token": token, "file": (io.BytesIO(big), "list.csv")})
    assert within.status_code not in (413, 500)


def test_the_sign_in_page_refuses_a_nul_in_the_user_name(app, client):
    before = row_counts(app)
    token = csrf_token(client.get("/login").text)
    response = client.post("/login", data={"username": "admin\x00", "password": "x", "csrf_token": token})
    assert response.status_code == 400
    assert row_counts(app) == before


def test_a_method_the_path_does_not_take_is_a_405_problem_that_says_what_it_takes(callers):
    response = callers["bank"].delete("/api/v1/products")
    assert_problem(response, 405)
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


# The shared fields, without a database ----------------------------------------------------------------------

class Amounts(ma.Schema):
    amount = Money()
    rate = Rate()
    name = Text(max_length=5)
    notes = Text(max_length=50, multiline=True)


@pytest.mark.parametrize("raw", ["-0", "-0.00", Decimal("-0"), 0])
def test_minus_zero_is_zero(raw):
    loaded = Amounts().load({"amount": raw, "rate": raw})
    assert Amounts().dump(loaded) == {"amount": "0.00", "rate": "0.0000"}


@pytest.mark.parametrize("text", ["abcdef", "a\x00", "a\nb", "\ud800", "a\u0085"])
def test_text_refuses_what_no_column_should_hold(text):
    with pytest.raises(ma.ValidationError) as error:
        Amounts().load({"name": text})
    assert "name" in error.value.messages


def test_multiline_text_keeps_line_breaks_but_not_other_control_characters():
    assert Amounts().load({"notes": "one\r\ntwo\tthree"}) == {"notes": "one\r\ntwo\tthree"}
    with pytest.raises(ma.ValidationError):
        Amounts().load({"notes": "one\x0btwo"})


def _input_schemas() -> list[type[ma.Schema]]:
    found, todo = [], [ma.Schema]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith(("marketplace.", "products.", "guarantees.")) and \
                    sub.__name__.endswith(("In", "Query", "Patch", "Upload")):
                found.append(sub)
    return found


def _strings(field: ma.fields.Field, name: str):
    if isinstance(field, ma.fields.List):
        yield from _strings(field.inner, f"{name}[]")
    elif isinstance(field, ma.fields.Nested):
        for sub_name, sub in field.schema.fields.items():
            yield from _strings(sub, f"{name}.{sub_name}")
    elif isinstance(field, ma.fields.String):
        yield name, field


def test_every_string_a_client_sends_is_bounded_text(app):
    schemas = _input_schemas()
    assert len(schemas) > 20
    loose = []
    for schema in schemas:
        for name, field in schema().fields.items():
            for path, string in _strings(field, f"{schema.__name__}.{name}"):
                enumerated = any(isinstance(v, ma.validate.OneOf) for v in string.validators)
                url = isinstance(string, ma.fields.Url) and any(
                    isinstance(v, ma.validate.Length) and v.max for v in string.validators)
                if not (isinstance(string, Text) or enumerated or url):
                    loose.append(path)
    assert loose == []
