"""Reading and checking the rows of a certified tier list, without a database."""

import datetime as dt
import io

import openpyxl
import pytest
from stdnum.cn import uscc

from marketplace.errors import ValidationFailed
from marketplace.orgs.models import Tier
from marketplace.registry.services import MAX_ROWS, TierRow, check_rows, parse_row, read_rows

#: What openpyxl gives for a date cell: spreadsheets hold no time zone.
EXCEL_DATE = dt.datetime(2027, 12, 31)  # noqa: DTZ001


def code(n: int) -> str:
    base = f"91330106MA{n:07d}"
    return base + uscc.calc_check_digit(base)


def wrong_check(good: str) -> str:
    return good[:-1] + ("0" if good[-1] != "0" else "1")


def row(uscc_value="", tier="srdi", valid_until="2027-12-31"):
    return {"uscc": uscc_value, "tier": tier, "valid_until": valid_until}


def xlsx(*lines) -> bytes:
    workbook = openpyxl.Workbook()
    for line in lines:
        workbook.active.append(list(line))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def file_error(filename: str, content: bytes) -> str:
    with pytest.raises(ValidationFailed) as raised:
        read_rows(filename, content)
    assert raised.value.status == 422
    return " ".join(raised.value.errors["file"])


# One row -----------------------------------------------------------------------------------------------

def test_a_good_row_becomes_what_certify_needs():
    assert parse_row(2, row(code(1))) == TierRow(2, code(1), Tier.SRDI, dt.date(2027, 12, 31))


def test_the_uscc_is_cleaned_of_spaces_and_dashes_and_upper_cased_as_at_registration():
    messy = f" {code(2)[:8].lower()}-{code(2)[8:]} "
    assert parse_row(2, row(messy)).uscc == code(2)


def test_a_wrong_check_character_says_so():
    message = parse_row(3, row(wrong_check(code(3))))
    assert message.startswith("uscc: The check character does not match")


@pytest.mark.parametrize("value", ["91330106MA2CFD8K3", "12345", "91330106MA2CFD8K3TT"])
def test_a_uscc_of_the_wrong_length_says_what_a_uscc_looks_like(value):
    assert "18 letters and digits" in parse_row(2, row(value))


def test_a_code_not_issued_to_an_enterprise_is_refused():
    base = "11330106MA0000001"  # 1… is an organ of state, not an enterprise
    assert "beginning with 9" in parse_row(2, row(base + uscc.calc_check_digit(base)))


def test_a_missing_uscc_is_reported():
    assert parse_row(2, row("")).startswith("uscc: Missing.")


def test_an_unknown_tier_lists_the_tiers_there_are():
    message = parse_row(2, row(code(4), tier="gold"))
    assert message == ("tier: “gold” is not a tier; use one of 创新型中小企业, 专精特新中小企业, "
                       "专精特新“小巨人”企业, 未认定 (none, innovative, srdi, little_giant).")


@pytest.mark.parametrize("written, tier", [("SRDI", Tier.SRDI), (" Little_Giant ", Tier.LITTLE_GIANT),
                                           ("innovative", Tier.INNOVATIVE)])
def test_tiers_are_read_whatever_their_case(written, tier):
    assert parse_row(2, row(code(5), tier=written)).tier is tier


@pytest.mark.parametrize("written", ["31.12.2027", "20271231", "12/31/2027", "next year", "2027年12月"])
def test_a_date_is_written_year_first(written):
    assert "write it as 2027-12-31, 2027/12/31 or 2027年12月31日" in parse_row(2, row(code(6), valid_until=written))


@pytest.mark.parametrize("written", ["2027-12-31", "2027/12/31", "2027.12.31", "2027年12月31日", "2027 年 12 月 31 日",
                                     "2027-1-5", "2027/1/5"])
def test_dates_as_the_provincial_lists_write_them(written):
    """Issue 22: the province's lists write 2027/12/31 and 2027年12月31日."""
    until = parse_row(2, row(code(6), valid_until=written)).valid_until
    assert until == (dt.date(2027, 1, 5) if written.endswith(("1-5", "1/5")) else dt.date(2027, 12, 31))


def test_a_day_that_is_not_in_the_calendar_is_refused():
    assert "2027-02-30 is not a day of the calendar" in parse_row(2, row(code(6), valid_until="2027-02-30"))


@pytest.mark.parametrize("cell", [EXCEL_DATE, dt.date(2027, 12, 31)])
def test_a_spreadsheet_date_cell_is_taken_as_the_date(cell):
    assert parse_row(2, row(code(7), valid_until=cell)).valid_until == dt.date(2027, 12, 31)


def test_a_certified_tier_needs_its_valid_until():
    assert parse_row(2, row(code(8), valid_until="")) == (
        "valid_until: A certified tier needs the date it is valid until.")


def test_tier_none_needs_no_date():
    assert parse_row(2, row(code(8), tier="none", valid_until=None)) == TierRow(2, code(8), Tier.NONE, None)


