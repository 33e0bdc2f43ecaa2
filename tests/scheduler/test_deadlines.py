"""The bank's answer deadline and the counter-offer's expiry, as the scheduler keeps them: a bank is reminded once
when an application's respond_by is near and once when it has passed, never about one it has decided; a
counter-offer left unanswered past its expiry lapses like a decline, and the enterprise may choose another offer.
On PostgreSQL, two reminder runs at the same moment send each reminder once."""

import datetime as dt
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import time_machine
from flask_migrate import upgrade
from sqlalchemy import func, select

from marketplace import create_app, db
from marketplace.auth.models import Role, User
from marketplace.dates import SHANGHAI, working_day, working_days_after, working_days_between
from marketplace.errors import Conflict
from marketplace.financing import deadlines, services
from marketplace.financing.models import Application, ApplicationStatus
from marketplace.financing.schemas import DecisionIn
from marketplace.notifications.models import Notification
from marketplace.scheduler.models import JobRun, RunOutcome
from marketplace.scheduler.runner import JOBS, run_job
from marketplace.timeline import COUNTER_ACCEPTED, COUNTER_LAPSED, TimelineEvent
from tests.scheduler.helpers import said

PRODUCT = {"name": "Plain credit", "product_type": "credit", "amount_min": "100000.00",
           "amount_max": "10000000.00", "term_min_months": 6, "term_max_months": 36, "rate_spread_bp": 30,
           "eligible_tiers": ["srdi", "little_giant"], "guarantee": "none"}
REQUEST = {"amount": "2000000.00", "term_months": 12, "purpose": "Working capital"}
DAY = dt.timedelta(days=1)


def publish(bank, spread=30):
    product = bank.post("/api/v1/products", json={**PRODUCT, "rate_spread_bp": spread}).json
    assert bank.post(f"/api/v1/products/{product['id']}/publish").status_code == 200


@pytest.fixture
def routed(as_role, world):
    """A request routed to the first bank: the application, its respond_by and the day it was routed."""
    publish(as_role("bank"))
    enterprise = as_role("enterprise")
    request = enterprise.post("/api/v1/financing-requests", json=REQUEST).json
    response = enterprise.post(f"/api/v1/financing-requests/{request['id']}/select",
                               json={"offer_id": request["offers"][0]["id"]})
    assert response.status_code == 200, response.json
    [application] = response.json["applications"]
    assert application["status"] == "submitted" and application["id"] == response.json["application"]["id"]
    return SimpleNamespace(id=application["id"], request_id=request["id"], routed_on=dt.datetime.now(SHANGHAI).date(),
                           respond_by=dt.date.fromisoformat(application["respond_by"]))


def remind_on(app, day):
    with app.app_context():
        sent = deadlines.remind(day)
        db.session.commit()
        return sent


def notices(client, kind):
    return [n for n in client.get("/api/v1/notifications?page_size=500").json if n["kind"] == kind]


def at(day, hour, minute=0):
    return dt.datetime.combine(day, dt.time(hour, minute), SHANGHAI)


# Standing: the flag the pages show -----------------------------------------------------------------------------

def test_respond_by_is_three_working_days_after_routing(routed):
    assert working_days_between(routed.routed_on, routed.respond_by) == 3
    assert working_day(routed.respond_by)[0]


def test_standing_on_time_near_overdue_and_none_once_decided(app, routed, as_role):
    with app.app_context():
        application = db.session.get(Application, routed.id)
        assert deadlines.standing(application, routed.routed_on) == "on_time"
        assert deadlines.standing(application, routed.respond_by - DAY) == "near"
        assert deadlines.standing(application, routed.respond_by) == "near"
        assert deadlines.standing(application, routed.respond_by + DAY) == "overdue"
        assert deadlines.standing(application, routed.respond_by - DAY, near=0) == "on_time"
    as_role("bank").post(f"/api/v1/applications/{routed.id}/decision",
                         json={"decision": "declined", "reason": "Outside our sector limits"})
    with app.app_context():
        application = db.session.get(Application, routed.id)
        assert deadlines.standing(application, routed.respond_by + DAY) is None


def test_standing_without_a_deadline_is_none():
    assert deadlines.standing(Application(status=ApplicationStatus.SUBMITTED, respond_by=None),
                              dt.date(2026, 9, 30), near=1) is None


