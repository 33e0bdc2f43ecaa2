"""The admin imports the province's certified tier lists (梯度认定名单), by API and on the page."""

import datetime as dt
import io
import re

import openpyxl
import pytest
from sqlalchemy import select
from stdnum.cn import uscc

from marketplace import db
from marketplace.dates import business_today
from marketplace.orgs.models import Enterprise, ImportStatus, Tier, TierCertification, TierImport
from tests.pages import csrf_token

IMPORTS = "/api/v1/tier-registry/imports"
HEADER = ("uscc", "tier", "valid_until")


def code(n: int) -> str:
    base = f"91330106MB{n:07d}"
    return base + uscc.calc_check_digit(base)


def wrong_check(good: str) -> str:
    return good[:-1] + ("0" if good[-1] != "0" else "1")


def csv_file(lines, name="list.csv", header=HEADER):
    text = "\n".join(",".join("" if cell is None else str(cell) for cell in line) for line in [header, *lines])
    return io.BytesIO(text.encode()), name


def xlsx_file(lines, name="list.xlsx", header=HEADER):
    workbook = openpyxl.Workbook()
    for line in [header, *lines]:
        workbook.active.append(list(line))
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    return buffer, name


def upload(api, file):
    return api.post(IMPORTS, data={"file": file}, content_type="multipart/form-data")


def certification(app, uscc_value):
    with app.app_context():
        return db.session.get(TierCertification, uscc_value)


@pytest.fixture
def admin(as_role):
    return as_role("admin")


@pytest.fixture
def five_rows(make):
    """A registered enterprise without a tier, two unregistered ones, and two bad rows (rows 3 and 5)."""
    registered = make.enterprise(tier=Tier.NONE)
    return registered, [
        (registered.uscc, "srdi", "2027-12-31"),
        (wrong_check(code(1)), "srdi", "2027-12-31"),
        (code(2), "little_giant", dt.date(2028, 6, 30)),
        (code(3), "gold", "2027-12-31"),
        (code(4), "innovative", "2026-12-31"),
    ]


@pytest.mark.parametrize("make_file", [csv_file, xlsx_file], ids=["csv", "xlsx"])
def test_good_rows_are_applied_and_bad_rows_are_reported_by_their_line(app, admin, world, five_rows, make_file):
    registered, lines = five_rows
    response = upload(admin, make_file(lines))

    assert response.status_code == 202
    body = response.json
    assert (body["status"], body["rows_total"], body["rows_ok"], body["rows_failed"]) == ("completed", 5, 3, 2)
    assert [error["row"] for error in body["errors"]] == [3, 5]
    assert "check character" in body["errors"][0]["message"]
    assert "none, innovative, srdi, little_giant" in body["errors"][1]["message"]

    enterprise = admin.get(f"/api/v1/enterprises/{registered.id}").json
    assert (enterprise["tier"], enterprise["tier_valid_until"]) == ("srdi", "2027-12-31")
    for uscc_value, tier, valid_until in [(code(2), Tier.LITTLE_GIANT, dt.date(2028, 6, 30)),
                                          (code(4), Tier.INNOVATIVE, dt.date(2026, 12, 31))]:
        certified = certification(app, uscc_value)
        assert (certified.tier, certified.valid_until) == (tier, valid_until)
        assert (certified.source_import_id, certified.updated_by_id) == (body["id"], world.admin_user.id)
    assert certification(app, code(3)) is None


def test_the_import_is_kept_with_its_file_name_uploader_and_result(app, admin, world, five_rows):
    body = upload(admin, csv_file(five_rows[1], name="2025年专精特新名单.csv")).json
    with app.app_context():
        kept = db.session.get(TierImport, body["id"])
        assert kept.filename == "2025年专精特新名单.csv"
        assert kept.uploaded_by_id == world.admin_user.id
        assert kept.status is ImportStatus.COMPLETED and kept.finished_at is not None
        assert [error["row"] for error in kept.errors] == [3, 5]
    fetched = admin.get(f"{IMPORTS}/{body['id']}")
    assert fetched.status_code == 200
    assert fetched.json == body


def test_a_certification_that_ended_yesterday_leaves_the_tier_in_force_at_none(app, admin, make):
    enterprise = make.enterprise(tier=Tier.NONE)
    yesterday = business_today() - dt.timedelta(days=1)
    response = upload(admin, csv_file([(enterprise.uscc, "srdi", yesterday.isoformat())]))
    assert response.json["rows_ok"] == 1
    with app.app_context():
        assert db.session.get(Enterprise, enterprise.id).tier is Tier.NONE
    shown = admin.get(f"/api/v1/enterprises/{enterprise.id}").json
    assert (shown["tier"], shown["certified_tier"]) == ("none", "srdi")


def test_an_import_replaces_an_earlier_certification(admin, world):
    upload(admin, csv_file([(world.enterprise2.uscc, "none", None)]))
    assert admin.get(f"/api/v1/enterprises/{world.enterprise2.id}").json["tier"] == "none"


