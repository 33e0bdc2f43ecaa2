"""Property tests of the marketplace's money flows (DESIGN.md §Ledger), against a plain-Python model kept here.

A Hypothesis state machine builds one world per example, inside a SAVEPOINT that `teardown` rolls back: a risk
pool, two 总对总 agreements of two agencies with drawn terms (loss shares, compensation cap, fee rate) on the same
bank and pool, and two to four guaranteed loans of drawn principal and term, approved in batches. Its rules go
through the services the API uses: pool deposits, disbursements, repayments, overdue, default, recoveries, and
replays of any earlier event by its key.

The model works in integer fen and shares in millionths, independently of the production helpers. It computes the
fee at disbursement (principal × rate × days ÷ 365, half up), how a loss is shared (the bank's share by largest
remainder; compensation up to the cap room, floor(cap × guaranteed) − compensated, the rest beyond the cap staying
with the bank; agency : re-guarantee : risk pool by largest remainder, ties to the earlier party; the pool paying
what its cash allows and owing the rest as a claim), how a recovery is shared back (by largest remainder in
proportion to what each party bore), claims paid oldest first from the pool's next money, the cap suspending an
agreement, and what every ledger account should hold. After every step it checks that:

* every journal entry balances, and the trial balance balances (debits equal credits, balances sum to zero);
* the journal holds exactly the entries the model expects, so a replay posts nothing;
* each loss and recovery allocation adds up exactly and matches the model to the fen;
* the pool's cash is never below zero, and its figures, claims and ledger accounts match the model;
* each agreement's guaranteed and compensated totals, compensation rate, cap room and status match the model;
* every loan's status and outstanding principal, and every account's balance, match the model;
* `reports.verify()` finds nothing.

Two small `@given` tests check `allocation.split` on its own: the parts add up exactly to the amount and each is
within a fen of its exact proportion; and the fen left over go to the largest exact remainders, ties to the earlier
part, as the model's `largest_remainder` does.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, or_, select

from guarantees.models import (
    Agreement,
    AgreementStatus,
    Batch,
    BatchStatus,
    LossAllocation,
    PoolClaim,
    RecoveryAllocation,
    RiskPool,
)
from guarantees.schemas import AgreementIn, RiskPoolIn
from guarantees.services import (
    change_status,
    create_agreement,
    create_risk_pool,
    guarantee_of_loan,
    pool_names,
)
from guarantees.settlement import cap_room, deposit
from marketplace import db
from marketplace.auth.models import User
from marketplace.dates import business_today
from marketplace.financing import schedule
from marketplace.financing.loans import record_event
from marketplace.financing.models import Loan, LoanEventType, LoanStatus
from marketplace.financing.schemas import DecisionIn, FinancingRequestIn
from marketplace.financing.services import create_request, decide, decide_batch, select_offer, submit_batch
from marketplace.ledger.allocation import split
from marketplace.ledger.models import Account, JournalEntry, Party, Posting, Purpose
from marketplace.ledger.reports import trial_balance, verify
from marketplace.orgs.models import AgencyKind

#: Rates and shares are drawn in millionths: the six places a Rate column keeps.
MICRO = 1_000_000
DAYS_IN_YEAR = 365
PRODUCT = {"name": "Property-tested guaranteed loan", "product_type": "credit", "amount_min": "100000.00",
           "amount_max": "5000000.00", "term_min_months": 6, "term_max_months": 36, "rate_spread_bp": 30,
           "eligible_tiers": ["srdi", "little_giant"], "guarantee": "required"}
#: (bank, agency, re-guarantee, risk pool): the usual 总对总 splits, whose round numbers make remainders tie.
USUAL_SHARES = ((200_000, 400_000, 200_000, 200_000), (400_000, 400_000, 100_000, 100_000),
                (200_000, 800_000, 0, 0), (200_000, 500_000, 0, 300_000), (200_000, 300_000, 300_000, 200_000))
#: Compensation caps from none at all to a generous one; a cap of 1 (drawn as often) never binds.
USUAL_CAPS = (0, 30_000, 50_000, 300_000)
#: Loans that can still default.
LIVE = (LoanStatus.APPROVED, LoanStatus.DISBURSED, LoanStatus.REPAYING, LoanStatus.OVERDUE)
LOSS_FIELDS = ("loss", "bank_borne", "beyond_cap", "agency_compensation", "agency_net", "reguarantee",
               "risk_pool_paid", "risk_pool_claim")


# The model ------------------------------------------------------------------------------------------------------

def fen_of(amount: Decimal) -> int:
    return int(amount * 100)


def yuan(fen: int) -> Decimal:
    return Decimal(fen).scaleb(-2)


def rate_text(millionths: int) -> str:
    return str(Decimal(millionths).scaleb(-6))


def half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def largest_remainder(amount: int, weights: Sequence[int]) -> list[int]:
    """`amount` fen in parts proportional to `weights`: each part rounded down, then the fen left over one each to
    the largest remainders, ties to the earlier part. Integer arithmetic, so remainders compare exactly."""
    if amount == 0:
        return [0] * len(weights)
    total = sum(weights)
    parts = [amount * weight // total for weight in weights]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(amount * weights[i] % total), i))
    for index in by_remainder[:amount - sum(parts)]:
        parts[index] += 1
    return parts


def term_days(start: dt.date, months: int) -> int:
    """Days from `start` to the same day `months` later (the month's last day when it has no such day)."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return (dt.date(year, month, min(start.day, calendar.monthrange(year, month)[1])) - start).days


def code(party: Party, party_id: int, purpose: Purpose) -> str:
    return f"{party.value}:{party_id}:{purpose.value}"


@dataclass(frozen=True)
class Terms:
    """An agreement's drawn terms, in millionths."""

    bank: int
    agency: int
    reguarantee: int
    risk_pool: int
    cap_rate: int
    fee_rate: int


@dataclass
class AgreementModel:
    id: int
    agency_id: int
    reguarantor_id: int | None
    terms: Terms
    guaranteed: int = 0
    compensated: int = 0
    quota_outstanding: int = 0
    suspended: bool = False

    @property
    def room(self) -> int:
        return max(self.terms.cap_rate * self.guaranteed // MICRO - self.compensated, 0)

    @property
    def compensation_rate(self) -> Decimal:
        if not self.guaranteed:
            return Decimal(0)
        return Decimal(half_up(Fraction(self.compensated * MICRO, self.guaranteed))).scaleb(-6)


@dataclass
class LoanModel:
    id: int
    enterprise_id: int
    agreement: AgreementModel
    principal: int
    term_months: int
    outstanding: int
    status: LoanStatus = LoanStatus.APPROVED
    #: The loss allocation, field by field, once the loan defaults.
    loss: dict[str, int] | None = None
    #: The repayment schedule from disbursement (the pure core's, tested on its own), and what has been paid of it.
    periods: list[schedule.Period] = field(default_factory=list)
    paid: int = 0

    @property
    def owed(self) -> int:
        return sum(fen_of(p.total) for p in self.periods) - self.paid


@dataclass
class ClaimModel:
    agency_id: int
    loan_id: int
    amount: int
    paid: int = 0


@dataclass
class PoolModel:
    id: int
    cash: int = 0
    deposited: int = 0
    paid_out: int = 0
    recovered: int = 0
    claims: list[ClaimModel] = field(default_factory=list)

    @property
    def owed(self) -> int:
        return sum(claim.amount - claim.paid for claim in self.claims)


@dataclass(frozen=True)
class Recorded:
    """An event as first recorded, so that it can be replayed by its key."""

    key: str
    first_id: int
    occurred_on: dt.date
    amount: int | None
    loan_id: int | None = None
    type: LoanEventType | None = None


# Strategies -----------------------------------------------------------------------------------------------------

@st.composite
def drawn_shares(draw: st.DrawFn) -> tuple[int, int, int, int]:
    bank = draw(st.integers(200_000, MICRO))
    rest = MICRO - bank
    reguarantee = draw(st.one_of(st.just(0), st.integers(0, rest)))
    risk_pool = draw(st.one_of(st.just(0), st.integers(0, rest - reguarantee)))
    return bank, rest - reguarantee - risk_pool, reguarantee, risk_pool


@st.composite
def agreement_terms(draw: st.DrawFn) -> Terms:
    bank, agency, reguarantee, risk_pool = draw(st.one_of(st.sampled_from(USUAL_SHARES), drawn_shares()))
    cap_rate = draw(st.one_of(st.sampled_from(USUAL_CAPS), st.just(MICRO), st.integers(0, MICRO)))
    return Terms(bank, agency, reguarantee, risk_pool, cap_rate, fee_rate=draw(st.integers(0, 30_000)))


#: (which agreement, which enterprise, principal in fen, term in months)
loan_terms = st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(10_000_000, 300_000_000),
                       st.integers(6, 36))


# The state machine ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cast:
    """Who and what every example shares; made once per pytest test."""

    bank_id: int
    agency_ids: tuple[int, int]
    reguarantor_id: int
    admin_id: int
    bank_user_id: int
    agency_user_id: int
    enterprise_user_ids: tuple[int, int]


def pick(candidates: list[LoanModel], index: int) -> LoanModel:
    return candidates[index % len(candidates)]


class LedgerMachine(RuleBasedStateMachine):
    events = Bundle("events")

    def __init__(self, cast: Cast) -> None:
        super().__init__()
        self.cast = cast
        self.savepoint = None
        self.admin: User | None = None
        self.bank_user: User | None = None
        self.today: dt.date | None = None
        self.agreements: list[AgreementModel] = []
        self.loans: list[LoanModel] = []
        self.pool: PoolModel | None = None
        self.balances: dict[str, int] = defaultdict(int)
        self.entries = 0
        self.recoveries: list[tuple[int, int, int, int, int, int]] = []
        self.keys = 0

    # The world ----------------------------------------------------------------------------------------------

    @initialize(start=st.dates(dt.date(2025, 1, 1), dt.date(2027, 12, 31)),
                terms=st.tuples(agreement_terms(), agreement_terms()),
                loans=st.lists(loan_terms, min_size=2, max_size=4))
    def build_world(self, start: dt.date, terms: tuple[Terms, Terms],
                    loans: list[tuple[int, int, int, int]]) -> None:
        self.savepoint = db.session.begin_nested()
        self.today = start
        self.admin = db.session.get(User, self.cast.admin_id)
        self.bank_user = db.session.get(User, self.cast.bank_user_id)
        pool = create_risk_pool(RiskPoolIn().load({"name": "Property pool", "region_code": "33"}))
        self.pool = PoolModel(pool.id)
        self.agreements = [self._agreement(n, agency_id, pool.id, drawn)
                           for n, (agency_id, drawn) in enumerate(zip(self.cast.agency_ids, terms, strict=True))]
        applications = [self._approved_application(*loan) for loan in loans]
        agency_user = db.session.get(User, self.cast.agency_user_id)
        for agreement in self.agreements:
            batch = db.session.scalar(select(Batch).where(Batch.agreement_id == agreement.id,
                                                          Batch.status == BatchStatus.OPEN))
            if batch is not None:
                decide_batch(submit_batch(batch), agency_user, [])
        for application_id, (which, _enterprise, principal, term_months) in zip(applications, loans, strict=True):
            loan = db.session.scalar(select(Loan).where(Loan.application_id == application_id))
            self.loans.append(LoanModel(loan.id, loan.enterprise_id, self.agreements[which], principal, term_months,
                                        outstanding=principal))
        self._request_done()

    def _agreement(self, n: int, agency_id: int, pool_id: int, terms: Terms) -> AgreementModel:
        reguarantor_id = self.cast.reguarantor_id if terms.reguarantee else None
        data = AgreementIn().load({
            "code": f"PROP-{n}", "bank_id": self.cast.bank_id,
            "valid_from": business_today().isoformat(),
            "valid_to": (business_today() + dt.timedelta(days=365)).isoformat(), "total_quota": "100000000.00",
            "per_enterprise_cap": "100000000.00", "per_loan_cap": "5000000.00", "fee_rate": rate_text(terms.fee_rate),
            "shares": {"bank": rate_text(terms.bank), "agency": rate_text(terms.agency),
                       "reguarantee": rate_text(terms.reguarantee), "risk_pool": rate_text(terms.risk_pool)},
            "reguarantor_id": reguarantor_id, "risk_pool_id": pool_id if terms.risk_pool else None,
            "compensation_cap_rate": rate_text(terms.cap_rate), "eligible_tiers": ["srdi", "little_giant"],
            "eligible_product_types": ["credit"]})
        agreement = create_agreement(agency_id, data)
        change_status(agreement, AgreementStatus.ACTIVE, AgreementStatus.PENDING_BANK)
        return AgreementModel(agreement.id, agency_id, reguarantor_id, terms)

    def _approved_application(self, which: int, enterprise: int, principal: int, term_months: int) -> int:
        """A request for the loan, routed on the chosen agreement's offer and approved by the bank → its id."""
        user = db.session.get(User, self.cast.enterprise_user_ids[enterprise])
        request = create_request(user, FinancingRequestIn().load({
            "amount": str(yuan(principal)), "term_months": term_months, "purpose": "Working capital"}))
        offer = next(o for o in request.offers if o.agreement_id == self.agreements[which].id)
        application = select_offer(request, offer.id)
        decide(application, self.bank_user, DecisionIn().load({"decision": "approved"}))
        return application.id

    def teardown(self) -> None:
        if self.savepoint is not None:
            self.savepoint.rollback()
        # Rolling back a SAVEPOINT forgets the objects the example created, not those it loaded (which a failing
        # assertion may still hold); SQLite reuses the ids, so none may outlive the example.
        db.session.expunge_all()

    def _request_done(self) -> None:
        """Each step stands for a request, which the app ends with a commit that expires the session."""
        db.session.flush()
        db.session.expire_all()

    # The model's bookkeeping --------------------------------------------------------------------------------

    def _move(self, source: str, target: str, amount: int) -> None:
        self.balances[source] -= amount
        self.balances[target] += amount

    def _pay_claims(self) -> int:
        """The pool's cash pays its open claims, oldest first, in one entry → what it paid."""
        pool, paid, per_agency = self.pool, 0, defaultdict(int)
        for claim in pool.claims:
            payment = min(claim.amount - claim.paid, pool.cash - paid)
            if payment > 0:
                claim.paid += payment
                paid += payment
                per_agency[claim.agency_id] += payment
        if paid:
            pool.cash -= paid
            pool.paid_out += paid
            self._move(code(Party.RISK_POOL, pool.id, Purpose.CASH), code(Party.RISK_POOL, pool.id, Purpose.CLAIMS),
                       paid)
            for agency_id, amount in per_agency.items():
                self._move(code(Party.AGENCY, agency_id, Purpose.POOL_CLAIM),
                           code(Party.AGENCY, agency_id, Purpose.POOL_REIMBURSEMENT), amount)
            self.entries += 1
        return paid

    def _expect_disbursement(self, loan: LoanModel) -> int:
        """→ the fee, which the enterprise pays the agency."""
        agreement = loan.agreement
        days = term_days(self.today, loan.term_months)
        fee = half_up(Fraction(loan.principal * agreement.terms.fee_rate * days, MICRO * DAYS_IN_YEAR))
        if fee:
            self._move(code(Party.ENTERPRISE, loan.enterprise_id, Purpose.FEE),
                       code(Party.AGENCY, agreement.agency_id, Purpose.FEE_INCOME), fee)
            self.entries += 1
        agreement.guaranteed += loan.principal
        agreement.quota_outstanding += loan.principal
        loan.status = LoanStatus.DISBURSED
        return fee

    def _expect_repayment(self, loan: LoanModel, amount: int) -> None:
        """Oldest period first, interest before principal: only the principal part releases quota; an overdue loan
        is performing again once no period due before the day is left unpaid."""
        late = schedule.first_unpaid_past_due(loan.periods, yuan(loan.paid), self.today) is not None
        principal = fen_of(schedule.apply_payment(loan.periods, yuan(loan.paid), yuan(amount)).principal)
        loan.paid += amount
        loan.outstanding -= principal
        loan.agreement.quota_outstanding -= principal
        if loan.owed == 0:
            loan.status = LoanStatus.REPAID
        elif loan.status is not LoanStatus.OVERDUE or (
                late and schedule.first_unpaid_past_due(loan.periods, yuan(loan.paid), self.today) is None):
            loan.status = LoanStatus.REPAYING

    def _expect_default(self, loan: LoanModel) -> None:
        agreement, terms, pool, loss = loan.agreement, loan.agreement.terms, self.pool, loan.outstanding
        bank_share, wanted = largest_remainder(loss, [terms.bank, terms.agency + terms.reguarantee + terms.risk_pool])
        compensation = min(wanted, agreement.room)
        agency_net, reguarantee, pool_part = largest_remainder(
            compensation, [terms.agency, terms.reguarantee, terms.risk_pool])
        pool_paid = min(pool_part, pool.cash)
        loan.loss = dict(zip(LOSS_FIELDS, (loss, bank_share + wanted - compensation, wanted - compensation,
                                           compensation, agency_net, reguarantee, pool_paid, pool_part - pool_paid),
                             strict=True))
        agency = agreement.agency_id
        self._move(code(Party.BANK, self.cast.bank_id, Purpose.CREDIT_LOSS),
                   code(Party.ENTERPRISE, loan.enterprise_id, Purpose.DEFAULTED_PRINCIPAL), loss)
        self._move(code(Party.AGENCY, agency, Purpose.COMPENSATION),
                   code(Party.BANK, self.cast.bank_id, Purpose.COMPENSATION), compensation)
        if reguarantee:
            self._move(code(Party.REGUARANTOR, agreement.reguarantor_id, Purpose.REGUARANTEE),
                       code(Party.AGENCY, agency, Purpose.REGUARANTEE), reguarantee)
        if pool_part:
            self._move(code(Party.RISK_POOL, pool.id, Purpose.CASH),
                       code(Party.AGENCY, agency, Purpose.POOL_REIMBURSEMENT), pool_paid)
            self._move(code(Party.RISK_POOL, pool.id, Purpose.CLAIMS),
                       code(Party.AGENCY, agency, Purpose.POOL_CLAIM), pool_part - pool_paid)
            pool.cash -= pool_paid
            pool.paid_out += pool_paid
            if pool_part > pool_paid:
                pool.claims.append(ClaimModel(agency, loan.id, pool_part - pool_paid))
        self.entries += 1
        agreement.compensated += compensation
        agreement.quota_outstanding -= loss
        agreement.suspended = agreement.suspended or agreement.room == 0
        loan.status = LoanStatus.DEFAULTED

    def _expect_recovery(self, loan: LoanModel, amount: int) -> None:
        borne = loan.loss
        bank, agency, reguarantee, to_pool = largest_remainder(amount, [
            borne["bank_borne"], borne["agency_net"], borne["reguarantee"],
            borne["risk_pool_paid"] + borne["risk_pool_claim"]])
        payer = code(Party.ENTERPRISE, loan.enterprise_id, Purpose.DEFAULTED_PRINCIPAL)
        agreement = loan.agreement
        self._move(payer, code(Party.BANK, self.cast.bank_id, Purpose.RECOVERY), bank)
        self._move(payer, code(Party.AGENCY, agreement.agency_id, Purpose.RECOVERY), agency)
        if reguarantee:
            self._move(payer, code(Party.REGUARANTOR, agreement.reguarantor_id, Purpose.RECOVERY), reguarantee)
        if to_pool:
            self._move(payer, code(Party.RISK_POOL, self.pool.id, Purpose.CASH), to_pool)
        self.entries += 1
        self.recoveries.append((loan.id, amount, bank, agency, reguarantee, to_pool))
        loan.outstanding -= amount
        loan.status = LoanStatus.CLOSED if loan.outstanding == 0 else LoanStatus.RECOVERING
        if to_pool:
            self.pool.cash += to_pool
            self.pool.recovered += to_pool
            self._pay_claims()

    # Rules --------------------------------------------------------------------------------------------------

    def loans_in(self, *statuses: LoanStatus) -> list[LoanModel]:
        return [loan for loan in self.loans if loan.status in statuses]

    def _key(self, what: str) -> str:
        self.keys += 1
        return f"{what}-{self.keys}"

    def _record(self, loan: LoanModel, event_type: LoanEventType, amount: int | None) -> Recorded:
        key = self._key(event_type.value)
        event = record_event(db.session.get(Loan, loan.id), self.bank_user, event_type,
                             None if amount is None else yuan(amount), self.today, key)
        return Recorded(key, event.id, self.today, amount, loan.id, event_type)

    def _disburse(self, loan: LoanModel, days_later: int) -> Recorded:
        """Disburse `days_later` than the last event; the guarantee's fee is the model's."""
        self.today += dt.timedelta(days=days_later)
        recorded = self._record(loan, LoanEventType.DISBURSED, None)
        row = db.session.get(Loan, loan.id)
        method = schedule.DEFAULT_METHOD[row.application.offer.product_type]
        assert row.repayment_method is method is not schedule.Method.REVOLVING
        loan.periods = schedule.build(method, yuan(loan.principal), row.interest_rate, self.today, loan.term_months)
        fee = self._expect_disbursement(loan)
        guarantee = guarantee_of_loan(loan.id)
        assert (guarantee.fee_days, fen_of(guarantee.fee_charged)) == (term_days(self.today, loan.term_months), fee)
        return recorded

    @precondition(lambda self: any(agreement.terms.risk_pool for agreement in self.agreements))
    @rule(target=events, amount=st.integers(1, 200_000_000))
    def deposit_into_the_pool(self, amount: int) -> Recorded:
        key = self._key("deposit")
        made = deposit(self.pool.id, self.admin, yuan(amount), self.today, key)
        self.pool.cash += amount
        self.pool.deposited += amount
        self._move(code(Party.FISCAL_FUND, 0, Purpose.POOL_FUNDING), code(Party.RISK_POOL, self.pool.id, Purpose.CASH),
                   amount)
        self.entries += 1
        assert fen_of(made.claims_paid) == self._pay_claims()
        self._request_done()
        return Recorded(key, made.id, self.today, amount)

    @precondition(lambda self: self.loans_in(LoanStatus.APPROVED))
    @rule(target=events, index=st.integers(min_value=0), days_later=st.integers(0, 120))
    def disburse(self, index: int, days_later: int) -> Recorded:
        recorded = self._disburse(pick(self.loans_in(LoanStatus.APPROVED), index), days_later)
        self._request_done()
        return recorded

    @precondition(lambda self: self.loans_in(LoanStatus.DISBURSED, LoanStatus.REPAYING))
    @rule(target=events, index=st.integers(min_value=0), data=st.data())
    def repay(self, index: int, data: st.DataObject) -> Recorded:
        loan = pick(self.loans_in(LoanStatus.DISBURSED, LoanStatus.REPAYING), index)
        amount = data.draw(st.integers(1, loan.owed), label="repaid (fen)")
        recorded = self._record(loan, LoanEventType.REPAYMENT, amount)
        self._expect_repayment(loan, amount)
        self._request_done()
        return recorded

    @precondition(lambda self: self.loans_in(*LIVE))
    @rule(target=events, index=st.integers(min_value=0), days_later=st.integers(0, 120), data=st.data())
    def default(self, index: int, days_later: int, data: st.DataObject):
        """A loan's road to default: disbursed if it was not, overdue, part repaid while overdue (so the loss is
        any amount), then the default on what is outstanding."""
        loan = pick(self.loans_in(*LIVE), index)
        recorded = []
        if loan.status is LoanStatus.APPROVED:
            recorded.append(self._disburse(loan, days_later))
        if loan.status is not LoanStatus.OVERDUE:
            recorded.append(self._record(loan, LoanEventType.OVERDUE, None))
            loan.status = LoanStatus.OVERDUE
        repaid = data.draw(st.integers(0, loan.outstanding - 1), label="repaid while overdue (fen)")
        if repaid:
            recorded.append(self._record(loan, LoanEventType.REPAYMENT, repaid))
            self._expect_repayment(loan, repaid)
        if loan.status is not LoanStatus.OVERDUE:  # that repayment cleared the arrears: late again before default
            recorded.append(self._record(loan, LoanEventType.OVERDUE, None))
            loan.status = LoanStatus.OVERDUE
        recorded.append(self._record(loan, LoanEventType.DEFAULT, None))
        self._expect_default(loan)
        self._request_done()
        return multiple(*recorded)

    @precondition(lambda self: self.loans_in(LoanStatus.DEFAULTED, LoanStatus.RECOVERING))
    @rule(target=events, index=st.integers(min_value=0), data=st.data())
    def recover(self, index: int, data: st.DataObject) -> Recorded:
        loan = pick(self.loans_in(LoanStatus.DEFAULTED, LoanStatus.RECOVERING), index)
        amount = data.draw(st.integers(1, loan.outstanding), label="recovered (fen)")
        recorded = self._record(loan, LoanEventType.RECOVERY, amount)
        self._expect_recovery(loan, amount)
        self._request_done()
        return recorded

    @rule(event=events)
    def replay(self, event: Recorded) -> None:
        """The same event again, by its key: the first one is returned and nothing is posted."""
        entries, trial = self._entry_count(), trial_balance(self.admin, pool_names())
        if event.loan_id is None:
            again = deposit(self.pool.id, self.admin, yuan(event.amount), event.occurred_on, event.key)
        else:
            again = record_event(db.session.get(Loan, event.loan_id), self.bank_user, event.type,
                                 None if event.amount is None else yuan(event.amount), event.occurred_on, event.key)
        assert again.id == event.first_id
        self._request_done()
        assert self._entry_count() == entries
        assert trial_balance(self.admin, pool_names()) == trial

    # Invariants ---------------------------------------------------------------------------------------------

    def _entry_count(self) -> int:
        return db.session.scalar(select(func.count(JournalEntry.id)))

    @invariant()
    def the_journal_balances(self) -> None:
        unbalanced = db.session.execute(select(Posting.entry_id).group_by(Posting.entry_id).having(
            or_(func.sum(Posting.amount) != 0, func.count() < 2))).all()
        assert unbalanced == []
        assert self._entry_count() == self.entries
        trial = trial_balance(self.admin, pool_names())
        assert trial["balanced"] and trial["total_debits"] == trial["total_credits"]
        assert sum(account["balance"] for account in trial["accounts"]) == 0

    @invariant()
    def every_account_holds_what_the_model_says(self) -> None:
        held = {account.code: fen_of(account.balance) for account in db.session.scalars(select(Account))
                if account.balance}
        assert held == {account: balance for account, balance in self.balances.items() if balance}

    @invariant()
    def losses_and_recoveries_are_shared_as_the_model_says(self) -> None:
        losses = db.session.scalars(select(LossAllocation)).all()
        for d in losses:
            assert d.bank_borne + d.agency_compensation == d.loss
            assert d.agency_net + d.reguarantee + d.risk_pool_paid + d.risk_pool_claim == d.agency_compensation
        assert {d.loan_id: {name: fen_of(getattr(d, name)) for name in LOSS_FIELDS} for d in losses} == \
            {loan.id: loan.loss for loan in self.loans if loan.loss is not None}
        recoveries = db.session.scalars(select(RecoveryAllocation).order_by(RecoveryAllocation.id)).all()
        for r in recoveries:
            assert r.bank + r.agency + r.reguarantee + r.risk_pool == r.amount
        assert [(r.loan_id, *map(fen_of, (r.amount, r.bank, r.agency, r.reguarantee, r.risk_pool)))
                for r in recoveries] == self.recoveries

    @invariant()
    def the_pool_matches_the_model(self) -> None:
        pool = db.session.get(RiskPool, self.pool.id)
        assert pool.balance >= 0
        assert tuple(map(fen_of, (pool.balance, pool.deposited, pool.paid_out, pool.recovered))) == \
            (self.pool.cash, self.pool.deposited, self.pool.paid_out, self.pool.recovered)
        claims = db.session.scalars(select(PoolClaim).where(PoolClaim.pool_id == pool.id).order_by(PoolClaim.id))
        assert [(c.agency_id, c.loan_id, fen_of(c.amount), fen_of(c.paid), c.settled) for c in claims] == \
            [(c.agency_id, c.loan_id, c.amount, c.paid, c.paid == c.amount) for c in self.pool.claims]
        assert self.pool.cash == 0 or self.pool.owed == 0  # money in the pool always goes to its claims first
        accounts = {account.purpose: fen_of(account.balance) for account in db.session.scalars(
            select(Account).where(Account.party == Party.RISK_POOL, Account.party_id == pool.id))}
        assert accounts.get(Purpose.CASH, 0) >= 0
        assert (accounts.get(Purpose.CASH, 0), -accounts.get(Purpose.CLAIMS, 0)) == (self.pool.cash, self.pool.owed)

    @invariant()
    def agreements_match_the_model(self) -> None:
        for expected in self.agreements:
            agreement = db.session.get(Agreement, expected.id)
            assert tuple(map(fen_of, (agreement.guaranteed_total, agreement.compensated_total,
                                      agreement.quota_outstanding, cap_room(agreement)))) == \
                (expected.guaranteed, expected.compensated, expected.quota_outstanding, expected.room)
            assert agreement.compensation_rate == expected.compensation_rate
            assert agreement.status is (AgreementStatus.SUSPENDED if expected.suspended else AgreementStatus.ACTIVE)

    @invariant()
    def loans_match_the_model(self) -> None:
        held = {loan.id: (loan.status, fen_of(loan.outstanding)) for loan in db.session.scalars(
            select(Loan).where(Loan.id.in_([loan.id for loan in self.loans])))}
        assert held == {loan.id: (loan.status, loan.outstanding) for loan in self.loans}

    @invariant()
    def verify_finds_nothing(self) -> None:
        assert verify() == []


def test_money_flows_match_the_model_after_every_step(app, world, make, as_role):
    """One pytest test runs every example; each example's world lives in a SAVEPOINT, rolled back after it."""
    bank = as_role("bank")
    product = bank.post("/api/v1/products", json=PRODUCT).json
    assert bank.post(f"/api/v1/products/{product['id']}/publish").status_code == 200
    cast = Cast(bank_id=world.bank.id, agency_ids=(world.agency.id, make.agency().id),
                reguarantor_id=make.agency(AgencyKind.PROVINCIAL).id, admin_id=world.admin_user.id,
                bank_user_id=world.bank_user.id, agency_user_id=world.agency_user.id,
                enterprise_user_ids=(world.enterprise_user.id, world.enterprise2_user.id))
    with app.app_context():
        run_state_machine_as_test(lambda: LedgerMachine(cast), settings=settings(
            max_examples=200, stateful_step_count=12, deadline=None, derandomize=True, database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))


# split on its own -----------------------------------------------------------------------------------------------

#: Shares in millionths, not all zero.
millionths = st.lists(st.integers(0, MICRO), min_size=1, max_size=5).filter(any)


@settings(max_examples=300, derandomize=True, database=None)
@given(amount=st.integers(0, 10**13), weights=millionths)
def test_split_adds_up_exactly_and_stays_within_a_fen_of_the_exact_share(amount, weights):
    parts = split(yuan(amount), [Decimal(w).scaleb(-6) for w in weights])
    assert len(parts) == len(weights) and sum(parts) == yuan(amount)
    for part, weight in zip(parts, weights, strict=True):
        assert abs(fen_of(part) - Fraction(amount * weight, sum(weights))) < 1


@settings(max_examples=300, derandomize=True, database=None)
@example(amount=2_000_000, weights=[400_000, 100_000, 100_000])  # 20,000.00 shared 0.4 : 0.1 : 0.1
@given(amount=st.integers(0, 10**13), weights=millionths)
def test_split_gives_the_fen_left_over_to_the_largest_remainders_ties_to_the_earlier_part(amount, weights):
    assert split(yuan(amount), [Decimal(w).scaleb(-6) for w in weights]) == \
        [yuan(part) for part in largest_remainder(amount, weights)]