@pytest.mark.parametrize("near", [0, 1, 2])
def test_the_set_based_horizon_agrees_with_standing_across_the_national_day_holiday(app, near):
    """What remind() selects in SQL (respond_by before near_horizon) is what standing() calls near, day by day
    through the National Day holiday, its make-up working day and weekends."""
    with app.app_context():
        for today in (dt.date(2026, 9, 24) + n * DAY for n in range(24)):
            horizon = deadlines.near_horizon(today, near)
            for respond_by in (today + n * DAY for n in range(16)):
                flagged = deadlines.standing(Application(status=ApplicationStatus.SUBMITTED, respond_by=respond_by),
                                             today, near=near)
                assert (flagged == "near") == (respond_by < horizon), (today, respond_by, near)
    # On 09-30 with one working day's notice, a deadline after the holiday (10-08) is near: the holiday is no notice.
    assert working_days_after(dt.date(2026, 9, 30), 1) == dt.date(2026, 10, 8)


# Reminders -------------------------------------------------------------------------------------------------------

def test_the_bank_is_reminded_once_when_the_deadline_is_near(app, routed, make, world, as_role, login_api):
    colleague = login_api(make.user(Role.BANK, world.bank.id))
    bank = as_role("bank")

    assert remind_on(app, routed.routed_on) == {"near": [], "passed": []}  # day 0: three working days to go
    assert notices(bank, "deadline.near") == []

    assert remind_on(app, routed.respond_by - DAY) == {"near": [routed.id], "passed": []}
    for user in (bank, colleague):
        [near] = notices(user, "deadline.near")
        assert near["link"] == f"/bank/applications/{routed.id}"
        assert near["title"] == f"Application {routed.id} is due by {routed.respond_by.isoformat()}"
        assert world.enterprise.name in near["body"] and str(routed.id) in near["body"]
        assert routed.respond_by.isoformat() in near["body"]
    assert notices(as_role("enterprise"), "deadline.near") == []
    assert notices(as_role("bank2"), "deadline.near") == []

    assert remind_on(app, routed.respond_by - DAY) == {"near": [], "passed": []}  # run again: nothing new
    assert remind_on(app, routed.respond_by) == {"near": [], "passed": []}  # still near on the day itself
    assert len(notices(bank, "deadline.near")) == 1
    with app.app_context():
        assert db.session.get(Application, routed.id).reminded == "near"


def test_the_bank_is_reminded_once_when_the_deadline_has_passed(app, routed, as_role):
    bank = as_role("bank")
    assert remind_on(app, routed.respond_by - DAY)["near"] == [routed.id]
    assert remind_on(app, routed.respond_by + DAY) == {"near": [], "passed": [routed.id]}
    [passed] = notices(bank, "deadline.passed")
    assert passed["link"] == f"/bank/applications/{routed.id}"
    assert passed["title"] == f"Application {routed.id} is overdue"
    assert routed.respond_by.isoformat() in passed["body"]
    assert remind_on(app, routed.respond_by + DAY) == {"near": [], "passed": []}
    assert remind_on(app, routed.respond_by + 10 * DAY) == {"near": [], "passed": []}
    assert len(notices(bank, "deadline.passed")) == 1 and len(notices(bank, "deadline.near")) == 1
    with app.app_context():
        assert db.session.get(Application, routed.id).reminded == "passed"


def test_a_deadline_passed_unreminded_sends_only_the_passed_reminder(app, routed, as_role):
    assert remind_on(app, routed.respond_by + 2 * DAY) == {"near": [], "passed": [routed.id]}
    bank = as_role("bank")
    assert len(notices(bank, "deadline.passed")) == 1 and notices(bank, "deadline.near") == []


@pytest.mark.parametrize("how", ["declined", "countered", "withdrawn"])
def test_an_application_no_longer_waiting_for_the_bank_gets_no_reminder(app, routed, as_role, how):
    if how == "withdrawn":
        assert as_role("enterprise").post(f"/api/v1/financing-requests/{routed.request_id}/withdraw") \
            .status_code == 200
    else:
        body = {"decision": "declined", "reason": "Outside our sector limits"} if how == "declined" else \
            {"decision": "approved", "rate_spread_bp": 260, "reason": "Sector risk"}
        decided = as_role("bank").post(f"/api/v1/applications/{routed.id}/decision", json=body)
        assert decided.status_code == 200 and decided.json["status"] == how
    for day in (routed.respond_by - DAY, routed.respond_by + DAY):
        assert remind_on(app, day) == {"near": [], "passed": []}
    bank = as_role("bank")
    assert notices(bank, "deadline.near") == notices(bank, "deadline.passed") == []


