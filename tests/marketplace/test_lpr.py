"""The LPR table (admin writes, everyone reads the rates in force)."""

import datetime as dt

from marketplace.dates import business_today


def test_admin_records_the_lpr_and_everyone_reads_it(as_role):
    put = as_role("admin").put("/api/v1/lpr", json={"effective_on": "2025-10-20", "lpr_1y": "0.0295",
                                                    "lpr_5y": "0.0345"})
    assert put.status_code == 200
    got = as_role("enterprise").get("/api/v1/lpr")
    assert got.json == {"effective_on": "2025-10-20", "lpr_1y": "0.0295", "lpr_5y": "0.0345"}


def test_a_future_dated_lpr_does_not_apply_until_its_day(as_role):
    tomorrow = business_today() + dt.timedelta(days=1)
    as_role("admin").put("/api/v1/lpr", json={"effective_on": tomorrow.isoformat(), "lpr_1y": "0.0250",
                                              "lpr_5y": "0.0300"})
    assert as_role("bank").get("/api/v1/lpr").json["lpr_1y"] == "0.0300"
    later = as_role("bank").get(f"/api/v1/lpr?on={tomorrow.isoformat()}")
    assert later.json["lpr_1y"] == "0.0250"


def test_recording_the_same_day_again_corrects_it(as_role):
    admin = as_role("admin")
    admin.put("/api/v1/lpr", json={"effective_on": "2025-09-22", "lpr_1y": "0.0310", "lpr_5y": "0.0350"})
    assert admin.get("/api/v1/lpr?on=2025-09-22").json["lpr_1y"] == "0.0310"


def test_before_any_lpr_the_answer_is_404(as_role):
    response = as_role("bank").get("/api/v1/lpr?on=2000-01-01")
    assert response.status_code == 404


def test_lpr_values_are_validated(as_role):
    response = as_role("admin").put("/api/v1/lpr", json={"effective_on": "2025-13-01", "lpr_1y": "3.45",
                                                         "lpr_5y": "3.5%"})
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"effective_on", "lpr_1y", "lpr_5y"}


def test_only_the_admin_sets_the_lpr(as_role):
    response = as_role("bank").put("/api/v1/lpr", json={"effective_on": "2025-10-20", "lpr_1y": "0.0300",
                                                        "lpr_5y": "0.0350"})
    assert response.status_code == 403