def test_a_uscc_listed_twice_keeps_its_first_row_and_reports_the_second(app, admin, world):
    response = upload(admin, csv_file([(code(5), "srdi", "2027-12-31"), (code(6), "srdi", "2027-12-31"),
                                       (code(5), "little_giant", "2029-12-31")]))
    assert (response.json["rows_ok"], response.json["rows_failed"]) == (2, 1)
    assert response.json["errors"][0]["row"] == 4
    assert "appears again in row 4" in response.json["errors"][0]["message"]
    assert certification(app, code(5)).tier is Tier.SRDI


def test_only_the_admin_imports_lists(as_role, client, world):
    for who in ("bank", "enterprise", "agency"):
        api = as_role(who)
        assert upload(api, csv_file([(code(7), "srdi", "2027-12-31")])).status_code == 403
        assert api.get(IMPORTS).status_code == 403
    response = client.post(IMPORTS, data={"file": csv_file([(code(7), "srdi", "2027-12-31")])})
    assert response.status_code == 401
    assert client.get(IMPORTS).status_code == 401


@pytest.mark.parametrize("file, expected", [
    (csv_file([(code(8), "srdi", "2027-12-31")], name="list.xls"), "Upload a CSV (.csv) or Excel (.xlsx) file"),
    ((io.BytesIO(b"uscc,tier\n"), "list.csv"), "lacks the column(s) valid_until"),
    ((io.BytesIO(b""), "list.csv"), "The file is empty."),
    ((io.BytesIO(b"not a zip"), "list.xlsx"), "cannot be opened as an Excel workbook"),
], ids=["extension", "column", "empty", "damaged"])
def test_a_file_that_cannot_be_read_is_a_422_on_file_and_nothing_is_recorded(app, admin, file, expected):
    response = upload(admin, file)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert expected in " ".join(response.json["errors"]["file"])
    assert admin.get(IMPORTS).json == []
    with app.app_context():
        assert db.session.scalar(select(TierCertification).where(TierCertification.uscc == code(8))) is None