def test_a_decision_after_the_near_reminder_stops_the_passed_one(app, routed, as_role):
    assert remind_on(app, routed.respond_by - DAY)["near"] == [routed.id]
    as_role("bank").post(f"/api/v1/applications/{routed.id}/decision", json={"decision": "approved"})
    assert remind_on(app, routed.respond_by + DAY) == {"near": [], "passed": []}


def test_reminders_are_in_the_audit_trail(app, routed, as_role):
    remind_on(app, routed.respond_by - DAY)
    remind_on(app, routed.respond_by + DAY)
    trail = as_role("admin").get(f"/api/v1/audit?object_type=application&object_id={routed.id}&page_size=500")
    assert trail.status_code == 200, trail.json
    changes = [(e["changes"]["reminded"], e["action"], e["actor"]) for e in trail.json if "reminded" in e["changes"]]
    expected = [([None, "near"], "application.updated", "system"),
                (["near", "passed"], "application.updated", "system")]
    assert sorted(changes, key=str) == sorted(expected, key=str)


def test_the_response_deadlines_job_runs_once_a_day(app, routed, as_role):
    job = JOBS["response_deadlines"]
    assert job.trigger().get_next_fire_time(None, at(dt.date(2026, 9, 30), 1)) == at(dt.date(2026, 9, 30), 9)
    before = run_job(app, job, now=at(routed.respond_by - DAY, 9))
    assert before.outcome is RunOutcome.OK and before.slot == (routed.respond_by - DAY).isoformat()
    assert said(app, before) == f"{routed.respond_by - DAY}: 1 bank reminded of a deadline near ({routed.id}); " \
                                f"0 of a deadline passed"
    assert run_job(app, job, now=at(routed.respond_by - DAY, 9, 1)) is None  # the day's slot is taken
    after = run_job(app, job, now=at(routed.respond_by + DAY, 9))
    assert said(app, after).endswith(f"0 banks reminded of a deadline near; 1 of a deadline passed ({routed.id})")
    bank = as_role("bank")
    assert len(notices(bank, "deadline.near")) == len(notices(bank, "deadline.passed")) == 1
    with app.app_context():
        runs = db.session.scalars(select(JobRun.slot).where(JobRun.job == "response_deadlines")
                                  .order_by(JobRun.id)).all()
    assert runs == [(routed.respond_by - DAY).isoformat(), (routed.respond_by + DAY).isoformat()]


# Counter-offers that lapse -------------------------------------------------------------------------------------

