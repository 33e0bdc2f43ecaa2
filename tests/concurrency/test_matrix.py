"""The concurrency matrix (issue 18): every operation of the app's own OpenAPI document that changes state or money,
sent AT_ONCE (8) times at the same object at the same moment, on PostgreSQL. Exactly one call takes effect — counted
in the rows, statuses and money afterwards, not only in the answers — and the others are refused with 409 or replay
it (the same Idempotency-Key); nothing answers 5xx; and afterwards every invariant `flask verify` knows holds.

Each operation has a row in MATRIX below, built like the authorization matrix: a new state-changing operation
without a row fails `test_every_state_changing_operation_has_a_row`, and a row for an operation the document no
longer has fails `test_every_row_names_an_operation_the_document_has`. A row says what "one effect" means:
- ONE: exactly one call goes through; the others answer 409 (or, with the first's Idempotency-Key, replay it), or
  the 422 the operation documents where what the first changed makes the others' request wrong (a password
  change's current password, which the first one changed);
- SET: an idempotent set (PUT, PATCH of a draft): one row, holding the value sent, whichever calls answered 200;
- EACH: by design every call makes an object or a movement of its own (its reason says why), so the race checks
  that none is lost or doubled and nothing answers 5xx;
- NONE: the operation changes nothing (its reason says so); the race checks that the answers agree.
The mixed pairs (a bank decision against a withdrawal, the SLA job against an agency's exclusion, …) are rows'
cases too: each is listed under both of its operations.

How the calls meet: released together by a barrier; and where a case names the row its calls contend for
(`hold=`), sent while the test itself holds that row locked, then let go once every call waits on a lock. Every call
has then read what it reads before any of them writes: the schedule a check made before taking the lock loses to
every time, where calls merely sent at once lose to it only when their timing happens to overlap. A service that
locks before it checks just queues the calls, and decides them one after the other.

The world is built once for the module (tests/concurrency/world.py) and committed, so each case races objects of
its own. These tests commit for real from many connections: PostgreSQL only, like the other concurrency tests.
The three table tests need no database and run on every backend.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select, update
from werkzeug.security import check_password_hash
from werkzeug.test import TestResponse

from guarantees.models import (
    Agreement,
    AgreementStatus,
    Batch,
    BatchStatus,
    Claim,
    ClaimDocument,
    ClaimStatus,
    Guarantee,
    GuaranteeStatus,
    LossAllocation,
    PoolClaim,
    PoolDeposit,
    RecoveryAllocation,
    RiskPool,
)
from marketplace import create_app, db
from marketplace.audit.models import AuditEntry
from marketplace.auth.models import ApiToken, User
from marketplace.bank_systems.models import BankCallback, CallbackOutcome
from marketplace.dates import business_today
from marketplace.fees.models import FeeRule
from marketplace.financing.loans import periods_of
from marketplace.financing.models import (
    Application,
    ApplicationStatus,
    FinancingRequest,
    Loan,
    LoanEvent,
    LoanEventType,
    LoanStatus,
    RequestStatus,
)
from marketplace.financing.schedule import apply_payment
from marketplace.ledger.models import JournalEntry
from marketplace.lpr.models import LprRate
from marketplace.notifications.models import Notification
from marketplace.orgs.models import Agency, Bank, Enterprise, Tier, TierCertification, TierImport
from marketplace.outbox import MessageStatus, OutboxMessage
from marketplace.scheduler.models import RunOutcome
from marketplace.scheduler.runner import JOBS, run_job
from marketplace.verify import problems
from products.bounds import DEFAULT, NAMES
from products.models import PricingBounds, Product, ProductStatus, ProductType
from tests.concurrency.world import (
    AMOUNT,
    AT_ONCE,
    PASSWORD,
    World,
    at_once,
    build_world,
    fee_rule,
    multipart,
    new_uscc,
    product_sheet,
    tier_list,
)

ONE, SET, EACH, NONE = "one", "set", "each", "none"
STRONG_PASSWORD = "Lantern-river-47-maple"


@dataclass(frozen=True)
class Row:
    kind: str
    #: The tests of this module that race the operation.
    cases: tuple[str, ...]
    #: What makes a SET, EACH or NONE row what it is (a ONE row needs no reason).
    why: str = ""


MATRIX: dict[tuple[str, str], Row] = {
    ("POST", "/api/v1/auth/token"): Row(EACH, ("test_eight_sign_ins_at_once_each_get_a_token",),
                                        "each sign-in issues a token of its own by design"),
    ("POST", "/api/v1/auth/token/revoke"): Row(ONE, ("test_eight_revocations_of_one_token_revoke_it_once",)),
    ("POST", "/api/v1/users"): Row(ONE, ("test_eight_users_of_one_name_make_one",)),
    # An account's life (issue 21).
    ("POST", "/api/v1/auth/password"): Row(ONE, ("test_eight_password_changes_from_one_password_change_it_once",)),
    ("POST", "/api/v1/organizations/{organization_id}/users"): Row(
        ONE, ("test_eight_additions_of_one_name_to_an_organization_make_one",
              "test_one_addition_key_sent_eight_times_adds_once")),
    ("POST", "/api/v1/users/{user_id}/disable"): Row(
        SET, ("test_eight_disablings_of_a_user_disable_them_once",
              "test_disablings_against_re_enablings_of_a_user_follow_one_another"),
        "sets the user's active flag (idempotent): every call answers 200 with the user disabled, and only the one "
        "that found them active changed it, ended their tokens and is audited"),
    ("POST", "/api/v1/users/{user_id}/enable"): Row(
        SET, ("test_eight_re_enablings_of_a_user_enable_them_once",
              "test_disablings_against_re_enablings_of_a_user_follow_one_another"),
        "sets the user's active flag (idempotent): every call answers 200 with the user active, and only the one "
        "that found them disabled changed it and is audited"),
    ("POST", "/api/v1/users/{user_id}/reset-password"): Row(
        EACH, ("test_eight_password_resets_of_a_user_follow_one_another",),
        "each reset makes a temporary password of its own by design; they must follow one another, so the one "
        "that works is one that was handed out (the last committed)"),
    ("POST", "/api/v1/banks"): Row(ONE, ("test_eight_banks_of_one_code_make_one",)),
    ("POST", "/api/v1/agencies"): Row(ONE, ("test_eight_agencies_of_one_code_make_one",)),
    ("POST", "/api/v1/enterprises/register"): Row(ONE, ("test_eight_registrations_of_one_uscc_make_one",)),
    ("PUT", "/api/v1/enterprises/{enterprise_id}/tier"): Row(
        SET, ("test_eight_tier_settings_leave_one_certification",),
        "an upsert by USCC: one certification, holding the tier sent"),
    ("PUT", "/api/v1/lpr"): Row(SET, ("test_eight_lpr_settings_for_one_date_leave_one_row",),
                                "sets the rates of a date: one row for that date, holding the rates sent"),
    ("POST", "/api/v1/products"): Row(EACH, ("test_eight_product_creations_list_eight_drafts",),
                                      "a product has no natural key: each call lists a draft of its own by design"),
    ("POST", "/api/v1/products/imports"): Row(ONE, ("test_one_import_key_sent_eight_times_imports_once",)),
    ("PATCH", "/api/v1/products/{product_id}"): Row(
        ONE, ("test_eight_edits_of_a_published_product_make_one_new_draft",
              "test_eight_edits_of_a_draft_leave_it_as_edited", "test_edits_against_deleting_a_draft")),
    ("POST", "/api/v1/products/{product_id}/publish"): Row(
        ONE, ("test_eight_publications_of_a_draft_publish_it_once", "test_publishing_against_archiving_a_draft",
              "test_publishing_against_deleting_a_draft")),
    # Issue 22: a draft never published can be deleted.
    ("DELETE", "/api/v1/products/{product_id}"): Row(
        ONE, ("test_eight_deletions_of_a_draft_delete_it_once", "test_publishing_against_deleting_a_draft",
              "test_edits_against_deleting_a_draft")),
    ("POST", "/api/v1/products/{product_id}/suspend"): Row(
        ONE, ("test_eight_suspensions_of_a_product_suspend_it_once",)),
    ("POST", "/api/v1/products/{product_id}/archive"): Row(
        ONE, ("test_eight_archivings_of_a_product_archive_it_once", "test_publishing_against_archiving_a_draft")),
    # Issue 22: the admin's pricing bounds, per product type.
    ("PUT", "/api/v1/pricing-bounds/{product_type}"): Row(
        SET, ("test_eight_settings_of_a_types_pricing_bounds_leave_one_of_them_whole",),
        "sets a product type's six bounds, all of them (a PUT): one row for the type, holding one body sent whole "
        "(the last one's), and each call audited"),
    ("POST", "/api/v1/financing-requests"): Row(ONE, ("test_one_request_key_sent_eight_times_files_one_request",)),
    ("POST", "/api/v1/financing-requests/{request_id}/select"): Row(
        ONE, ("test_eight_selections_on_one_request_route_it_once",)),
    ("POST", "/api/v1/financing-requests/{request_id}/withdraw"): Row(
        ONE, ("test_eight_withdrawals_of_one_request_withdraw_it_once",
              "test_a_bank_decision_against_a_withdrawal_one_of_them_wins")),
    ("POST", "/api/v1/applications/{application_id}/decision"): Row(
        ONE, ("test_eight_decisions_on_one_application_decide_it_once",
              "test_a_bank_decision_against_a_withdrawal_one_of_them_wins")),
    ("POST", "/api/v1/applications/{application_id}/counter-offer/accept"): Row(
        ONE, ("test_eight_accepts_of_one_counter_offer_accept_it_once",
              "test_an_accept_against_a_decline_of_a_counter_offer_one_of_them_wins")),
    ("POST", "/api/v1/applications/{application_id}/counter-offer/decline"): Row(
        ONE, ("test_eight_declines_of_one_counter_offer_decline_it_once",
              "test_an_accept_against_a_decline_of_a_counter_offer_one_of_them_wins")),
    ("POST", "/api/v1/notifications/{notification_id}/read"): Row(
        SET, ("test_eight_reads_of_one_notification_keep_the_first_time",),
        "marks read: each answers the notification read, and the time it was first read stays"),
    ("POST", "/api/v1/notifications/read-all"): Row(
        SET, ("test_eight_read_alls_leave_nothing_unread",),
        "marks every unread one read: together they mark each once, and nothing is left unread"),
    ("PATCH", "/api/v1/auth/me"): Row(SET, ("test_eight_email_settings_leave_one_of_them",),
                                      "sets the fields given: the user holds one of the values sent"),
    ("POST", "/api/v1/loans/{loan_id}/events"): Row(
        ONE, ("test_eight_disbursements_of_one_loan_disburse_it_once",
              "test_one_event_key_sent_eight_times_records_one_event",
              "test_eight_overdue_reports_on_one_loan_record_one",
              "test_eight_defaults_on_one_loan_share_the_loss_once",
              "test_repayments_at_once_never_repay_more_than_is_owed",
              "test_recoveries_at_once_never_recover_more_than_is_owed",
              "test_deposits_against_defaults_on_an_empty_pool_pay_every_claim",
              "test_budget_cuts_against_disbursements_never_let_a_rule_overspend",
              "test_eight_renewals_of_one_loan_renew_it_once",
              "test_two_loans_renewed_into_one_new_loan_at_once_one_is_renewed",
              "test_filing_again_against_a_recovery_in_full_leaves_no_claim_waiting")),
    # Compensation claims (issue 20).
    ("POST", "/api/v1/claims/{claim_id}/decision"): Row(
        ONE, ("test_eight_payments_of_one_claim_compensate_once",
              "test_one_claim_decision_key_sent_eight_times_decides_once",
              "test_paying_against_refusing_a_claim_one_decision_stands",
              "test_evidence_against_the_payment_of_its_claim_none_lands_after_the_decision")),
    ("POST", "/api/v1/claims/{claim_id}/documents"): Row(
        EACH, ("test_eight_uploads_of_one_file_to_a_claim_attach_eight_documents",
               "test_one_file_uploaded_to_four_claims_at_once_is_kept_whole",
               "test_evidence_against_the_payment_of_its_claim_none_lands_after_the_decision"),
        "each upload attaches a piece of evidence of its own by design (evidence has no natural key); the file "
        "itself is kept once, named by its digest"),
    ("POST", "/api/v1/loans/{loan_id}/claims"): Row(
        ONE, ("test_eight_refilings_of_a_refused_claim_file_one",
              "test_filing_again_against_a_recovery_in_full_leaves_no_claim_waiting")),
    ("POST", "/api/v1/agreements"): Row(ONE, ("test_eight_agreements_of_one_code_make_one",)),
    ("POST", "/api/v1/agreements/{agreement_id}/countersign"): Row(
        ONE, ("test_eight_countersignatures_activate_an_agreement_once",
              "test_a_countersignature_against_a_suspension_of_a_pending_agreement",
              "test_countersignatures_against_returns_of_a_pending_agreement")),
    # Issue 22: the bank returns a pending agreement with a reason; the agency resubmits it or terminates it.
    ("POST", "/api/v1/agreements/{agreement_id}/return"): Row(
        ONE, ("test_eight_returns_of_an_agreement_return_it_once",
              "test_countersignatures_against_returns_of_a_pending_agreement")),
    ("POST", "/api/v1/agreements/{agreement_id}/resubmit"): Row(
        ONE, ("test_eight_resubmissions_of_a_returned_agreement_resubmit_it_once",
              "test_resubmissions_against_terminations_of_a_returned_agreement")),
    ("POST", "/api/v1/agreements/{agreement_id}/terminate"): Row(
        ONE, ("test_eight_terminations_of_a_returned_agreement_terminate_it_once",
              "test_resubmissions_against_terminations_of_a_returned_agreement")),
    ("POST", "/api/v1/agreements/{agreement_id}/suspend"): Row(
        ONE, ("test_eight_suspensions_of_an_agreement_suspend_it_once",
              "test_a_countersignature_against_a_suspension_of_a_pending_agreement",
              "test_suspensions_against_resumptions_of_an_active_agreement")),
    ("POST", "/api/v1/agreements/{agreement_id}/resume"): Row(
        ONE, ("test_eight_resumptions_of_an_agreement_resume_it_once",
              "test_suspensions_against_resumptions_of_an_active_agreement")),
    ("POST", "/api/v1/risk-pools"): Row(ONE, ("test_eight_risk_pools_of_one_name_make_one",)),
    ("POST", "/api/v1/risk-pools/{pool_id}/deposits"): Row(
        ONE, ("test_one_deposit_key_sent_eight_times_deposits_once",
              "test_eight_deposits_with_keys_of_their_own_all_count",
              "test_deposits_against_defaults_on_an_empty_pool_pay_every_claim")),
    ("POST", "/api/v1/batches/{batch_id}/submit"): Row(ONE, ("test_eight_submissions_of_a_batch_submit_it_once",)),
    ("POST", "/api/v1/batches/{batch_id}/decision"): Row(
        ONE, ("test_eight_decisions_on_one_batch_decide_it_once",
              "test_one_batch_decision_key_sent_eight_times_decides_once",
              "test_an_exclusion_against_approving_all_one_decision_stands",
              "test_the_sla_job_against_the_agencys_exclusions_one_decision_a_batch")),
    ("POST", "/api/v1/tier-registry/imports"): Row(
        EACH, ("test_eight_imports_of_one_list_leave_one_certification",),
        "each upload is kept as an import of its own by design; what it sets, a certification by USCC, is an upsert"),
    ("POST", "/api/v1/fee-rules"): Row(EACH, ("test_eight_fee_rule_creations_add_eight_rules",),
                                       "a rule has no natural key: each call adds a rule of its own by design"),
    ("PATCH", "/api/v1/fee-rules/{rule_id}"): Row(
        SET, ("test_eight_edits_of_a_fee_rule_leave_it_as_edited",
              "test_budget_cuts_against_disbursements_never_let_a_rule_overspend"),
        "sets the fields given: the rule holds the values sent"),
    ("POST", "/api/v1/fee-rules/preview"): Row(NONE, ("test_eight_previews_at_once_agree",),
                                               "prices a loan that does not exist: changes nothing"),
    ("POST", "/api/v1/ledger/journal/{entry_id}/reverse"): Row(
        ONE, ("test_eight_reversals_of_one_entry_post_one", "test_eight_keyless_reversals_of_one_entry_post_one")),
    ("POST", "/api/v1/outbox/{message_id}/redrive"): Row(
        ONE, ("test_eight_redrives_of_a_dead_message_redrive_it_once",)),
    ("POST", "/api/v1/bank-callbacks/{bank_code}"): Row(
        ONE, ("test_eight_copies_of_a_decision_callback_decide_once",
              "test_eight_copies_of_a_loan_event_callback_record_one_event",
              "test_the_first_callbacks_of_a_banks_system_at_once_are_applied_once_and_all_kept")),
    ("POST", "/api/v1/banks/{bank_id}/callback-secret"): Row(
        EACH, ("test_eight_rotations_of_a_callback_secret_follow_one_another",),
        "each call rotates the secret by design; they must follow one another, so the two secrets in force are two "
        "that were handed out"),
}

STATE_CHANGING = ("post", "put", "patch", "delete")


# The table against the document (every backend) -------------------------------------------------------------

@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The app's OpenAPI document (made without touching a database)."""
    app = create_app({"PROFILE": "test", "TESTING": True, "DATABASE_URL": "sqlite://", "SECRET_KEY": "matrix-doc"})
    return app.test_client().get("/api/v1/openapi.json").json


