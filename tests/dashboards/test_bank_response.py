"""The banks' response to applications: on the admin dashboard, each bank's pick-up rate within its deadline, the
median working days to a decision and its approval rate; on a bank's dashboard, what is past or near its deadline.

Applications are routed and decided through the API (so decided_at, statuses and the withdrawal's timeline entry are
the marketplace's own), then moved in time: routed, decided and withdrawn on chosen days of a plain working week."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from marketplace import db
from marketplace.dashboards.queries import _median
from marketplace.dates import SHANGHAI, business_today, working_day, working_days_after
from marketplace.financing.models import Application
from marketplace.timeline import WITHDRAWN, TimelineEvent

PRODUCT = {"name": "Plain credit", "product_type": "credit", "amount_min": "100000.00",
           "amount_max": "10000000.00", "term_min_months": 6, "term_max_months": 36, "rate_spread_bp": 30,
           "eligible_tiers": ["srdi", "little_giant"], "guarantee": "none"}
REQUEST = {"amount": "2000000.00", "term_months": 12, "purpose": "Working capital"}


def _plain_week() -> dt.date:
    """A Monday at least two weeks back whose Monday to Friday and the next Monday are working days, and whose
    weekend is not (no holiday nor make-up day): the figures below count working days in it."""
    monday = business_today() - dt.timedelta(days=14 + business_today().weekday())
    while not all(working_day(monday + dt.timedelta(days=n))[0] is (n % 7 < 5) for n in range(8)):
        monday -= dt.timedelta(days=7)
    return monday


MON = _plain_week()
TUE, WED, THU, FRI, NEXT_MON = (MON + dt.timedelta(days=n) for n in (1, 2, 3, 4, 7))


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """A moment of a business day (Asia/Shanghai)."""
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=SHANGHAI)


@pytest.fixture
def routing(world, as_role):
    """route(bank) → (request id, application id): a new request of the enterprise routed to that bank's offer."""
    for who in ("bank", "bank2"):
        bank = as_role(who)
        product = bank.post("/api/v1/products", json=PRODUCT).json
        assert bank.post(f"/api/v1/products/{product['id']}/publish").status_code == 200
    enterprise = as_role("enterprise")

    def route(bank_id: int) -> tuple[int, int]:
        request = enterprise.post("/api/v1/financing-requests", json=REQUEST).json
        offer = next(o for o in request["offers"] if o["bank_id"] == bank_id)
        routed = enterprise.post(f"/api/v1/financing-requests/{request['id']}/select", json={"offer_id": offer["id"]})
        assert routed.status_code == 200, routed.json
        return request["id"], routed.json["application"]["id"]

    return route


@pytest.fixture
def history(app, world, as_role, routing):
    """Applications to two banks, answered (or not) on chosen days. Deadlines are Thursday's (3 working days after
    Monday) unless said."""
    banks = {world.bank.id: as_role("bank"), world.bank2.id: as_role("bank2")}
    enterprise = as_role("enterprise")
    moves = []

    def application(bank_id: int, outcome: str, routed: dt.datetime, decided: dt.datetime | None = None,
                    respond_by: dt.date | None = THU, withdrawn: dt.datetime | None = None) -> None:
        request_id, application_id = routing(bank_id)
        bank = banks[bank_id]
        decision = {"approved": {"decision": "approved"},
                    "declined": {"decision": "declined", "reason": "Cash flow too thin"},
                    "countered": {"decision": "approved", "approved_amount": "1500000.00",
                                  "reason": "A smaller loan"}}
        if outcome in ("approved", "declined", "countered", "counter_accepted"):
            answer = decision["countered" if outcome == "counter_accepted" else outcome]
            response = bank.post(f"/api/v1/applications/{application_id}/decision", json=answer)
            assert response.status_code == 200, response.json
        if outcome == "counter_accepted":
            accepted = enterprise.post(f"/api/v1/applications/{application_id}/counter-offer/accept")
            assert accepted.status_code == 200, accepted.json
        if outcome == "withdrawn":
            assert enterprise.post(f"/api/v1/financing-requests/{request_id}/withdraw").status_code == 200
        moves.append((request_id, application_id, routed, decided, respond_by, withdrawn))

    # Bank 1: four received, three answered on time (0, 1 and 3 working days), one waiting past Thursday.
    application(world.bank.id, "approved", _at(MON, 10), _at(TUE, 9))
    application(world.bank.id, "declined", _at(MON, 10), _at(THU, 17))
    application(world.bank.id, "counter_accepted", _at(MON, 10), _at(MON, 16))  # a counter-offer, then accepted
    application(world.bank.id, "submitted", _at(MON, 10))

    # Bank 2: late, on time, withdrawn either side of the deadline, not due yet, too old, an old row without deadline.
    application(world.bank2.id, "declined", _at(MON, 7), _at(NEXT_MON, 9))  # routed Sunday 23:00 UTC: Monday; 5 days
    application(world.bank2.id, "countered", _at(MON, 10), _at(THU, 11))  # answered on time; not (yet) approved
    application(world.bank2.id, "approved", _at(MON, 10), _at(FRI, 7))  # Thursday 23:00 UTC, but Friday: late, 4 days
    application(world.bank2.id, "approved", _at(MON, 10), _at(TUE, 10))  # 1 day
    application(world.bank2.id, "declined", _at(MON, 10), _at(WED, 10), respond_by=None)  # Thursday all the same
    application(world.bank2.id, "withdrawn", _at(MON, 10), withdrawn=_at(TUE, 10))  # before the deadline: left out
    application(world.bank2.id, "withdrawn", _at(MON, 10), withdrawn=_at(FRI, 10))  # unanswered by it: missed
    today = business_today()
    application(world.bank2.id, "submitted", _at(today, 1), respond_by=working_days_after(today, 3))  # not yet due
    application(world.bank2.id, "submitted", _at(today, 1), respond_by=today)  # due today: not yet past
    long_ago = today - dt.timedelta(days=400)
    application(world.bank2.id, "submitted", _at(long_ago, 10), respond_by=long_ago)  # before the 12 months

    with app.app_context():
        for request_id, application_id, routed, decided, respond_by, withdrawn in moves:
            db.session.execute(update(Application).where(Application.id == application_id).values(
                created_at=routed, respond_by=respond_by,
                **({"decided_at": decided} if decided is not None else {})))
            if withdrawn is not None:
                db.session.execute(update(TimelineEvent).where(TimelineEvent.request_id == request_id,
                                                               TimelineEvent.event == WITHDRAWN).values(at=withdrawn))
        db.session.commit()
        undecided = db.session.scalars(select(Application.status).where(Application.decided_at.is_(None))).all()
    assert sorted(undecided) == ["submitted"] * 4 + ["withdrawn"] * 2  # the rest are answers