def test_a_request_without_a_file_is_a_422_on_file(admin):
    response = admin.post(IMPORTS, data={"note": "no file"}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "file" in response.json["errors"]


def test_imports_are_listed_newest_first_with_a_total(admin, world):
    first = upload(admin, csv_file([(code(9), "srdi", "2027-12-31")], name="first.csv")).json
    second = upload(admin, csv_file([(code(9), "none", None)], name="second.csv")).json
    listed = admin.get(IMPORTS)
    assert [item["id"] for item in listed.json] == [second["id"], first["id"]]
    assert listed.headers["X-Total-Count"] == "2"
    assert "errors" not in listed.json[0]
    assert admin.get(f"{IMPORTS}?page_size=1&page=2").json[0]["filename"] == "first.csv"


def test_an_unknown_import_is_404(admin):
    assert admin.get(f"{IMPORTS}/999999").status_code == 404


def test_the_openapi_document_describes_the_upload_as_multipart(client):
    spec = client.get("/api/v1/openapi.json").json
    post = spec["paths"][IMPORTS]["post"]
    assert "202" in post["responses"]
    body = post["requestBody"]["content"]["multipart/form-data"]["schema"]
    schema = spec["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]] if "$ref" in body else body
    assert schema["properties"]["file"] == {**schema["properties"]["file"], "type": "string", "format": "binary"}
    assert "get" in spec["paths"][IMPORTS + "/{import_id}"]


# The page ---------------------------------------------------------------------------------------------

PAGE = "/admin/tier-registry"


@pytest.fixture
def office(browser_of, world):
    return browser_of(world.admin_user)


def post_upload(browser, file):
    token = csrf_token(browser.get(PAGE).text)
    return browser.post(PAGE, data={"file": file, "csrf_token": token}, content_type="multipart/form-data")


def test_anonymous_visitors_are_sent_to_login(client):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/admin/tier-registry"


def test_a_bank_user_may_not_open_the_registry_page(browser_of, world):
    assert browser_of(world.bank_user).get(PAGE).status_code == 403


def test_the_page_explains_the_file_and_the_nav_links_to_it_for_the_admin(office):
    page = office.get(PAGE)
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.text
    assert "统一社会信用代码, 认定等级 and 有效期至, in any order" in page.text
    assert "2027-12-31, 2027/12/31 or 2027年12月31日" in page.text
    assert f'href="{PAGE}"' in office.get("/products").text


def test_the_nav_link_is_not_shown_to_other_roles(browser_of, world):
    assert f'href="{PAGE}"' not in browser_of(world.enterprise_user).get("/products").text


def test_the_admin_uploads_a_list_and_sees_each_rejected_row(office, five_rows):
    response = post_upload(office, xlsx_file(five_rows[1]))
    assert response.status_code == 302
    assert re.fullmatch(r"/admin/tier-registry/imports/\d+", response.headers["Location"])
    detail = office.get(response.headers["Location"]).text
    assert "3 of 5 rows applied" in detail
    assert 'id="rows-total">5<' in detail and 'id="rows-ok">3<' in detail and 'id="rows-failed">2<' in detail
    assert "status-completed" in detail
    assert re.findall(r'data-row="(\d+)"', detail) == ["3", "5"]
    assert "The check character does not match" in detail
    listing = office.get(PAGE).text
    assert "list.xlsx" in listing and listing.count("data-import-id") == 1


def test_a_clean_list_says_all_rows_applied(office):
    response = post_upload(office, csv_file([(code(10), "srdi", "2027-12-31")]))
    assert "All rows applied." in office.get(response.headers["Location"]).text


@pytest.mark.parametrize("file, expected", [
    ((io.BytesIO(b"uscc,tier,valid_until\n"), "list.pdf"), "Upload a CSV (.csv) or Excel (.xlsx) file"),
    ((io.BytesIO(b"uscc,tier\n"), "list.csv"), "lacks the column(s) valid_until"),
    ((io.BytesIO(b""), ""), "Choose a CSV or XLSX file to upload."),
], ids=["type", "column", "no-file"])
def test_a_file_the_form_cannot_use_comes_back_with_the_message_beside_the_input(office, file, expected):
    response = post_upload(office, file)
    assert response.status_code == 422
    assert re.search(r'id="file-error">[^<]*' + re.escape(expected), response.text)
    assert 'aria-invalid="true"' in response.text
    assert "data-import-id" not in response.text


def test_the_upload_form_without_its_csrf_token_is_400(office):
    response = office.post(PAGE, data={"file": csv_file([(code(11), "srdi", "2027-12-31")])},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert "data-import-id" not in office.get(PAGE).text


# The province's own lists (issue 22) -------------------------------------------------------------------------------

def _list(header, lines, name):
    return (csv_file if name.endswith(".csv") else xlsx_file)(lines, name, header)


@pytest.mark.parametrize("name", ["名单.csv", "名单.xlsx"])
def test_a_list_with_chinese_headers_tier_names_and_dates_imports(app, admin, name):
    rows = [(code(901), "专精特新中小企业", "2027/12/31"),
            (code(902), "专精特新“小巨人”企业", "2028年6月30日"),
            (code(903), "創新型中小企業", "2027-1-5"),
            (code(904), "小巨人", dt.date(2029, 3, 1) if name.endswith(".xlsx") else "2029.3.1")]
    answer = upload(admin, _list(("统一社会信用代码", "认定等级", "有效期至"), rows, name))
    assert answer.status_code == 202, answer.json
    assert (answer.json["rows_ok"], answer.json["rows_failed"]) == (4, 0), answer.json["errors"]
    expected = [(Tier.SRDI, dt.date(2027, 12, 31)), (Tier.LITTLE_GIANT, dt.date(2028, 6, 30)),
                (Tier.INNOVATIVE, dt.date(2027, 1, 5)), (Tier.LITTLE_GIANT, dt.date(2029, 3, 1))]
    for n, (tier, until) in zip((901, 902, 903, 904), expected, strict=True):
        held = certification(app, code(n))
        assert (held.tier, held.valid_until) == (tier, until)


def test_a_tier_the_list_cannot_name_and_an_impossible_day_are_row_errors(admin):
    answer = upload(admin, _list(("统一社会信用代码", "认定等级", "有效期至"), [
        (code(911), "优秀企业", "2027/12/31"), (code(912), "专精特新", "2027/2/30")], "名单.csv"))
    assert answer.status_code == 202 and answer.json["rows_ok"] == 0
    first, second = answer.json["errors"]
    assert "“优秀企业” is not a tier" in first["message"] and "专精特新中小企业" in first["message"]
    assert "2027/2/30 is not a day of the calendar" in second["message"]


def test_row_errors_in_chinese_name_the_columns_as_the_list_heads_them(admin):
    """Read in Chinese, a problem follows its column's header (认定等级：…), with no field names or tier codes."""
    answer = admin.post(IMPORTS, headers={"Accept-Language": "zh-CN"}, content_type="multipart/form-data", data={
        "file": _list(("统一社会信用代码", "认定等级", "有效期至"), [
            (code(921), "优秀企业", "2027/12/31"), (code(922), "专精特新", ""), (code(921), "专精特新", "2027/12/31")],
            "名单.csv")})
    assert answer.status_code == 202 and answer.json["rows_ok"] == 0, answer.json
    tier, until, again = (error["message"] for error in answer.json["errors"])
    assert tier.startswith("认定等级：") and "专精特新中小企业、" in tier and "little_giant" not in tier
    assert until.startswith("有效期至：")
    assert again.startswith("统一社会信用代码：")
    for message in (tier, until, again):
        assert not any(field in message for field in ("uscc", "tier:", "valid_until"))

    missing = admin.post(IMPORTS, headers={"Accept-Language": "zh-CN"}, content_type="multipart/form-data", data={
        "file": _list(("统一社会信用代码", "认定等级"), [(code(923), "专精特新")], "名单.csv")})
    assert missing.status_code == 422
    assert "有效期至" in str(missing.json) and "valid_until" not in str(missing.json)