def _state_changing(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() if path.startswith("/api/v1/")
            for method in item if method in STATE_CHANGING}


def test_every_state_changing_operation_has_a_row(document):
    missing = sorted(_state_changing(document) - set(MATRIX))
    assert missing == [], f"operations with no row in MATRIX (add a concurrency case, or an exemption): {missing}"


def test_every_row_names_an_operation_the_document_has(document):
    gone = sorted(set(MATRIX) - _state_changing(document))
    assert gone == [], f"rows in MATRIX for operations the document does not have: {gone}"


def test_every_row_names_its_cases_and_every_case_has_a_row():
    module = sys.modules[__name__]
    named = {case for row in MATRIX.values() for case in row.cases}
    assert sorted(case for case in named if not callable(getattr(module, case, None))) == []
    races = {name for name in dir(module) if name.startswith("test_") and name not in _TABLE_TESTS}
    assert sorted(races - named) == [], "cases that no row of MATRIX names"
    assert [key for key, row in MATRIX.items() if row.kind not in (ONE, SET, EACH, NONE)] == []
    assert [key for key, row in MATRIX.items() if row.kind != ONE and not row.why] == [], "say why, for these"


_TABLE_TESTS = {"test_every_state_changing_operation_has_a_row", "test_every_row_names_an_operation_the_document_has",
                "test_every_row_names_its_cases_and_every_case_has_a_row"}


# The races (PostgreSQL) -------------------------------------------------------------------------------------------

race = pytest.mark.skipif(os.environ.get("MARKETPLACE_TEST_DB", "sqlite") != "postgresql",
                          reason="row locks and concurrent writers are PostgreSQL's; runs in the PostgreSQL pass")


@pytest.fixture(scope="module")
def arena(databases) -> Iterator[World]:
    """The world every race of the module runs in, on a database of its own."""
    app = create_app({"PROFILE": "test", "DATABASE_URL": databases.fresh("concurrency_matrix"),
                      "SECRET_KEY": "concurrency-matrix"})
    with app.app_context():
        upgrade()
    yield build_world(app)
    db.engine_of(app).dispose()


@pytest.fixture(autouse=True)
def _the_invariants_hold_after_each_race(request) -> Iterator[None]:
    yield
    if "arena" in request.fixturenames:
        with request.getfixturevalue("arena").reading():
            found = problems()
        assert found == [], "the race left the invariants broken"


def _replayed(answer: TestResponse) -> bool:
    return answer.headers.get("Idempotent-Replayed") == "true"


def _said(answers: list[TestResponse]) -> list[str]:
    """What each answer said, for the assertion messages."""
    said = []
    for answer in answers:
        body = answer.get_json(silent=True)
        detail = body.get("detail", "") if isinstance(body, dict) else ""
        said.append(f"{answer.status_code}{' replayed' if _replayed(answer) else ''} {detail}".strip())
    return said


def _codes(answers: list[TestResponse]) -> list[int]:
    return sorted(answer.status_code for answer in answers)


def no_server_error(answers: list[TestResponse]) -> None:
    assert all(answer.status_code < 500 for answer in answers), _said(answers)


def one_went_through(answers: list[TestResponse], success: int, refused: int = 409) -> TestResponse:
    """Exactly one answer is `success` first-hand; every other is a 409 (`refused`: the 422 an operation documents
    for a request the first one's change made wrong), or that answer replayed (same body, `Idempotent-Replayed:
    true`). → the one."""
    no_server_error(answers)
    first = [answer for answer in answers if answer.status_code == success and not _replayed(answer)]
    assert len(first) == 1, _said(answers)
    for answer in answers:
        if answer is not first[0]:
            replay = answer.status_code == success and _replayed(answer) and answer.get_json() == first[0].get_json()
            assert answer.status_code == refused or replay, _said(answers)
    return first[0]


def set_answers(answers: list[TestResponse], success: int = 200) -> None:
    """A set's answers: each sets it (`success`) or lost a race to a concurrent set (409); at least one set it."""
    no_server_error(answers)
    assert set(_codes(answers)) <= {success, 409} and success in _codes(answers), _said(answers)


def audited(action: str, object_id: int | None = None) -> int:
    """How many audit entries record `action` (on the object, when given): one per change that took effect."""
    query = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
    if object_id is not None:
        query = query.where(AuditEntry.object_id == object_id)
    return db.session.scalar(query)


def today() -> str:
    return business_today().isoformat()


# Accounts and organisations ---------------------------------------------------------------------------------

@race
def test_eight_sign_ins_at_once_each_get_a_token(arena):
    answers = arena.eight(None, "POST", "/api/v1/auth/token", json={"username": arena.signer, "password": PASSWORD})
    assert _codes(answers) == [200] * AT_ONCE, _said(answers)
    assert len({answer.json["access_token"] for answer in answers}) == AT_ONCE
    with arena.reading() as session:
        signer = session.scalar(select(User.id).where(User.username == arena.signer))
        assert session.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.user_id == signer)) == AT_ONCE


@race
def test_eight_revocations_of_one_token_revoke_it_once(arena):
    """One revocation is recorded; the other calls find the token revoked (401, 409, or a 204 that did nothing)."""
    answers = arena.eight("leaver", "POST", "/api/v1/auth/token/revoke", hold=("api_tokens", arena.leaver_token))
    no_server_error(answers)
    assert 204 in _codes(answers) and set(_codes(answers)) <= {204, 401, 409}, _said(answers)
    assert arena.call("leaver", "GET", "/api/v1/auth/me")().status_code == 401
    with arena.reading():
        assert audited("user.token_revoked") == 1, f"{_codes(answers).count(204)} answers said it was revoked"


@race
def test_eight_users_of_one_name_make_one(arena):
    answers = arena.eight("admin", "POST", "/api/v1/users", json={
        "username": "race.twin", "password": STRONG_PASSWORD, "role": "bank", "organization_id": arena.bank})
    one_went_through(answers, 201)
    with arena.reading() as session:
        assert session.scalar(select(func.count()).select_from(User).where(User.username == "race.twin")) == 1


@race
def test_eight_password_changes_from_one_password_change_it_once(arena):
    """A user changes their password in eight tabs at once, from the same current password to eight new ones. The
    change locks the user before it checks the current password: one goes through (204), and each other finds the
    current password no longer matches (422 on current_password, as the operation documents); the password that
    works is the one the 204 chose, and one change is audited."""
    changer = arena.users["changer"]
    new = [f"{STRONG_PASSWORD}-{n}" for n in range(AT_ONCE)]
    answers = arena.race([arena.call("changer", "POST", "/api/v1/auth/password",
                                     json={"current_password": PASSWORD, "new_password": password})
                          for password in new], hold=("users", changer))
    winner = one_went_through(answers, 204, refused=422)
    assert all(set(a.json["errors"]) == {"current_password"} for a in answers if a is not winner), _said(answers)
    chosen = new[answers.index(winner)]
    with arena.reading() as session:
        stored = session.get(User, changer).password_hash
        assert [password for password in [PASSWORD, *new] if check_password_hash(stored, password)] == [chosen]
        assert audited("user.password_changed", changer) == 1
    assert arena.call("changer", "GET", "/api/v1/auth/me")().status_code == 200  # the token it changed it with


def _added(arena: World, username: str) -> None:
    """The organisation's administrator added `username` once: one user of RACE's, audited once."""
    with arena.reading() as session:
        made = session.scalars(select(User).where(User.username == username)).all()
        assert [(u.organization_id, u.role, u.must_change_password) for u in made] == [(arena.bank, "bank", True)]
        assert audited("user.added", made[0].id) == 1