def _row(page: str, bank: str) -> dict[str, str]:
    row = re.search(rf'<tr data-bank="{re.escape(bank)}"[^>]*>(.*?)</tr>', page, re.S).group(1)
    return dict(re.findall(r'data-col="(\w+)">(.*?)</td>', row))


def _chart_table(page: str, key: str) -> dict[str, list[str]]:
    chart = re.search(rf'<figure class="chart" data-chart="{key}">(.*?)</figure>', page, re.S).group(1)
    rows = re.findall(r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', chart, re.S)
    return {category: re.findall(r'data-value="([^"]*)">(.*?)</td>', cells) for category, cells in rows}


def _figure(page: str, key: str) -> str:
    return re.search(rf'data-figure="{key}"><dt>.*?</dt><dd>(.*?)</dd>', page).group(1)


def test_the_admin_sees_each_banks_pick_up_rate_median_days_and_approval_rate(world, history, browser_of):
    page = browser_of(world.admin_user).get("/admin/dashboard").text

    assert _row(page, world.bank.name) == {
        "received": "4", "due": "4", "on_time": "3", "pick_up_rate": "75.0%", "overdue": "1",
        "median_days": "1", "approval_rate": "66.7%"}
    # 10 received, less the three left out (withdrawn by the deadline, waiting and not yet past it) and the one
    # routed before the 12 months; on time: the counter-offer, the 1-day approval and the row without a deadline.
    assert _row(page, world.bank2.name) == {
        "received": "9", "due": "6", "on_time": "3", "pick_up_rate": "50.0%", "overdue": "0",
        "median_days": "3", "approval_rate": "40.0%"}

    pick_up = _chart_table(page, "pick_up")
    assert pick_up == {world.bank.name: [("0.750", "75.0%")], world.bank2.name: [("0.500", "50.0%")]}
    assert "Target 95.0%" in page
    # Both banks are below the target: their rows are marked.
    assert page.count('class="overdue-row"') == 2


def test_an_even_number_of_answers_has_the_middle_two_averaged():
    assert _median({1: 2, 4: 1, 5: 1}) == Decimal("2.5")
    assert _median({3: 1}) == Decimal("3")
    assert _median({}) is None


def test_without_applications_the_admin_sees_the_sections_empty_message(world, browser_of):
    page = browser_of(world.admin_user).get("/admin/dashboard").text
    section = re.search(r'<section data-section="bank-response">(.*?)</section>', page, re.S).group(1)
    assert "No application has been routed to a bank since" in section
    assert 'data-chart="pick_up"' not in page and 'data-table="bank-response"' not in page


def test_a_bank_sees_what_is_past_its_deadline_and_what_is_due_within_a_working_day(world, history, browser_of):
    first = browser_of(world.bank_user).get("/bank/dashboard").text
    assert (_figure(first, "overdue"), _figure(first, "due_soon")) == ("1", "0")
    assert "Due within 1 working day" in first
    assert "Awaiting your decision: 1 past their deadline and 0 due within 1 working day." in first
    assert 'href="/bank/applications"' in first

    # The one routed long ago is past its deadline too (a bank's queue has no period); the one due today is near.
    second = browser_of(world.bank2_user).get("/bank/dashboard").text
    assert (_figure(second, "overdue"), _figure(second, "due_soon")) == ("1", "1")


def test_a_bank_with_nothing_near_its_deadline_sees_no_warning(app, world, routing, browser_of):
    routing(world.bank.id)  # routed today: due in three working days
    _request_id, undated = routing(world.bank.id)
    with app.app_context():  # routed before there were deadlines: its queue flags nothing, nor does the dashboard
        db.session.execute(update(Application).where(Application.id == undated).values(
            respond_by=None, created_at=_at(MON, 10)))
        db.session.commit()
    page = browser_of(world.bank_user).get("/bank/dashboard").text
    assert (_figure(page, "overdue"), _figure(page, "due_soon")) == ("0", "0")
    assert "data-deadlines" not in page