def test_an_unanswered_counter_offer_lapses_and_another_offer_may_be_chosen(app, as_role, world):
    bank, bank2, enterprise = as_role("bank"), as_role("bank2"), as_role("enterprise")
    publish(bank, 30)
    publish(bank2, 45)
    request = enterprise.post("/api/v1/financing-requests", json=REQUEST).json
    first, second = request["offers"][:2]
    assert (first["bank_id"], second["bank_id"]) == (world.bank.id, world.bank2.id)
    application_id = enterprise.post(f"/api/v1/financing-requests/{request['id']}/select",
                                     json={"offer_id": first["id"]}).json["application"]["id"]
    countered = bank.post(f"/api/v1/applications/{application_id}/decision",
                          json={"decision": "approved", "rate_spread_bp": 260, "reason": "Sector risk"})
    assert countered.status_code == 200 and countered.json["status"] == "countered"
    expires_on = dt.date.fromisoformat(countered.json["counter"]["expires_on"])

    job = JOBS["counter_offer_lapse"]
    assert job.trigger().get_next_fire_time(None, at(expires_on, 0, 1)) == at(expires_on, 0, 40)
    on_the_day = run_job(app, job, now=at(expires_on, 0, 40))  # the last day it may be accepted
    assert said(app, on_the_day) == f"{expires_on}: 0 counter-offers lapsed unanswered"
    lapsed = run_job(app, job, now=at(expires_on + DAY, 0, 40))
    assert lapsed.outcome is RunOutcome.OK and lapsed.slot == (expires_on + DAY).isoformat()
    assert said(app, lapsed) == f"{expires_on + DAY}: 1 counter-offer lapsed unanswered ({application_id})"
    assert said(app, run_job(app, job, now=at(expires_on + 2 * DAY, 0, 40))).startswith(
        f"{expires_on + 2 * DAY}: 0 counter-offers lapsed")  # nothing twice

    assert bank.get(f"/api/v1/applications/{application_id}").json["status"] == "counter_lapsed"
    shown = enterprise.get(f"/api/v1/financing-requests/{request['id']}").json
    assert shown["status"] == "declined"
    assert [a["status"] for a in shown["applications"]] == ["counter_lapsed"]
    [told_enterprise] = notices(enterprise, "counter.lapsed")
    assert told_enterprise["link"] == f"/enterprise/requests/{request['id']}"
    assert expires_on.isoformat() in told_enterprise["body"]
    [told_bank] = notices(bank, "counter.lapsed")
    assert told_bank["link"] == f"/bank/applications/{application_id}"
    assert world.enterprise.name in told_bank["body"]
    assert notices(bank2, "counter.lapsed") == []
    # Past its expiry the counter-offer cannot be accepted any more.
    assert enterprise.post(f"/api/v1/applications/{application_id}/counter-offer/accept").status_code == 409

    other = enterprise.post(f"/api/v1/financing-requests/{request['id']}/select", json={"offer_id": second["id"]})
    assert other.status_code == 200, other.json
    assert other.json["status"] == "routed"
    assert [(a["status"], a["bank_id"]) for a in other.json["applications"]] == [
        ("counter_lapsed", world.bank.id), ("submitted", world.bank2.id)]


def test_a_counter_offer_answered_in_time_does_not_lapse(app, as_role):
    bank, enterprise = as_role("bank"), as_role("enterprise")
    publish(bank)
    request = enterprise.post("/api/v1/financing-requests", json=REQUEST).json
    application_id = enterprise.post(f"/api/v1/financing-requests/{request['id']}/select",
                                     json={"offer_id": request["offers"][0]["id"]}).json["application"]["id"]
    countered = bank.post(f"/api/v1/applications/{application_id}/decision",
                          json={"decision": "approved", "rate_spread_bp": 260, "reason": "Sector risk"}).json
    assert enterprise.post(f"/api/v1/applications/{application_id}/counter-offer/accept").status_code == 200
    expires_on = dt.date.fromisoformat(countered["counter"]["expires_on"])
    done = run_job(app, JOBS["counter_offer_lapse"], now=at(expires_on + DAY, 0, 40))
    assert said(app, done) == f"{expires_on + DAY}: 0 counter-offers lapsed unanswered"
    assert bank.get(f"/api/v1/applications/{application_id}").json["status"] == "approved"
    assert notices(enterprise, "counter.lapsed") == []


def test_the_new_jobs_are_on_the_admin_jobs_page(app, world, browser_of):
    page = browser_of(world.admin_user).get("/admin/jobs")
    assert 'data-job="counter_offer_lapse"' in page.text and 'data-job="response_deadlines"' in page.text


# On PostgreSQL: two runs at the same moment ----------------------------------------------------------------------

postgresql_only = pytest.mark.skipif(os.environ.get("MARKETPLACE_TEST_DB", "sqlite") != "postgresql",
                                     reason="row locks and concurrent writers are PostgreSQL's; runs in the "
                                            "PostgreSQL pass")


@pytest.fixture
def race(databases):
    from tests.guarantees.test_quota_concurrency import world_with_routed_applications

    app = create_app({"PROFILE": "test", "DATABASE_URL": databases.fresh(f"deadline_race_{uuid.uuid4().hex[:6]}"),
                      "SECRET_KEY": "race"})
    with app.app_context():
        upgrade()
    _agreement_id, applications = world_with_routed_applications(app, one_enterprise=False)
    yield app, applications
    db.engine_of(app).dispose()