@race
def test_eight_additions_of_one_name_to_an_organization_make_one(arena):
    """A bank's administrator adds the same person from eight tabs (each its own Idempotency-Key): one user, the
    others 409 (the name is taken)."""
    answers = arena.eight("bankadmin", "POST", "/api/v1/organizations/{organization_id}/users",
                          organization_id=arena.bank, json={"username": "race.added", "password": STRONG_PASSWORD})
    one_went_through(answers, 201)
    _added(arena, "race.added")


@race
def test_one_addition_key_sent_eight_times_adds_once(arena):
    answers = arena.eight("bankadmin", "POST", "/api/v1/organizations/{organization_id}/users", same_key=True,
                          organization_id=arena.bank, json={"username": "race.added.once", "password": STRONG_PASSWORD})
    one_went_through(answers, 201)
    _added(arena, "race.added.once")


def _activity(session, user_id: int) -> list[str]:
    """The user's disablings and re-enablings, in the order they were made."""
    return list(session.scalars(select(AuditEntry.action).where(
        AuditEntry.object_type == "user", AuditEntry.object_id == user_id,
        AuditEntry.action.in_(("user.disabled", "user.enabled"))).order_by(AuditEntry.id)))


def _all_set(answers: list[TestResponse], active: bool) -> None:
    """A set of the active flag: every call answers 200 with the user as it asked, whichever changed it."""
    no_server_error(answers)
    assert _codes(answers) == [200] * AT_ONCE, _said(answers)
    assert {answer.json["active"] for answer in answers} == {active}


@race
def test_eight_disablings_of_a_user_disable_them_once(arena):
    """A bank's administrator disables a user from eight tabs: each call locks the user, then reads the flag, so
    the first disables them (and ends their tokens) and the others find them disabled: one entry in the trail."""
    member = arena.members["disable_8"]
    _all_set(arena.eight("bankadmin", "POST", "/api/v1/users/{user_id}/disable", user_id=member,
                         hold=("users", member)), False)
    with arena.reading() as session:
        assert session.get(User, member).active is False
        assert _activity(session, member) == ["user.disabled"]
        assert session.scalar(select(func.count()).select_from(ApiToken).where(
            ApiToken.user_id == member, ApiToken.revoked_at.is_(None))) == 0


@race
def test_eight_re_enablings_of_a_user_enable_them_once(arena):
    """The provincial admin re-enables a disabled user of a bank's from eight tabs: one entry in the trail."""
    member = arena.members["enable_8"]
    _all_set(arena.eight("admin", "POST", "/api/v1/users/{user_id}/enable", user_id=member,
                         hold=("users", member)), True)
    with arena.reading() as session:
        assert session.get(User, member).active is True
        assert _activity(session, member) == ["user.enabled"]