def test_every_problem_in_a_row_is_reported_at_once():
    message = parse_row(2, row(wrong_check(code(9)), tier="gold", valid_until="soon"))
    assert "uscc: " in message and "tier: " in message and "valid_until: " in message


# Many rows -------------------------------------------------------------------------------------------

def test_a_uscc_listed_again_is_an_error_on_the_later_row_and_the_first_listing_counts():
    checked = check_rows([(2, row(code(1), tier="srdi")), (3, row(code(2))),
                          (4, row(code(1).lower(), tier="little_giant"))])
    assert [(r.row, r.tier) for r in checked.good] == [(2, Tier.SRDI), (3, Tier.SRDI)]
    assert [e.row for e in checked.errors] == [4]
    assert f"{code(1)} appears again in row 4" in checked.errors[0].message
    assert "first listing, in row 2" in checked.errors[0].message


def test_a_bad_row_is_reported_for_what_is_wrong_with_it_even_when_its_uscc_came_before():
    checked = check_rows([(2, row(code(1))), (3, row(code(1), tier="gold"))])
    assert [r.row for r in checked.good] == [2]
    assert checked.errors[0].message.startswith("tier: ")


# Reading files ---------------------------------------------------------------------------------------

def test_csv_columns_are_found_by_name_whatever_their_case_order_and_spaces():
    content = f" Valid_Until ,USCC,Name, TIER\n2027-12-31,{code(1)},Acme,srdi\n".encode()
    assert read_rows("list.csv", content) == [
        (2, {"uscc": code(1), "tier": "srdi", "valid_until": "2027-12-31"})]


def test_a_csv_saved_by_excel_with_a_byte_order_mark_is_read():
    content = f"uscc,tier,valid_until\r\n{code(1)},srdi,2027-12-31\r\n".encode("utf-8-sig")
    assert read_rows("LIST.CSV", content)[0][1]["uscc"] == code(1)


def test_blank_rows_are_skipped_and_row_numbers_stay_those_the_user_sees():
    content = f"uscc,tier,valid_until\n{code(1)},srdi,2027-12-31\n\n,,\n{code(2)},none,\n".encode()
    assert [number for number, _ in read_rows("list.csv", content)] == [2, 5]


def test_a_short_csv_line_leaves_the_missing_cells_blank():
    rows = read_rows("list.csv", f"uscc,tier,valid_until\n{code(1)},none\n".encode())
    assert rows == [(2, {"uscc": code(1), "tier": "none", "valid_until": None})]


def test_an_xlsx_is_read_from_its_first_worksheet_with_date_cells_and_row_numbers():
    content = xlsx(["USCC", "Tier", "Valid_until"], [code(1), "srdi", EXCEL_DATE],
                   [None, None, None], [code(2), "none", None])
    assert read_rows("名单.xlsx", content) == [
        (2, {"uscc": code(1), "tier": "srdi", "valid_until": EXCEL_DATE}),
        (4, {"uscc": code(2), "tier": "none", "valid_until": None})]


@pytest.mark.parametrize("filename", ["list.xls", "list.txt", "list", "list.csv.exe"])
def test_only_csv_and_xlsx_files_are_accepted(filename):
    assert "Upload a CSV (.csv) or Excel (.xlsx) file" in file_error(filename, b"uscc,tier,valid_until\n")


def test_a_missing_column_is_named():
    message = file_error("list.csv", f"uscc,tier\n{code(1)},srdi\n".encode())
    assert "lacks the column(s) valid_until" in message


def test_a_column_given_twice_is_refused():
    assert "tier more than once" in file_error("list.csv", b"uscc,tier,valid_until,tier\n")


@pytest.mark.parametrize("content", [b"", b"\n\n", "\ufeff".encode()])
def test_an_empty_file_is_refused(content):
    assert "empty" in file_error("list.csv", content)


def test_a_header_without_data_is_refused():
    assert "no rows of data" in file_error("list.csv", b"uscc,tier,valid_until\n\n")


def test_a_csv_that_is_not_utf8_is_refused_with_how_to_save_it():
    content = "uscc,tier,valid_until,名称\n".encode("gb18030")
    assert "CSV UTF-8" in file_error("list.csv", content)


def test_a_file_that_is_not_really_an_xlsx_is_refused():
    assert "cannot be opened as an Excel workbook" in file_error("list.xlsx", b"uscc,tier,valid_until\n")


def test_more_than_the_row_limit_is_refused():
    line = f"{code(1)},srdi,2027-12-31\n"
    content = ("uscc,tier,valid_until\n" + line * (MAX_ROWS + 1)).encode()
    assert "more than 100,000 rows" in file_error("list.csv", content)
    assert len(read_rows("list.csv", ("uscc,tier,valid_until\n" + line * MAX_ROWS).encode())) == MAX_ROWS