def two_runs_at_once(app, day):
    """Two remind() runs in two threads with their own connections, started together; each holds its transaction
    open a moment after its work, so the other runs while it is still uncommitted. → what each sent."""
    start = threading.Barrier(2)

    def run():
        with app.app_context():
            start.wait(timeout=10)
            sent = deadlines.remind(day)
            time.sleep(0.3)
            db.session.commit()
            return sent

    with ThreadPoolExecutor(max_workers=2) as pool:
        return [future.result() for future in [pool.submit(run), pool.submit(run)]]


def reminders(app, kind):
    with app.app_context():
        return db.session.execute(select(Notification.link, func.count()).where(Notification.kind == kind)
                                  .group_by(Notification.link)).all()


@postgresql_only
def test_two_reminder_runs_at_the_same_moment_remind_each_application_once(race):
    app, applications = race
    with app.app_context():
        [respond_by] = set(db.session.scalars(select(Application.respond_by)))

    for day, kind, reminder in ((respond_by - DAY, "deadline.near", "near"),
                                (respond_by + DAY, "deadline.passed", "passed")):
        first, second = two_runs_at_once(app, day)
        assert sorted(first[reminder] + second[reminder]) == sorted(applications)
        assert sorted(map(len, (first[reminder], second[reminder]))) == [0, len(applications)]
        counted = reminders(app, kind)
        assert len(counted) == len(applications) and {count for _link, count in counted} == {1}
    with app.app_context():
        assert set(db.session.scalars(select(Application.reminded))) == {"passed"}


@postgresql_only
def test_a_counter_offer_lapsing_while_its_enterprise_accepts_it_ends_one_way_only(race):
    """The lapse job (for the day after expiry) and the enterprise (accepting on its last day, a moment before
    midnight) at once: each counter-offer is either accepted or lapsed, never both, whoever locks first."""
    app, applications = race
    chosen = applications[:8]  # the quota fits ten: an accepted counter-offer always gets its guarantee
    with app.app_context():
        bank_user = db.session.scalar(select(User).where(User.username == "race.bank"))
        for application_id in chosen:
            services.decide(db.session.get(Application, application_id), bank_user, DecisionIn().load(
                {"decision": "approved", "rate_spread_bp": 260, "reason": "Sector risk"}))
        db.session.commit()
        [expires_on] = {db.session.get(Application, a).counter.expires_on for a in chosen}
        enterprise_of = {a: db.session.get(Application, a).request.enterprise_id for a in chosen}
        user_of = {a: db.session.scalar(select(User.id).where(User.organization_id == enterprise_of[a]))
                   for a in chosen}
    start = threading.Barrier(2)

    def accept_each():
        accepted = []
        with app.app_context():
            start.wait(timeout=10)
            for application_id in chosen:
                user = db.session.get(User, user_of[application_id])
                try:
                    services.accept_counter(services.get_own_application(user, application_id), user)
                    db.session.commit()
                    accepted.append(application_id)
                except Conflict:
                    db.session.rollback()
        return accepted

    def lapse():
        with app.app_context():
            start.wait(timeout=10)
            lapsed = services.lapse_counters(expires_on + DAY)
            time.sleep(0.3)
            db.session.commit()
            return lapsed

    with time_machine.travel(dt.datetime.combine(expires_on, dt.time(23, 59, 30), SHANGHAI)):
        with ThreadPoolExecutor(max_workers=2) as pool:
            accepted, lapsed = (future.result() for future in [pool.submit(accept_each), pool.submit(lapse)])

    assert sorted(accepted + lapsed) == sorted(chosen) and not set(accepted) & set(lapsed)
    with app.app_context():
        statuses = dict(db.session.execute(select(Application.id, Application.status)
                                           .where(Application.id.in_(chosen))).all())
        assert {a for a, s in statuses.items() if s is ApplicationStatus.APPROVED} == set(accepted)
        assert {a for a, s in statuses.items() if s is ApplicationStatus.COUNTER_LAPSED} == set(lapsed)
        told = dict(db.session.execute(select(TimelineEvent.application_id, func.count())
                                       .where(TimelineEvent.application_id.in_(chosen),
                                              TimelineEvent.event.in_([COUNTER_ACCEPTED, COUNTER_LAPSED]))
                                       .group_by(TimelineEvent.application_id)).all())
        assert told == {a: 1 for a in chosen}