@race
def test_disablings_against_re_enablings_of_a_user_follow_one_another(arena):
    """Four clicks on Disable (the bank's administrator) and four on Re-enable (the admin) of an active user: each
    answers 200 with the user as it asked, and the trail records only changes, one after another (disabled,
    enabled, disabled, …): never the same twice in a row, and the user ends as the last entry left them."""
    member = arena.members["toggle"]
    calls = [arena.call(who, "POST", f"/api/v1/users/{{user_id}}/{verb}", user_id=member)
             for who, verb in (("bankadmin", "disable"), ("admin", "enable")) * (AT_ONCE // 2)]
    answers = arena.race(calls, hold=("users", member))
    no_server_error(answers)
    assert _codes(answers) == [200] * AT_ONCE, _said(answers)
    assert [answer.json["active"] for answer in answers] == [False, True] * (AT_ONCE // 2)
    with arena.reading() as session:
        activity = _activity(session, member)
        assert activity and activity[0] == "user.disabled", activity  # the disabling that came first changed it
        assert all(a != b for a, b in zip(activity, activity[1:], strict=False)), activity
        assert session.get(User, member).active is (activity[-1] == "user.enabled")


@race
def test_eight_password_resets_of_a_user_follow_one_another(arena):
    """A bank's administrator resets a user's password from eight tabs: eight resets, one after another, each
    handing out a temporary password of its own; the one that works is one of them (the last committed), and the
    user must change it."""
    member = arena.members["reset_8"]
    answers = arena.eight("bankadmin", "POST", "/api/v1/users/{user_id}/reset-password", user_id=member,
                          hold=("users", member))
    no_server_error(answers)
    assert _codes(answers) == [200] * AT_ONCE, _said(answers)
    handed_out = [answer.json["temporary_password"] for answer in answers]
    assert len(set(handed_out)) == AT_ONCE
    with arena.reading() as session:
        user = session.get(User, member)
        assert sum(check_password_hash(user.password_hash, password) for password in handed_out) == 1
        assert not check_password_hash(user.password_hash, PASSWORD)
        assert user.must_change_password is True
        assert audited("user.password_reset", member) == AT_ONCE


@race
def test_eight_banks_of_one_code_make_one(arena):
    one_went_through(arena.eight("admin", "POST", "/api/v1/banks", json={"name": "Race Twin Bank", "code": "TWINBANK"}),
                     201)
    with arena.reading() as session:
        assert session.scalar(select(func.count()).select_from(Bank).where(Bank.code == "TWINBANK")) == 1


@race
def test_eight_agencies_of_one_code_make_one(arena):
    one_went_through(arena.eight("admin", "POST", "/api/v1/agencies", json={
        "name": "Race Twin Agency", "code": "TWINAG", "kind": "local"}), 201)
    with arena.reading() as session:
        assert session.scalar(select(func.count()).select_from(Agency).where(Agency.code == "TWINAG")) == 1


@race
def test_eight_registrations_of_one_uscc_make_one(arena):
    """The same enterprise registering from eight browsers (eight user names): one enterprise, one user."""
    twin = new_uscc(50)
    answers = at_once([arena.call(None, "POST", "/api/v1/enterprises/register", json={
        "username": f"race.owner{n}", "password": STRONG_PASSWORD, "uscc": twin, "name": "Race Twin Co",
        "region_code": "330106", "industry_code": "C3811", "size": "small", "annual_revenue": "42000000.00",
        "rd_expense": "3800000.00", "employees": 96}) for n in range(AT_ONCE)])
    one_went_through(answers, 201)
    with arena.reading() as session:
        assert session.scalar(select(func.count()).select_from(Enterprise).where(Enterprise.uscc == twin)) == 1
        assert session.scalar(select(func.count()).select_from(User).where(User.username.like("race.owner%"))) == 1


@race
def test_eight_tier_settings_leave_one_certification(arena):
    answers = arena.eight("admin", "PUT", "/api/v1/enterprises/{enterprise_id}/tier",
                          enterprise_id=arena.tier_enterprise,
                          json={"tier": "little_giant", "valid_until": "2099-12-31"})
    set_answers(answers)
    with arena.reading() as session:
        enterprise = session.get(Enterprise, arena.tier_enterprise)
        certifications = session.scalars(select(TierCertification).where(
            TierCertification.uscc == enterprise.uscc)).all()
        assert [(c.tier, c.valid_until) for c in certifications] == [(Tier.LITTLE_GIANT, dt.date(2099, 12, 31))]


@race
def test_eight_lpr_settings_for_one_date_leave_one_row(arena):
    answers = arena.eight("admin", "PUT", "/api/v1/lpr",
                          json={"effective_on": "2025-08-20", "lpr_1y": "0.0300", "lpr_5y": "0.0350"})
    set_answers(answers)
    with arena.reading() as session:
        rows = session.scalars(select(LprRate).where(LprRate.effective_on == dt.date(2025, 8, 20))).all()
        assert [(r.lpr_1y, r.lpr_5y) for r in rows] == [(Decimal("0.0300"), Decimal("0.0350"))]


# Products -------------------------------------------------------------------------------------------------------

OUT_OF_REACH = {"product_type": "credit", "amount_min": "20000000.00", "amount_max": "30000000.00",
                "term_min_months": 6, "term_max_months": 36, "rate_spread_bp": 30, "eligible_tiers": ["srdi"]}


def _family(session, product_id: int) -> list[Product]:
    family = session.get(Product, product_id).family_id
    return list(session.scalars(select(Product).where(Product.family_id == family).order_by(Product.version)))


@race
def test_eight_product_creations_list_eight_drafts(arena):
    answers = arena.eight("bank", "POST", "/api/v1/products", json={**OUT_OF_REACH, "name": "Race listed eight times"})
    assert _codes(answers) == [201] * AT_ONCE, _said(answers)
    with arena.reading() as session:
        made = session.scalars(select(Product).where(Product.name == "Race listed eight times")).all()
        assert sorted(p.id for p in made) == sorted(answer.json["id"] for answer in answers)
        assert {(p.status, p.version) for p in made} == {(ProductStatus.DRAFT, 1)}


@race
def test_one_import_key_sent_eight_times_imports_once(arena):
    body = multipart("file", "products.xlsx", product_sheet("Race imported once"))
    answers = arena.eight("bank", "POST", "/api/v1/products/imports", same_key=True, data=body,
                          content_type="multipart/form-data; boundary=RaceBoundary7MA4YWxk")
    first = one_went_through(answers, 200)
    assert first.json["rows_ok"] == 1, first.json
    with arena.reading() as session:
        assert session.scalar(select(func.count()).select_from(Product).where(
            Product.name == "Race imported once")) == 1


@race
def test_eight_edits_of_a_published_product_make_one_new_draft(arena):
    published = arena.products["published_patch"]
    answers = arena.eight("bank", "PATCH", "/api/v1/products/{product_id}", product_id=published,
                          json={"name": "Race published, edited"})
    draft = one_went_through(answers, 200)
    with arena.reading() as session:
        family = _family(session, published)
        assert [(p.version, p.status, p.name) for p in family] == [
            (1, ProductStatus.PUBLISHED, "Race published_patch"),
            (2, ProductStatus.DRAFT, "Race published, edited")]
        assert draft.json["id"] == family[1].id


@race
def test_eight_edits_of_a_draft_leave_it_as_edited(arena):
    draft = arena.products["draft_patch"]
    answers = arena.eight("bank", "PATCH", "/api/v1/products/{product_id}", product_id=draft,
                          json={"name": "Race draft, renamed", "rate_spread_bp": 45})
    set_answers(answers)
    with arena.reading() as session:
        assert [(p.id, p.version, p.status, p.name, p.rate_spread_bp) for p in _family(session, draft)] == [
            (draft, 1, ProductStatus.DRAFT, "Race draft, renamed", 45)]


def _product_moved(arena: World, product: str, verb: str, target: ProductStatus) -> None:
    product_id = arena.products[product]
    with arena.reading():
        before = audited(f"product.{target.value}", product_id)
    one_went_through(arena.eight("bank", "POST", f"/api/v1/products/{{product_id}}/{verb}", product_id=product_id,
                                 hold=("products", product_id)), 200)
    with arena.reading() as session:
        assert session.get(Product, product_id).status is target
        assert audited(f"product.{target.value}", product_id) == before + 1


@race
def test_eight_publications_of_a_draft_publish_it_once(arena):
    _product_moved(arena, "draft_8", "publish", ProductStatus.PUBLISHED)


@race
def test_eight_suspensions_of_a_product_suspend_it_once(arena):
    _product_moved(arena, "published_suspend", "suspend", ProductStatus.SUSPENDED)


@race
def test_eight_archivings_of_a_product_archive_it_once(arena):
    _product_moved(arena, "published_archive", "archive", ProductStatus.ARCHIVED)


@race
def test_publishing_against_archiving_a_draft(arena):
    """Four clicks on Publish and four on Archive: the draft is archived once, and published at most once (only
    if a publication came first: a published product may be archived, an archived one never published)."""
    product_id = arena.products["draft_mix"]
    with arena.reading():
        before = audited("product.archived", product_id), audited("product.published", product_id)
    calls = [arena.call("bank", "POST", f"/api/v1/products/{{product_id}}/{verb}", product_id=product_id)
             for verb in ("publish", "archive") * (AT_ONCE // 2)]
    answers = arena.race(calls, hold=("products", product_id))
    no_server_error(answers)
    published = [a.status_code for a in answers[0::2]]
    archived = [a.status_code for a in answers[1::2]]
    assert set(published + archived) <= {200, 409}, _said(answers)
    assert archived.count(200) == 1 and published.count(200) <= 1, _said(answers)
    with arena.reading() as session:
        assert session.get(Product, product_id).status is ProductStatus.ARCHIVED
        assert (audited("product.archived", product_id), audited("product.published", product_id)) == (
            before[0] + 1, before[1] + published.count(200))


@race
def test_eight_deletions_of_a_draft_delete_it_once(arena):
    """One deletion goes through (204); the others find the draft gone (404), never a server error."""
    product_id = arena.products["draft_delete"]
    one_went_through(arena.eight("bank", "DELETE", "/api/v1/products/{product_id}", product_id=product_id,
                                 hold=("products", product_id)), 204, refused=404)
    with arena.reading() as session:
        assert session.get(Product, product_id) is None
        assert audited("product.deleted", product_id) == 1


@race
def test_publishing_against_deleting_a_draft(arena):
    """Four clicks on Publish and four on Delete: whichever comes first is the one effect. Deleted, the publications
    find nothing (404); published, the deletions are refused (409: a published product is archived, not deleted)."""
    product_id = arena.products["draft_delete_mix"]
    calls = [arena.call("bank", verb, path, product_id=product_id)
             for verb, path in (("POST", "/api/v1/products/{product_id}/publish"),
                                ("DELETE", "/api/v1/products/{product_id}")) * (AT_ONCE // 2)]
    answers = arena.race(calls, hold=("products", product_id))
    no_server_error(answers)
    published = [a.status_code for a in answers[0::2]]
    deleted = [a.status_code for a in answers[1::2]]
    assert published.count(200) + deleted.count(204) == 1, _said(answers)
    with arena.reading() as session:
        product = session.get(Product, product_id)
        if deleted.count(204):
            assert product is None and set(published) == {404} and set(deleted) == {204, 404}, _said(answers)
        else:
            assert product.status is ProductStatus.PUBLISHED and set(deleted) == {409}, _said(answers)
        assert (audited("product.deleted", product_id), audited("product.published", product_id)) == (
            deleted.count(204), published.count(200))


@race
def test_edits_against_deleting_a_draft(arena):
    """Four edits and four deletions of one draft: the edits that come before the deletion go through (200), it is
    deleted once, and whatever comes after finds it gone (404), never a server error."""
    product_id = arena.products["draft_delete_edit"]
    calls = [arena.call("bank", verb, "/api/v1/products/{product_id}", product_id=product_id, json=body)
             for verb, body in (("PATCH", {"rate_spread_bp": 40}), ("DELETE", None)) * (AT_ONCE // 2)]
    answers = arena.race(calls, hold=("products", product_id))
    no_server_error(answers)
    edited = [a.status_code for a in answers[0::2]]
    deleted = [a.status_code for a in answers[1::2]]
    assert set(edited) <= {200, 404} and sorted(deleted) == [204] + [404] * (AT_ONCE // 2 - 1), _said(answers)
    with arena.reading() as session:
        assert session.get(Product, product_id) is None
        assert audited("product.deleted", product_id) == 1


# Pricing bounds (issue 22) ----------------------------------------------------------------------------------------

#: How each field of the bounds differs from the defaults in the n-th body of the race.
_BOUNDS_CHANGE = {"spread_min_bp": lambda n: -100 - n, "spread_max_bp": lambda n: 500 - n,
                  "amount_min": lambda n: Decimal("20000.00") + n, "amount_max": lambda n: Decimal("400000000.00") - n,
                  "term_min_months": lambda n: 2 + n, "term_max_months": lambda n: 100 - n}


def _bounds_bodies() -> list[dict[str, Any]]:
    """AT_ONCE bodies, each the defaults with one field changed (the n-th field, to a value of the body's own): a
    row holding one body's fields beside another's differs from the defaults in two fields, and is none of them."""
    bodies = []
    for n in range(AT_ONCE):
        name = NAMES[n % len(NAMES)]
        values = {**vars(DEFAULT), name: _BOUNDS_CHANGE[name](n)}
        bodies.append({key: str(value) if isinstance(value, Decimal) else value for key, value in values.items()})
    return bodies


def _bounds(values: dict[str, Any]) -> dict[str, Any]:
    """Six bounds as the API sends them (amounts as strings) → as the row holds them."""
    return {name: Decimal(values[name]) if name.startswith("amount_") else values[name] for name in NAMES}


@race
def test_eight_settings_of_a_types_pricing_bounds_leave_one_of_them_whole(arena):
    """Eight saves of one type's bounds at once, on a type that has no row yet (so they race to make it too): each
    answers 200 with the bounds it sent and is audited with them, and the type has one row, holding one body whole,
    the last one saved; never one save's fields beside another's."""
    kind = ProductType(arena.bounds_type)
    bodies = _bounds_bodies()
    with arena.reading() as session:
        assert session.get(PricingBounds, kind) is None, "the type's bounds were set before the race"
    answers = arena.race([arena.call("admin", "PUT", "/api/v1/pricing-bounds/{product_type}", product_type=kind.value,
                                     json=body) for body in bodies])
    assert _codes(answers) == [200] * AT_ONCE, _said(answers)
    assert [answer.json for answer in answers] == [{"product_type": kind.value, **body} for body in bodies]
    with arena.reading() as session:
        rows = session.scalars(select(PricingBounds).where(PricingBounds.product_type == kind)).all()
        assert len(rows) == 1, f"{len(rows)} rows of {kind.value}'s bounds"
        held = {name: getattr(rows[0], name) for name in NAMES}
        assert held in [_bounds(body) for body in bodies], f"{held} mixes the bodies sent"
        saves = session.scalars(select(AuditEntry.changes).where(AuditEntry.action == "pricing_bounds.set")
                                .order_by(AuditEntry.id)).all()
        assert len(saves) == AT_ONCE, f"{len(saves)} saves audited"
        assert {save["product_type"] for save in saves} == {kind.value}
        assert sorted(map(str, (_bounds(save) for save in saves))) == sorted(map(str, map(_bounds, bodies)))
        assert held == _bounds(saves[-1]), "the bounds that stand are not the last ones saved"


# Financing -------------------------------------------------------------------------------------------------------

@race
def test_one_request_key_sent_eight_times_files_one_request(arena):
    answers = arena.eight("enterprise", "POST", "/api/v1/financing-requests", same_key=True, json={
        "amount": "1000000.00", "term_months": 12, "purpose": "Race: filed once"})
    one_went_through(answers, 201)
    with arena.reading() as session:
        assert session.scalar(select(func.count()).select_from(FinancingRequest).where(
            FinancingRequest.purpose == "Race: filed once")) == 1


@race
def test_eight_selections_on_one_request_route_it_once(arena):
    answers = arena.eight("enterprise", "POST", "/api/v1/financing-requests/{request_id}/select",
                          request_id=arena.open_request, json={"offer_id": arena.open_offer},
                          hold=("financing_requests", arena.open_request))
    one_went_through(answers, 200)
    with arena.reading() as session:
        assert session.get(FinancingRequest, arena.open_request).status is RequestStatus.ROUTED
        assert session.scalar(select(func.count()).select_from(Application).where(
            Application.request_id == arena.open_request)) == 1


@race
def test_eight_withdrawals_of_one_request_withdraw_it_once(arena):
    with arena.reading() as session:
        request_id = session.get(Application, arena.applications["withdraw_8"]).request_id
    one_went_through(arena.eight("enterprise", "POST", "/api/v1/financing-requests/{request_id}/withdraw",
                                 request_id=request_id, hold=("financing_requests", request_id)), 200)
    with arena.reading() as session:
        assert session.get(FinancingRequest, request_id).status is RequestStatus.WITHDRAWN
        assert session.get(Application, arena.applications["withdraw_8"]).status is ApplicationStatus.WITHDRAWN
        assert audited("financing_request.withdrawn", request_id) == 1


@race
def test_eight_decisions_on_one_application_decide_it_once(arena):
    application_id = arena.applications["decide_8"]
    with arena.reading() as session:
        request_id = session.get(Application, application_id).request_id
    answers = arena.eight("bank", "POST", "/api/v1/applications/{application_id}/decision",
                          application_id=application_id, json={"decision": "approved"},
                          hold=("financing_requests", request_id))
    one_went_through(answers, 200)
    with arena.reading() as session:
        assert session.get(Application, application_id).status is ApplicationStatus.APPROVED
        placed = session.scalars(select(Guarantee).where(Guarantee.application_id == application_id)).all()
        assert [(g.status, g.amount) for g in placed] == [(GuaranteeStatus.PENDING, AMOUNT)]


@race
def test_a_bank_decision_against_a_withdrawal_one_of_them_wins(arena):
    """On each of four applications the bank approves as the enterprise withdraws: one of the two goes through."""
    with arena.reading() as session:
        requests = {a: session.get(Application, a).request_id for a in arena.contested}
    calls = []
    for application_id, request_id in requests.items():
        calls += [arena.call("bank", "POST", "/api/v1/applications/{application_id}/decision",
                             application_id=application_id, json={"decision": "approved"}),
                  arena.call("enterprise", "POST", "/api/v1/financing-requests/{request_id}/withdraw",
                             request_id=request_id)]
    answers = arena.race(calls, hold=("financing_requests", *requests.values()))
    no_server_error(answers)
    with arena.reading() as session:
        for n, (application_id, request_id) in enumerate(requests.items()):
            decided, withdrawn = answers[2 * n].status_code, answers[2 * n + 1].status_code
            assert sorted([decided, withdrawn]) == [200, 409], _said(answers)
            application = session.get(Application, application_id)
            guarantees = session.scalars(select(Guarantee).where(Guarantee.application_id == application_id)).all()
            if decided == 200:
                assert application.status is ApplicationStatus.APPROVED
                assert session.get(FinancingRequest, request_id).status is RequestStatus.APPROVED
                assert [g.status for g in guarantees] == [GuaranteeStatus.PENDING]
            else:
                assert application.status is ApplicationStatus.WITHDRAWN
                assert session.get(FinancingRequest, request_id).status is RequestStatus.WITHDRAWN
                assert guarantees == []


@race
def test_eight_accepts_of_one_counter_offer_accept_it_once(arena):
    application_id = arena.applications["accept_8"]
    with arena.reading() as session:
        request_id = session.get(Application, application_id).request_id
    answers = arena.eight("enterprise", "POST", "/api/v1/applications/{application_id}/counter-offer/accept",
                          application_id=application_id, hold=("financing_requests", request_id))
    one_went_through(answers, 200)
    with arena.reading() as session:
        application = session.get(Application, application_id)
        assert application.status is ApplicationStatus.APPROVED
        assert application.rate_spread_bp == application.offer.rate_spread_bp + 200
        placed = session.scalars(select(Guarantee).where(Guarantee.application_id == application_id)).all()
        assert [(g.status, g.amount) for g in placed] == [(GuaranteeStatus.PENDING, AMOUNT)]
        assert audited("application.approved", application_id) == 1


@race
def test_eight_declines_of_one_counter_offer_decline_it_once(arena):
    application_id = arena.applications["decline_8"]
    with arena.reading() as session:
        request_id = session.get(Application, application_id).request_id
    answers = arena.eight("enterprise", "POST", "/api/v1/applications/{application_id}/counter-offer/decline",
                          application_id=application_id, json={"reason": "Too dear"},
                          hold=("financing_requests", request_id))
    one_went_through(answers, 200)
    with arena.reading() as session:
        assert session.get(Application, application_id).status is ApplicationStatus.COUNTER_DECLINED
        assert session.get(FinancingRequest, request_id).status is RequestStatus.DECLINED
        assert audited("application.counter_declined", application_id) == 1
        assert session.scalars(select(Guarantee).where(Guarantee.application_id == application_id)).all() == []


@race
def test_an_accept_against_a_decline_of_a_counter_offer_one_of_them_wins(arena):
    with arena.reading() as session:
        requests = {a: session.get(Application, a).request_id for a in arena.countered}
    calls = []
    for application_id in requests:
        calls += [arena.call("enterprise", "POST", "/api/v1/applications/{application_id}/counter-offer/accept",
                             application_id=application_id),
                  arena.call("enterprise", "POST", "/api/v1/applications/{application_id}/counter-offer/decline",
                             application_id=application_id, json={})]
    answers = arena.race(calls, hold=("financing_requests", *requests.values()))
    no_server_error(answers)
    with arena.reading() as session:
        for n, (application_id, request_id) in enumerate(requests.items()):
            accepted, declined = answers[2 * n].status_code, answers[2 * n + 1].status_code
            assert sorted([accepted, declined]) == [200, 409], _said(answers)
            application = session.get(Application, application_id)
            guarantees = session.scalars(select(Guarantee).where(Guarantee.application_id == application_id)).all()
            if accepted == 200:
                assert application.status is ApplicationStatus.APPROVED
                assert [g.status for g in guarantees] == [GuaranteeStatus.PENDING]
            else:
                assert application.status is ApplicationStatus.COUNTER_DECLINED
                assert session.get(FinancingRequest, request_id).status is RequestStatus.DECLINED
                assert guarantees == []


@race
def test_eight_reads_of_one_notification_keep_the_first_time(arena):
    with arena.reading() as session:
        notification_id = session.scalar(select(Notification.id).where(Notification.user_id == arena.users["bank"],
                                                                       Notification.read_at.is_(None)))
    answers = arena.eight("bank", "POST", "/api/v1/notifications/{notification_id}/read",
                          notification_id=notification_id, hold=("notifications", notification_id))
    set_answers(answers)
    assert len({answer.get_json()["read_at"] for answer in answers}) == 1, _said(answers)


@race
def test_eight_read_alls_leave_nothing_unread(arena):
    with arena.reading() as session:
        unread = session.scalars(select(Notification.id).where(
            Notification.user_id == arena.users["agency"], Notification.read_at.is_(None))).all()
    assert unread
    answers = arena.eight("agency", "POST", "/api/v1/notifications/read-all", hold=("notifications", unread[0]))
    set_answers(answers)
    assert sum(answer.get_json()["marked"] for answer in answers) == len(unread), _said(answers)
    assert all(answer.get_json()["unread"] == 0 for answer in answers)


@race
def test_eight_email_settings_leave_one_of_them(arena):
    enterprise_user = arena.users["enterprise"]
    addresses = [f"owner{n}@enterprise.example" for n in range(8)]
    answers = arena.race([arena.call("enterprise", "PATCH", "/api/v1/auth/me", json={"email": address})
                          for address in addresses], hold=("users", enterprise_user))
    set_answers(answers)
    with arena.reading() as session:
        assert session.get(User, enterprise_user).email in addresses


# Loans --------------------------------------------------------------------------------------------------------------

def _events(session, loan_id: int, kind: LoanEventType | None = None) -> list[LoanEvent]:
    query = select(LoanEvent).where(LoanEvent.loan_id == loan_id)
    if kind is not None:
        query = query.where(LoanEvent.type == kind)
    return list(session.scalars(query))


def _event(arena: World, loan: str, body: dict[str, Any], **kwargs: Any) -> list[TestResponse]:
    return arena.eight("bank", "POST", "/api/v1/loans/{loan_id}/events", loan_id=arena.loans[loan], json=body,
                       hold=("loans", arena.loans[loan]), **kwargs)


@race
def test_eight_disbursements_of_one_loan_disburse_it_once(arena):
    """Two (eight) disbursements of one loan: one, with one guarantee fee, and its quota moved once."""
    loan_id = arena.loans["disburse_8"]
    one_went_through(_event(arena, "disburse_8", {"type": "disbursed", "occurred_on": today()}), 201)
    with arena.reading() as session:
        assert session.get(Loan, loan_id).status is LoanStatus.DISBURSED
        assert len(_events(session, loan_id)) == 1
        assert session.scalar(select(func.count()).select_from(JournalEntry).where(
            JournalEntry.ref == f"loan:{loan_id}")) == 1
        guarantee = session.scalar(select(Guarantee).where(Guarantee.loan_id == loan_id))
        assert (guarantee.status, guarantee.exposure) == (GuaranteeStatus.ACTIVE, AMOUNT)


@race
def test_one_event_key_sent_eight_times_records_one_event(arena):
    loan_id = arena.loans["disburse_same_key"]
    one_went_through(_event(arena, "disburse_same_key", {"type": "disbursed", "occurred_on": today()},
                            same_key=True), 201)
    with arena.reading() as session:
        assert [e.type for e in _events(session, loan_id)] == [LoanEventType.DISBURSED]
        assert session.get(Loan, loan_id).status is LoanStatus.DISBURSED


@race
def test_eight_overdue_reports_on_one_loan_record_one(arena):
    loan_id = arena.loans["overdue_8"]
    one_went_through(_event(arena, "overdue_8", {"type": "overdue", "occurred_on": today()}), 201)
    with arena.reading() as session:
        assert len(_events(session, loan_id, LoanEventType.OVERDUE)) == 1
        assert session.get(Loan, loan_id).status is LoanStatus.OVERDUE


@race
def test_eight_defaults_on_one_loan_share_the_loss_once(arena):
    """Two (eight) defaults on one loan: the loss is shared once; the agency compensates once."""
    loan_id = arena.loans["default_8"]
    with arena.reading() as session:
        compensated_before = session.get(Agreement, arena.agreements["loss"]).compensated_total
    one_went_through(_event(arena, "default_8", {"type": "default", "occurred_on": today()}), 201)
    with arena.reading() as session:
        (loss,) = session.scalars(select(LossAllocation).where(LossAllocation.loan_id == loan_id)).all()
        assert loss.loss == AMOUNT
        assert session.get(Agreement, arena.agreements["loss"]).compensated_total == \
            compensated_before + loss.agency_compensation
        assert session.get(Loan, loan_id).status is LoanStatus.DEFAULTED
        assert len(_events(session, loan_id, LoanEventType.DEFAULT)) == 1


@race
def test_repayments_at_once_never_repay_more_than_is_owed(arena):
    """Eight repayments of 300,000 on a little over 1,000,000 owed (the principal and its schedule's interest): each
    sees what the one before left, so three are taken and the other five are more than is owed (422). The three pay
    the schedule oldest period first, interest before principal, as one payment of 900,000 would."""
    loan_id = arena.loans["repay"]
    answers = _event(arena, "repay", {"type": "repayment", "amount": "300000.00", "occurred_on": today()})
    no_server_error(answers)
    assert _codes(answers) == [201] * 3 + [422] * 5, _said(answers)
    with arena.reading() as session:
        loan = session.get(Loan, loan_id)
        split = apply_payment(periods_of(loan), Decimal("0.00"), Decimal("900000.00"))
        assert split.interest > 0
        assert (loan.status, loan.interest_paid, loan.principal_repaid, loan.outstanding) == (
            LoanStatus.REPAYING, split.interest, split.principal, AMOUNT - split.principal)
        repayments = _events(session, loan_id, LoanEventType.REPAYMENT)
        assert [e.interest + e.principal for e in repayments] == [Decimal("300000.00")] * 3
        assert session.scalar(select(Guarantee.exposure).where(Guarantee.loan_id == loan_id)) == loan.outstanding


@race
def test_recoveries_at_once_never_recover_more_than_is_owed(arena):
    loan_id = arena.loans["recover"]
    answers = _event(arena, "recover", {"type": "recovery", "amount": "300000.00", "occurred_on": today()})
    no_server_error(answers)
    assert _codes(answers) == [201] * 3 + [422] * 5, _said(answers)
    with arena.reading() as session:
        loan = session.get(Loan, loan_id)
        assert (loan.status, loan.outstanding) == (LoanStatus.RECOVERING, Decimal("100000.00"))
        shares = session.scalars(select(RecoveryAllocation).where(RecoveryAllocation.loan_id == loan_id)).all()
        assert [r.amount for r in shares] == [Decimal("300000.00")] * 3


# 无还本续贷: renewals ----------------------------------------------------------------------------------------------

def _renewed(session, old_id: int, new_id: int) -> None:
    """`old_id` closed into `new_id`, once: one renewal, one disbursement of the new loan, the old guarantee released
    (its quota freed once)."""
    old, new = session.get(Loan, old_id), session.get(Loan, new_id)
    assert (old.status, old.outstanding) == (LoanStatus.CLOSED, Decimal("0.00"))
    assert (new.status, new.renews_loan_id, new.outstanding) == (LoanStatus.DISBURSED, old_id, AMOUNT)
    assert [e.new_loan_id for e in _events(session, old_id, LoanEventType.RENEWED)] == [new_id]
    assert len(_events(session, new_id, LoanEventType.DISBURSED)) == 1
    guarantee = session.scalar(select(Guarantee).where(Guarantee.loan_id == old_id))
    assert (guarantee.status, guarantee.exposure) == (GuaranteeStatus.RELEASED, Decimal("0.00"))


@race
def test_eight_renewals_of_one_loan_renew_it_once(arena):
    """Eight reports that a loan was renewed into the same new loan: it is renewed once, the new loan disbursed
    once, and the old guarantee's quota released once."""
    old_id, new_id = arena.renewals["renew_8"]
    with arena.reading() as session:
        outstanding_before = session.get(Agreement, arena.agreements["review"]).quota_outstanding
    answers = arena.eight("bank", "POST", "/api/v1/loans/{loan_id}/events", loan_id=old_id,
                          json={"type": "renewed", "new_loan_id": new_id, "occurred_on": today()},
                          hold=("loans", old_id))
    one_went_through(answers, 201)
    with arena.reading() as session:
        _renewed(session, old_id, new_id)
        assert session.get(Agreement, arena.agreements["review"]).quota_outstanding == outstanding_before - AMOUNT


@race
def test_two_loans_renewed_into_one_new_loan_at_once_one_is_renewed(arena):
    """Two loans are each reported renewed (four times) into the same approved loan: one of them is, once; the other
    stays as it was, performing and guaranteed. Each call locks its own loan, then the new one.

    The schedule: with the new loan held, every call arrives (the first of each old loan waits on the new loan, the
    others on their old loan), then the new loan is let go."""
    *olds, new_id = arena.renewals["renew_two"]
    calls = [arena.call("bank", "POST", "/api/v1/loans/{loan_id}/events", loan_id=olds[n % 2],
                        key=f"race-renew-{n}", json={"type": "renewed", "new_loan_id": new_id, "occurred_on": today()})
             for n in range(AT_ONCE)]
    answers = arena.race(calls, hold=("loans", new_id))
    winner = one_went_through(answers, 201)
    renewed = olds[answers.index(winner) % 2]
    with arena.reading() as session:
        _renewed(session, renewed, new_id)
        (kept,) = set(olds) - {renewed}
        loan = session.get(Loan, kept)
        assert (loan.status, loan.outstanding) == (LoanStatus.DISBURSED, AMOUNT)
        assert _events(session, kept, LoanEventType.RENEWED) == []
        guarantee = session.scalar(select(Guarantee).where(Guarantee.loan_id == kept))
        assert (guarantee.status, guarantee.exposure) == (GuaranteeStatus.ACTIVE, AMOUNT)


# Compensation claims ------------------------------------------------------------------------------------------------

#: Evidence the races attach: a PDF of 7.5 MiB (under CLAIM_FILE_MAX_BYTES), so that writing it takes long enough for
#: the writers of one file to overlap.
EVIDENCE = b"%PDF-1.4\n" + b"0123456789abcdef" * (480 * 1024) + b"\n%%EOF\n"


def _paid_once(arena: World, session, claim_id: int, compensated_before: Decimal) -> None:
    """The claim is paid once: one sharing of its loss, one journal entry for it, the agreement's compensation moved
    once."""
    claim = session.get(Claim, claim_id)
    assert claim.status is ClaimStatus.PAID
    (allocation,) = session.scalars(select(LossAllocation).where(LossAllocation.loan_id == claim.loan_id)).all()
    assert claim.allocation_id == allocation.id and allocation.loss == claim.amount
    assert session.scalar(select(func.count()).select_from(JournalEntry).where(
        JournalEntry.idempotency_key == f"claim:{claim_id}:paid")) == 1
    assert session.get(Agreement, arena.agreements["review"]).compensated_total == \
        compensated_before + allocation.agency_compensation
    assert audited("claim.paid", claim_id) == 1


def _compensated(arena: World) -> Decimal:
    with arena.reading() as session:
        return session.get(Agreement, arena.agreements["review"]).compensated_total


@race
def test_eight_payments_of_one_claim_compensate_once(arena):
    claim_id = arena.claims["pay_8"]
    before = _compensated(arena)
    one_went_through(arena.eight("agency", "POST", "/api/v1/claims/{claim_id}/decision", claim_id=claim_id,
                                 json={"decision": "pay"}, hold=("claims", claim_id)), 200)
    with arena.reading() as session:
        _paid_once(arena, session, claim_id, before)


@race
def test_one_claim_decision_key_sent_eight_times_decides_once(arena):
    claim_id = arena.claims["pay_same_key"]
    before = _compensated(arena)
    first = one_went_through(arena.eight("agency", "POST", "/api/v1/claims/{claim_id}/decision", claim_id=claim_id,
                                         same_key=True, json={"decision": "pay"}, hold=("claims", claim_id)), 200)
    assert first.json["allocation"]["loss"] == f"{AMOUNT:.2f}"
    with arena.reading() as session:
        _paid_once(arena, session, claim_id, before)


@race
def test_paying_against_refusing_a_claim_one_decision_stands(arena):
    """On each of four claims the agency pays as a colleague refuses: one decision stands, the one answered 200;
    a refused claim has shared nothing, a paid one has no refusal reason."""
    calls = []
    for claim_id in arena.contested_claims:
        calls += [arena.call("agency", "POST", "/api/v1/claims/{claim_id}/decision", claim_id=claim_id,
                             key=f"race-pay-{claim_id}", json={"decision": "pay"}),
                  arena.call("agency", "POST", "/api/v1/claims/{claim_id}/decision", claim_id=claim_id,
                             key=f"race-refuse-{claim_id}", json={"decision": "reject", "reason": "Race: refused"})]
    answers = arena.race(calls, hold=("claims", *arena.contested_claims))
    no_server_error(answers)
    with arena.reading() as session:
        for n, claim_id in enumerate(arena.contested_claims):
            paid, refused = answers[2 * n].status_code, answers[2 * n + 1].status_code
            assert sorted([paid, refused]) == [200, 409], _said(answers)
            claim = session.get(Claim, claim_id)
            allocations = session.scalars(select(LossAllocation).where(LossAllocation.loan_id == claim.loan_id)).all()
            entries = session.scalar(select(func.count()).select_from(JournalEntry).where(
                JournalEntry.idempotency_key == f"claim:{claim_id}:paid"))
            if paid == 200:
                assert (claim.status, claim.reason, len(allocations), entries) == (ClaimStatus.PAID, None, 1, 1)
            else:
                assert (claim.status, claim.reason, allocations, entries) == (
                    ClaimStatus.REJECTED, "Race: refused", [], 0)
            assert audited("claim.paid", claim_id) + audited("claim.rejected", claim_id) == 1


@race
def test_eight_refilings_of_a_refused_claim_file_one(arena):
    loan_id = arena.refused["refile_8"]
    answers = arena.eight("bank", "POST", "/api/v1/loans/{loan_id}/claims", loan_id=loan_id,
                          json={"amount": f"{AMOUNT:.2f}", "note": "Race: filed again"}, hold=("loans", loan_id))
    filed = one_went_through(answers, 201)
    with arena.reading() as session:
        claims = session.scalars(select(Claim).where(Claim.loan_id == loan_id).order_by(Claim.id)).all()
        assert [(c.status, c.note) for c in claims] == [(ClaimStatus.REJECTED, None),
                                                        (ClaimStatus.FILED, "Race: filed again")]
        assert claims[1].id == filed.json["id"]


@race
def test_filing_again_against_a_recovery_in_full_leaves_no_claim_waiting(arena):
    """The bank files a refused claim again (four clicks) as its recovery of everything owed is reported (four
    times): the loan is recovered once and closes; a claim filed again before it is withdrawn by it, one after it is
    refused (the loan is closed). Either way nothing is left for the agency to decide."""
    loan_id = arena.refused["refile_mix"]
    calls = []
    for n in range(AT_ONCE // 2):
        calls += [arena.call("bank", "POST", "/api/v1/loans/{loan_id}/claims", loan_id=loan_id, key=f"race-refile-{n}",
                             json={"amount": f"{AMOUNT:.2f}"}),
                  arena.call("bank", "POST", "/api/v1/loans/{loan_id}/events", loan_id=loan_id,
                             key=f"race-recover-{n}",
                             json={"type": "recovery", "amount": f"{AMOUNT:.2f}", "occurred_on": today()})]
    answers = arena.race(calls, hold=("loans", loan_id))
    no_server_error(answers)
    filed, recovered = _codes(answers[0::2]), _codes(answers[1::2])
    assert recovered.count(201) == 1 and set(recovered) <= {201, 409}, _said(answers)
    assert filed.count(201) <= 1 and set(filed) <= {201, 409}, _said(answers)
    with arena.reading() as session:
        loan = session.get(Loan, loan_id)
        assert (loan.status, loan.outstanding) == (LoanStatus.CLOSED, Decimal("0.00"))
        statuses = session.scalars(select(Claim.status).where(Claim.loan_id == loan_id).order_by(Claim.id)).all()
        assert statuses == [ClaimStatus.REJECTED] + [ClaimStatus.WITHDRAWN] * filed.count(201), _said(answers)
        assert len(_events(session, loan_id, LoanEventType.RECOVERY)) == 1


def _upload(arena: World, claim_id: int, name: str = "evidence.pdf") -> Any:
    return arena.call("bank", "POST", "/api/v1/claims/{claim_id}/documents", claim_id=claim_id,
                      data=lambda: {"file": (io.BytesIO(EVIDENCE), name, "application/pdf")})


def _kept_whole(arena: World) -> None:
    """The evidence's one file on disk holds exactly what was uploaded, and no half-written copy is left beside it."""
    files = [path for path in Path(arena.app.config["FILES_DIR"]).rglob("*") if path.is_file()]
    digest = hashlib.sha256(EVIDENCE).hexdigest()
    assert [path.name for path in files] == [digest], files
    assert files[0].read_bytes() == EVIDENCE


@race
def test_eight_uploads_of_one_file_to_a_claim_attach_eight_documents(arena):
    claim_id = arena.claims["documents_8"]
    answers = arena.race([_upload(arena, claim_id, f"evidence-{n}.pdf") for n in range(AT_ONCE)],
                         hold=("claims", claim_id))
    assert _codes(answers) == [201] * AT_ONCE, _said(answers)
    with arena.reading() as session:
        documents = session.scalars(select(ClaimDocument).where(ClaimDocument.claim_id == claim_id)).all()
        assert sorted(d.id for d in documents) == sorted(answer.json["id"] for answer in answers)
        assert {(d.size, d.sha256) for d in documents} == {(len(EVIDENCE), hashlib.sha256(EVIDENCE).hexdigest())}
    _kept_whole(arena)


@race
def test_one_file_uploaded_to_four_claims_at_once_is_kept_whole(arena):
    """The same file attached to four claims at once (twice each): eight documents, one file, written whole."""
    claims = arena.spread_claims
    answers = arena.race([_upload(arena, claims[n % len(claims)]) for n in range(AT_ONCE)],
                         hold=("claims", *claims))
    assert _codes(answers) == [201] * AT_ONCE, _said(answers)
    with arena.reading() as session:
        counted = dict(session.execute(select(ClaimDocument.claim_id, func.count()).where(
            ClaimDocument.claim_id.in_(claims)).group_by(ClaimDocument.claim_id)).all())
        assert counted == {claim_id: AT_ONCE // len(claims) for claim_id in claims}
    _kept_whole(arena)


@race
def test_evidence_against_the_payment_of_its_claim_none_lands_after_the_decision(arena):
    """The bank attaches evidence (four uploads) as the agency pays the claim (four clicks): it is paid once, and
    every upload either landed before the decision (201) or was refused (409): none is attached to a decided claim
    behind the agency's back."""
    claim_id = arena.claims["documents_mix"]
    before = _compensated(arena)
    calls = []
    for n in range(AT_ONCE // 2):
        calls += [_upload(arena, claim_id, f"late-{n}.pdf"),
                  arena.call("agency", "POST", "/api/v1/claims/{claim_id}/decision", claim_id=claim_id,
                             key=f"race-mixed-pay-{n}", json={"decision": "pay"})]
    answers = arena.race(calls, hold=("claims", claim_id))
    no_server_error(answers)
    uploads, payments = answers[0::2], answers[1::2]
    assert _codes(payments) == [200] + [409] * (AT_ONCE // 2 - 1), _said(answers)
    assert set(_codes(uploads)) <= {201, 409}, _said(answers)
    with arena.reading() as session:
        _paid_once(arena, session, claim_id, before)
        documents = session.scalars(select(ClaimDocument.id).where(ClaimDocument.claim_id == claim_id)).all()
        assert sorted(documents) == sorted(a.json["id"] for a in uploads if a.status_code == 201)
        decided_at = session.get(Claim, claim_id).decided_at
        assert all(d.uploaded_at <= decided_at for d in session.scalars(
            select(ClaimDocument).where(ClaimDocument.claim_id == claim_id)))


# Agreements ------------------------------------------------------------------------------------------------------

def _agreement_body(code: str, bank_id: int) -> dict[str, Any]:
    start = business_today()
    return {"code": code, "bank_id": bank_id, "valid_from": start.isoformat(),
            "valid_to": (start + dt.timedelta(days=365)).isoformat(), "total_quota": "50000000.00",
            "per_enterprise_cap": "20000000.00", "per_loan_cap": "5000000.00", "fee_rate": "0.0100",
            "shares": {"agency": "0.80", "bank": "0.20", "reguarantee": "0", "risk_pool": "0"},
            "eligible_tiers": ["srdi"], "eligible_product_types": ["ip_pledge"]}


@race
def test_eight_agreements_of_one_code_make_one(arena):
    one_went_through(arena.eight("agency", "POST", "/api/v1/agreements", json=_agreement_body("RACE-TWIN", arena.bank)),
                     201)
    with arena.reading() as session:
        assert session.scalar(select(func.count()).select_from(Agreement).where(Agreement.code == "RACE-TWIN")) == 1


def _agreement_moved(arena: World, agreement: str, who: str, verb: str, target: AgreementStatus) -> None:
    agreement_id = arena.agreements[agreement]
    with arena.reading():
        before = audited(f"agreement.{target.value}", agreement_id)
    one_went_through(arena.eight(who, "POST", f"/api/v1/agreements/{{agreement_id}}/{verb}",
                                 agreement_id=agreement_id, hold=("agreements", agreement_id)), 200)
    with arena.reading() as session:
        assert session.get(Agreement, agreement_id).status is target
        assert audited(f"agreement.{target.value}", agreement_id) == before + 1


@race
def test_eight_countersignatures_activate_an_agreement_once(arena):
    _agreement_moved(arena, "pending_8", "bank", "countersign", AgreementStatus.ACTIVE)


@race
def test_eight_suspensions_of_an_agreement_suspend_it_once(arena):
    _agreement_moved(arena, "active_8", "agency", "suspend", AgreementStatus.SUSPENDED)


@race
def test_eight_resumptions_of_an_agreement_resume_it_once(arena):
    _agreement_moved(arena, "suspended_8", "agency", "resume", AgreementStatus.ACTIVE)


def _moves(agreement_id: int) -> tuple[int, int]:
    """How many times the agreement was made active, and suspended, so far (the audit trail's count)."""
    return audited("agreement.active", agreement_id), audited("agreement.suspended", agreement_id)


def _agreement_race(arena: World, agreement_id: int, moves: list[tuple[str, str]]) -> list[TestResponse]:
    answers = arena.race([arena.call(who, "POST", f"/api/v1/agreements/{{agreement_id}}/{verb}",
                                     agreement_id=agreement_id) for who, verb in moves],
                         hold=("agreements", agreement_id))
    no_server_error(answers)
    assert set(_codes(answers)) <= {200, 409}, _said(answers)
    return answers


@race
def test_a_countersignature_against_a_suspension_of_a_pending_agreement(arena):
    """The bank countersigns (four clicks) as the agency suspends (four): it is countersigned once; a suspension
    goes through only after the countersignature (a pending agreement cannot be suspended), and then once."""
    agreement_id = arena.agreements["pending_mix"]
    with arena.reading():
        activated, suspensions = _moves(agreement_id)
    answers = _agreement_race(arena, agreement_id, [("bank", "countersign"), ("agency", "suspend")] * (AT_ONCE // 2))
    countersigned = [a.status_code for a in answers[0::2]].count(200)
    suspended = [a.status_code for a in answers[1::2]].count(200)
    assert countersigned == 1 and suspended <= 1, _said(answers)
    with arena.reading() as session:
        agreement = session.get(Agreement, agreement_id)
        assert agreement.status is (AgreementStatus.SUSPENDED if suspended else AgreementStatus.ACTIVE)
        assert agreement.countersigned_at is not None
        assert _moves(agreement_id) == (activated + 1, suspensions + suspended)


@race
def test_suspensions_against_resumptions_of_an_active_agreement(arena):
    """Four suspensions and four resumptions of an active agreement: they take turns (suspend, resume, suspend…),
    each that goes through moving it once, and the agreement ends as the last one left it."""
    agreement_id = arena.agreements["active_mix"]
    with arena.reading():
        activated, suspensions = _moves(agreement_id)
    answers = _agreement_race(arena, agreement_id, [("agency", "suspend"), ("agency", "resume")] * (AT_ONCE // 2))
    suspended = [a.status_code for a in answers[0::2]].count(200)
    resumed = [a.status_code for a in answers[1::2]].count(200)
    assert suspended >= 1 and suspended - resumed in (0, 1), _said(answers)
    with arena.reading() as session:
        assert session.get(Agreement, agreement_id).status is (
            AgreementStatus.SUSPENDED if suspended > resumed else AgreementStatus.ACTIVE)
        assert _moves(agreement_id) == (activated + resumed, suspensions + suspended)


def _terms(fee_rate: str) -> dict[str, Any]:
    """A returned agreement's amended terms, as a resubmission sends them (all but its code and bank)."""
    body = _agreement_body("", 0)
    return {**{name: value for name, value in body.items() if name not in ("code", "bank_id")}, "fee_rate": fee_rate}


@race
def test_eight_returns_of_an_agreement_return_it_once(arena):
    agreement_id = arena.agreements["return_8"]
    one_went_through(arena.eight("bank", "POST", "/api/v1/agreements/{agreement_id}/return", agreement_id=agreement_id,
                                 json={"reason": "Race: the caps are too high."},
                                 hold=("agreements", agreement_id)), 200)
    with arena.reading() as session:
        agreement = session.get(Agreement, agreement_id)
        assert (agreement.status, agreement.return_reason) == (AgreementStatus.RETURNED, "Race: the caps are too high.")
        assert audited("agreement.returned", agreement_id) == 1
        assert session.scalar(select(func.count()).select_from(Notification).where(
            Notification.kind == "agreement.returned", Notification.title.contains("RACE-RETURN-8"))) == 1


@race
def test_countersignatures_against_returns_of_a_pending_agreement(arena):
    """Four clicks on 会签 and four on 退回 of one pending agreement: the first decides it, and every other call is
    refused (a returned agreement cannot be countersigned, nor an active one returned)."""
    agreement_id = arena.agreements["return_mix"]
    calls = [arena.call("bank", "POST", f"/api/v1/agreements/{{agreement_id}}/{verb}", agreement_id=agreement_id,
                        json=body)
             for verb, body in (("countersign", None), ("return", {"reason": "Race: returned."})) * (AT_ONCE // 2)]
    answers = arena.race(calls, hold=("agreements", agreement_id))
    no_server_error(answers)
    assert _codes(answers) == [200] + [409] * (AT_ONCE - 1), _said(answers)
    countersigned = [a.status_code for a in answers[0::2]].count(200)
    with arena.reading() as session:
        agreement = session.get(Agreement, agreement_id)
        if countersigned:
            assert (agreement.status, agreement.return_reason) == (AgreementStatus.ACTIVE, None)
            assert agreement.countersigned_at is not None
        else:
            assert (agreement.status, agreement.countersigned_at) == (AgreementStatus.RETURNED, None)
        assert (audited("agreement.active", agreement_id), audited("agreement.returned", agreement_id)) == (
            countersigned, 1 - countersigned)


@race
def test_eight_resubmissions_of_a_returned_agreement_resubmit_it_once(arena):
    agreement_id = arena.agreements["resubmit_8"]
    one_went_through(arena.eight("agency", "POST", "/api/v1/agreements/{agreement_id}/resubmit",
                                 agreement_id=agreement_id, json=_terms("0.0080"),
                                 hold=("agreements", agreement_id)), 200)
    with arena.reading() as session:
        agreement = session.get(Agreement, agreement_id)
        assert (agreement.status, agreement.fee_rate) == (AgreementStatus.PENDING_BANK, Decimal("0.0080"))
        assert audited("agreement.pending_bank", agreement_id) == 1


@race
def test_eight_terminations_of_a_returned_agreement_terminate_it_once(arena):
    _agreement_moved(arena, "terminate_8", "agency", "terminate", AgreementStatus.TERMINATED)


@race
def test_resubmissions_against_terminations_of_a_returned_agreement(arena):
    """Four resubmissions and four terminations of a returned agreement: the first decides it. Terminated, it stays
    so; resubmitted, it awaits the bank again (and cannot be terminated: only a returned agreement can)."""
    agreement_id = arena.agreements["resubmit_mix"]
    calls = [arena.call("agency", "POST", f"/api/v1/agreements/{{agreement_id}}/{verb}", agreement_id=agreement_id,
                        json=body)
             for verb, body in (("resubmit", _terms("0.0090")), ("terminate", None)) * (AT_ONCE // 2)]
    answers = arena.race(calls, hold=("agreements", agreement_id))
    no_server_error(answers)
    assert _codes(answers) == [200] + [409] * (AT_ONCE - 1), _said(answers)
    resubmitted = [a.status_code for a in answers[0::2]].count(200)
    with arena.reading() as session:
        assert session.get(Agreement, agreement_id).status is (
            AgreementStatus.PENDING_BANK if resubmitted else AgreementStatus.TERMINATED)
        assert (audited("agreement.pending_bank", agreement_id), audited("agreement.terminated", agreement_id)) == (
            resubmitted, 1 - resubmitted)


# Risk pools --------------------------------------------------------------------------------------------------------

@race
def test_eight_risk_pools_of_one_name_make_one(arena):
    one_went_through(arena.eight("admin", "POST", "/api/v1/risk-pools", json={"name": "Race twin pool",
                                                                             "region_code": "33"}), 201)
    with arena.reading() as session:
        assert session.scalar(select(func.count()).select_from(RiskPool).where(RiskPool.name == "Race twin pool")) == 1


def _pool(session, pool_id: int) -> tuple[Decimal, Decimal, int]:
    pool = session.get(RiskPool, pool_id)
    deposits = session.scalar(select(func.count()).select_from(PoolDeposit).where(PoolDeposit.pool_id == pool_id))
    return pool.balance, pool.deposited, deposits


@race
def test_one_deposit_key_sent_eight_times_deposits_once(arena):
    pool_id = arena.pools["deposit_same"]
    one_went_through(arena.eight("admin", "POST", "/api/v1/risk-pools/{pool_id}/deposits", same_key=True,
                                 pool_id=pool_id, json={"amount": "500000.00"}, hold=("risk_pools", pool_id)), 201)
    with arena.reading() as session:
        assert _pool(session, pool_id) == (Decimal("500000.00"), Decimal("500000.00"), 1)


@race
def test_eight_deposits_with_keys_of_their_own_all_count(arena):
    """Eight deposits, each with a key of its own, are eight payments: none lost, none doubled."""
    pool_id = arena.pools["deposit_each"]
    answers = arena.eight("admin", "POST", "/api/v1/risk-pools/{pool_id}/deposits", pool_id=pool_id,
                          json={"amount": "125000.00"}, hold=("risk_pools", pool_id))
    assert _codes(answers) == [201] * AT_ONCE, _said(answers)
    with arena.reading() as session:
        assert _pool(session, pool_id) == (AMOUNT, AMOUNT, AT_ONCE)


@race
def test_deposits_against_defaults_on_an_empty_pool_pay_every_claim(arena):
    """Four loans under an agreement naming an empty pool default while the finance office pays four deposits into
    the pool. Whatever the order, the pool's cash never goes below zero, and what it could not pay at a default
    became its claim, which the deposits paid: nothing is owed at the end."""
    pool_id = arena.pools["empty"]
    calls = []
    for n, loan_id in enumerate(arena.pool_loans):
        calls += [arena.call("bank", "POST", "/api/v1/loans/{loan_id}/events", loan_id=loan_id, key=f"race-default-{n}",
                             json={"type": "default", "occurred_on": today()}),
                  arena.call("admin", "POST", "/api/v1/risk-pools/{pool_id}/deposits", pool_id=pool_id,
                             key=f"race-deposit-{n}", json={"amount": "250000.00"})]
    answers = arena.race(calls, hold=("risk_pools", pool_id))
    assert _codes(answers) == [201] * len(calls), _said(answers)
    with arena.reading() as session:
        losses = session.scalars(select(LossAllocation).where(LossAllocation.loan_id.in_(arena.pool_loans))).all()
        owed_by_pool = sum((a.risk_pool_paid + a.risk_pool_claim for a in losses), Decimal("0.00"))
        assert len(losses) == len(arena.pool_loans) and 0 < owed_by_pool <= AMOUNT
        pool = session.get(RiskPool, pool_id)
        assert (pool.deposited, pool.paid_out, pool.balance) == (AMOUNT, owed_by_pool, AMOUNT - owed_by_pool)
        unpaid = session.scalar(select(func.coalesce(func.sum(PoolClaim.amount - PoolClaim.paid), 0)).where(
            PoolClaim.pool_id == pool_id))
        assert unpaid == 0


# Batches ----------------------------------------------------------------------------------------------------------

def _batch(session, batch_id: int) -> tuple[BatchStatus, dict[int, GuaranteeStatus], dict[int, int | None]]:
    guarantees = session.scalars(select(Guarantee).where(Guarantee.batch_id == batch_id).order_by(Guarantee.id)).all()
    loans = dict(session.execute(select(Loan.application_id, Loan.id).where(
        Loan.application_id.in_([g.application_id for g in guarantees]))).all())
    return (session.get(Batch, batch_id).status, {g.id: g.status for g in guarantees},
            {g.id: loans.get(g.application_id) for g in guarantees})


@race
def test_eight_submissions_of_a_batch_submit_it_once(arena):
    batch_id = arena.batches["open"]
    one_went_through(arena.eight("agency", "POST", "/api/v1/batches/{batch_id}/submit", batch_id=batch_id,
                                 hold=("batches", batch_id)), 200)
    with arena.reading() as session:
        assert session.get(Batch, batch_id).status is BatchStatus.SUBMITTED
        assert audited("batch.submitted", batch_id) == 1


def _decided_once(arena: World, batch_id: int, answers: list[TestResponse]) -> dict[int, GuaranteeStatus]:
    winner = one_went_through(answers, 200)
    with arena.reading() as session:
        status, guarantees, loans = _batch(session, batch_id)
        assert status is BatchStatus.DECIDED
        assert guarantees == {item["guarantee_id"]: GuaranteeStatus(item["status"]) for item in winner.json["items"]}
        assert {g: loans[g] is not None for g in guarantees} == {
            g: s is GuaranteeStatus.APPROVED for g, s in guarantees.items()}
        assert audited("batch.decided", batch_id) == 1
    return guarantees


@race
def test_eight_decisions_on_one_batch_decide_it_once(arena):
    batch_id = arena.batches["decide_8"]
    answers = arena.eight("agency", "POST", "/api/v1/batches/{batch_id}/decision", batch_id=batch_id,
                          json={"exclusions": []}, hold=("batches", batch_id))
    assert set(_decided_once(arena, batch_id, answers).values()) == {GuaranteeStatus.APPROVED}


@race
def test_one_batch_decision_key_sent_eight_times_decides_once(arena):
    batch_id = arena.batches["decide_same_key"]
    answers = arena.eight("agency", "POST", "/api/v1/batches/{batch_id}/decision", batch_id=batch_id, same_key=True,
                          json={"exclusions": []}, hold=("batches", batch_id))
    assert set(_decided_once(arena, batch_id, answers).values()) == {GuaranteeStatus.APPROVED}


@race
def test_an_exclusion_against_approving_all_one_decision_stands(arena):
    """Two reviewers: four decisions exclude an item, four approve all. One decision stands, the one the answer
    shows: the excluded item's application is then refused its guarantee and has no loan."""
    batch_id = arena.batches["exclude_or_approve"]
    with arena.reading() as session:
        excluded = min(_batch(session, batch_id)[1])
    bodies = [{"exclusions": [{"guarantee_id": excluded, "reason": "营业执照已过期"}]}, {"exclusions": []}]
    answers = arena.race([arena.call("agency", "POST", "/api/v1/batches/{batch_id}/decision", batch_id=batch_id,
                                     key=f"race-review-{n}", json=bodies[n % 2]) for n in range(AT_ONCE)],
                         hold=("batches", batch_id))
    guarantees = _decided_once(arena, batch_id, answers)
    excluding = next(n for n, a in enumerate(answers) if a.status_code == 200) % 2 == 0
    with arena.reading() as session:
        application = session.scalar(select(Application).join(Guarantee, Guarantee.application_id == Application.id)
                                     .where(Guarantee.id == excluded))
        if excluding:
            assert guarantees[excluded] is GuaranteeStatus.REJECTED
            assert application.status is ApplicationStatus.GUARANTEE_UNAVAILABLE
        else:
            assert set(guarantees.values()) == {GuaranteeStatus.APPROVED}
            assert application.status is ApplicationStatus.APPROVED


@race
def test_the_sla_job_against_the_agencys_exclusions_one_decision_a_batch(arena):
    """Under 见贷即保 terms the SLA job approves the batches the agency left past their review window, as the agency
    excludes an item of each. Each batch is decided once, by whichever came first; the agency is told (409) when the
    job was first, and no loan exists for a refused guarantee.

    The schedule: with the agreement held, the agency's exclusion on the first batch arrives, then the job (which has
    read all three batches as submitted), then the exclusions on the other two; then the agreement is let go."""
    agreement_id = arena.agreements["sla"]
    with arena.reading() as session:
        session.execute(update(Agreement).where(Agreement.id == agreement_id).values(
            review_sla_days=1, auto_approve_below=AMOUNT * 2))
        session.execute(update(Batch).where(Batch.id.in_(arena.sla_batches)).values(
            submitted_at=db.utcnow() - dt.timedelta(days=14)))
        session.commit()
        excluded = {b: min(_batch(session, b)[1]) for b in arena.sla_batches}

    def the_job():
        run = run_job(arena.app, JOBS["batch_sla"])
        return (run.outcome, run.result or run.detail) if run else (None, "skipped")

    first, *others = [arena.call("agency", "POST", "/api/v1/batches/{batch_id}/decision", batch_id=b,
                                 json={"exclusions": [{"guarantee_id": excluded[b], "reason": "担保物权属不清"}]})
                      for b in arena.sla_batches]
    with arena.holding("agreements", agreement_id) as holding:
        sent = holding.send([first]) + holding.send([the_job]) + holding.send(others)
    *answers, (outcome, detail) = [future.result() for future in sent[:1] + sent[2:] + sent[1:2]]
    no_server_error(answers)
    assert set(_codes(answers)) <= {200, 409}, _said(answers)
    assert outcome is RunOutcome.OK, detail
    with arena.reading() as session:
        for answer, batch_id in zip(answers, arena.sla_batches, strict=True):
            status, guarantees, loans = _batch(session, batch_id)
            assert status is BatchStatus.DECIDED
            assert audited("batch.decided", batch_id) == 1
            decided_by = session.scalar(select(User.username).join(Batch, Batch.decided_by_id == User.id)
                                        .where(Batch.id == batch_id))
            if answer.status_code == 200:
                assert decided_by == "race.agency"
                assert guarantees[excluded[batch_id]] is GuaranteeStatus.REJECTED
                assert loans[excluded[batch_id]] is None
            else:
                assert decided_by == "system:RAG", (batch_id, decided_by, detail)
                assert set(guarantees.values()) == {GuaranteeStatus.APPROVED} and None not in loans.values()
        approved_by_job = sum(answer.status_code == 409 for answer in answers)
        assert len(detail["approved"]) == approved_by_job, (detail, _said(answers))


# The tier registry, fee rules -------------------------------------------------------------------------------------

@race
def test_eight_imports_of_one_list_leave_one_certification(arena):
    listed = new_uscc(60)
    with arena.reading() as session:
        imports_before = session.scalar(select(func.count()).select_from(TierImport))
    answers = arena.eight("admin", "POST", "/api/v1/tier-registry/imports",
                          data=lambda: {"file": (io.BytesIO(tier_list(listed)), "list.csv")})
    assert _codes(answers) == [202] * AT_ONCE, _said(answers)
    assert {answer.json["rows_ok"] for answer in answers} == {1}
    with arena.reading() as session:
        assert session.scalar(select(func.count()).select_from(TierImport)) == imports_before + AT_ONCE
        certifications = session.scalars(select(TierCertification).where(TierCertification.uscc == listed)).all()
        assert [(c.tier, c.valid_until) for c in certifications] == [(Tier.SRDI, dt.date(2099, 12, 31))]


@race
def test_eight_fee_rule_creations_add_eight_rules(arena):
    answers = arena.eight("admin", "POST", "/api/v1/fee-rules", json=fee_rule("Race rule added eight times"))
    assert _codes(answers) == [201] * AT_ONCE, _said(answers)
    with arena.reading() as session:
        made = session.scalars(select(FeeRule.id).where(FeeRule.name == "Race rule added eight times")).all()
        assert sorted(made) == sorted(answer.json["id"] for answer in answers)


@race
def test_eight_edits_of_a_fee_rule_leave_it_as_edited(arena):
    answers = arena.eight("admin", "PATCH", "/api/v1/fee-rules/{rule_id}", rule_id=arena.fee_rule,
                          json={"name": "Race rule, edited", "priority": 7})
    set_answers(answers)
    with arena.reading() as session:
        rule = session.get(FeeRule, arena.fee_rule)
        assert (rule.name, rule.priority) == ("Race rule, edited", 7)


@race
def test_budget_cuts_against_disbursements_never_let_a_rule_overspend(arena):
    """The finance office cuts a subsidy rule's budget to almost nothing (four clicks) while four loans it prices
    are being disbursed, each granting its subsidy. A cut below what the rule has granted by then is refused with
    422 on `budget` (the cut locks the rule before it reads what was granted, so the database's own check is never
    what refuses it); whatever the order, the rule never ends having granted more than its budget.

    The schedule: the disbursements reach the rule (and wait on it: the test holds its row), then the cuts are sent,
    then the rule is let go, so the cuts are decided while subsidies are being granted."""
    disbursements = [arena.call("bank", "POST", "/api/v1/loans/{loan_id}/events", loan_id=loan_id,
                                key=f"race-fund-{n}", json={"type": "disbursed", "occurred_on": today()})
                     for n, loan_id in enumerate(arena.subsidised_loans)]
    cuts = [arena.call("admin", "PATCH", "/api/v1/fee-rules/{rule_id}", rule_id=arena.subsidy_rule,
                       json={"budget": "0.01"}) for _ in arena.subsidised_loans]
    with arena.holding("fee_rules", arena.subsidy_rule) as holding:
        disbursed = holding.send(disbursements)
        cut = holding.send(cuts)
    answers = [future.result() for future in disbursed + cut]
    no_server_error(answers)
    assert _codes(answers[:len(disbursed)]) == [201] * len(disbursed), _said(answers)
    assert set(_codes(answers[len(disbursed):])) <= {200, 422}, _said(answers)
    with arena.reading() as session:
        rule = session.get(FeeRule, arena.subsidy_rule)
        assert rule.subsidy_granted > 0, "no disbursement came before a cut: the race tells nothing"
        assert rule.subsidy_granted <= rule.budget, (rule.subsidy_granted, rule.budget, _said(answers))


@race
def test_eight_previews_at_once_agree(arena):
    answers = arena.eight("admin", "POST", "/api/v1/fee-rules/preview", json={
        "enterprise_id": arena.enterprise, "agreement_id": arena.agreements["main"], "amount": "1000000.00",
        "term_months": 12})
    assert _codes(answers) == [200] * AT_ONCE, _said(answers)
    assert all(answer.json == answers[0].json for answer in answers)


# The ledger, the outbox, banks' systems ----------------------------------------------------------------------------

def _reversals(session, entry_id: int) -> list[int]:
    return list(session.scalars(select(JournalEntry.id).where(JournalEntry.reverses_id == entry_id)))


@race
def test_eight_reversals_of_one_entry_post_one(arena):
    entry_id = arena.entries["repay"]
    answers = arena.eight("admin", "POST", "/api/v1/ledger/journal/{entry_id}/reverse", entry_id=entry_id,
                          json={"occurred_on": today(), "memo": "Race correction"})
    reversal = one_went_through(answers, 201)
    with arena.reading() as session:
        assert _reversals(session, entry_id) == [reversal.json["id"]]


@race
def test_eight_keyless_reversals_of_one_entry_post_one(arena):
    """Without an Idempotency-Key the reversal's own key is the entry's: each answer is the one reversal, or 409."""
    entry_id = arena.entries["overdue_8"]
    answers = at_once([arena.call("admin", "POST", "/api/v1/ledger/journal/{entry_id}/reverse", entry_id=entry_id,
                                  json={"occurred_on": today(), "memo": "Race correction"})] * AT_ONCE)
    no_server_error(answers)
    assert set(_codes(answers)) <= {201, 409} and 201 in _codes(answers), _said(answers)
    with arena.reading() as session:
        (reversal,) = _reversals(session, entry_id)
    assert {answer.json["id"] for answer in answers if answer.status_code == 201} == {reversal}


@race
def test_eight_redrives_of_a_dead_message_redrive_it_once(arena):
    message_id = arena.dead_message
    one_went_through(arena.eight("admin", "POST", "/api/v1/outbox/{message_id}/redrive", message_id=message_id,
                                 hold=("outbox_messages", message_id)), 200)
    with arena.reading() as session:
        message = session.get(OutboxMessage, message_id)
        assert (message.status, message.redrives) == (MessageStatus.PENDING, 1)
        assert audited("outbox_message.redriven", message_id) == 1


def _applied_once(arena: World, answers: list[TestResponse], event_id: str) -> None:
    """One copy is applied; each other is answered as a duplicate (200) or refused by the state the first left (409);
    and every copy is kept, applied or not (the callbacks' log holds whatever each became)."""
    no_server_error(answers)
    statuses = sorted(a.json["status"] if a.status_code == 200 else str(a.status_code) for a in answers)
    assert statuses.count("applied") == 1 and set(statuses) <= {"applied", "duplicate", "409"}, _said(answers)
    with arena.reading() as session:
        kept = session.scalars(select(BankCallback.outcome).where(BankCallback.event_id == event_id)).all()
        assert sorted(kept) == sorted([CallbackOutcome.APPLIED] + [
            CallbackOutcome.DUPLICATE if a.status_code == 200 else CallbackOutcome.REJECTED
            for a in answers if a.status_code != 200 or a.json["status"] != "applied"]), (
            f"{len(kept)} of {AT_ONCE} copies kept ({', '.join(kept)})", _said(answers))


@race
def test_eight_copies_of_a_decision_callback_decide_once(arena):
    application_id = arena.applications["callback"]
    with arena.reading() as session:
        request_id = session.get(Application, application_id).request_id
    answers = arena.race([arena.callback({"event_id": "race-approval-1", "type": "application.approved",
                                          "application_id": application_id})] * AT_ONCE,
                         hold=("financing_requests", request_id))
    _applied_once(arena, answers, "race-approval-1")
    with arena.reading() as session:
        assert session.get(Application, application_id).status is ApplicationStatus.APPROVED
        assert session.scalar(select(func.count()).select_from(Loan).where(Loan.application_id == application_id)) == 1


@race
def test_eight_copies_of_a_loan_event_callback_record_one_event(arena):
    loan_id = arena.loans["callback"]
    copy = arena.callback({"event_id": "race-disbursed-1", "type": "loan.disbursed", "occurred_on": today(),
                           "application_id": arena.applications["loan_callback"]})
    answers = arena.race([copy] * AT_ONCE, hold=("loans", loan_id))
    _applied_once(arena, answers, "race-disbursed-1")
    with arena.reading() as session:
        assert [e.type for e in _events(session, loan_id)] == [LoanEventType.DISBURSED]
        assert session.get(Loan, loan_id).status is LoanStatus.DISBURSED


@race
def test_the_first_callbacks_of_a_banks_system_at_once_are_applied_once_and_all_kept(arena):
    """A bank's system calls back for the first time, and its retries overlap the first delivery: the marketplace
    makes the user it records the bank's system as while the copies arrive. One copy is applied; every copy is
    kept, and none is refused for the race to make that user."""
    application_id = arena.applications["newcomer"]
    with arena.reading() as session:
        request_id = session.get(Application, application_id).request_id
    copy = arena.callback({"event_id": "race-first-1", "type": "application.approved",
                           "application_id": application_id}, bank_code="RACENEW")
    answers = arena.race([copy] * AT_ONCE, hold=("financing_requests", request_id))
    _applied_once(arena, answers, "race-first-1")
    with arena.reading() as session:
        assert session.get(Application, application_id).status is ApplicationStatus.APPROVED
        assert session.scalar(select(func.count()).select_from(User).where(User.username == "system:RACENEW")) == 1


@race
def test_eight_rotations_of_a_callback_secret_follow_one_another(arena):
    """Eight rotations at once are eight rotations, one after another: the secret in force is one handed out, and so
    is the one still accepted for the grace period (the one before it) — not the original secret, left valid by
    rotations that did not see each other."""
    with arena.reading() as session:
        original = session.get(Bank, arena.sysbank).callback_secret
    answers = arena.eight("sysbank", "POST", "/api/v1/banks/{bank_id}/callback-secret", bank_id=arena.sysbank,
                          hold=("banks", arena.sysbank))
    assert _codes(answers) == [200] * AT_ONCE, _said(answers)
    handed_out = {answer.json["callback_secret"] for answer in answers}
    assert len(handed_out) == AT_ONCE
    with arena.reading() as session:
        bank = session.get(Bank, arena.sysbank)
        kept = "the original one" if bank.previous_callback_secret == original else "one nobody was given"
        assert bank.callback_secret in handed_out
        assert bank.previous_callback_secret in handed_out - {bank.callback_secret}, (
            f"the secret accepted for the grace period is {kept}")
