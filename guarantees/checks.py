"""Invariants of the state guarantees owns (agreements, guarantees, risk pools, loss allocations), recomputed from the
rows for `flask verify`. Each check is one set-based query and returns the violations, naming the rows and the
figures kept and found (none when sound). Loans are financing's: these checks never read them."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import and_, func, or_, select, type_coerce
from sqlalchemy.orm import aliased

from guarantees.models import (
    Agreement,
    Guarantee,
    GuaranteeStatus,
    LossAllocation,
    PoolClaim,
    RecoveryAllocation,
    RiskPool,
)
from marketplace import db
from marketplace.caps import compensation_ceiling
from marketplace.db import Money
from marketplace.ledger.models import Account, Party, Purpose

#: Placed but not yet live: the amount is reserved against the agreement's quota.
RESERVING = (GuaranteeStatus.PENDING, GuaranteeStatus.APPROVED)
#: The agency approved it, so the loan exists (created with the approval, in the same statement set).
WITH_LOAN = (GuaranteeStatus.APPROVED, GuaranteeStatus.ACTIVE, GuaranteeStatus.RELEASED, GuaranteeStatus.DEFAULTED,
             GuaranteeStatus.COMPENSATED, GuaranteeStatus.CLOSED)
#: Never approved, so no loan.
WITHOUT_LOAN = (GuaranteeStatus.PENDING, GuaranteeStatus.REJECTED)


def _per_agreement(kept, summed, statuses) -> list[tuple[int, str, Decimal, Decimal]]:
    """(id, code, kept, recomputed) of the agreements whose `kept` column differs from the sum of `summed` over their
    guarantees in `statuses`: one grouped subquery, outer-joined, so agreements without guarantees count as zero."""
    sums = (select(Guarantee.agreement_id, func.sum(summed).label("total"))
            .where(Guarantee.status.in_(statuses)).group_by(Guarantee.agreement_id).subquery())
    recomputed = func.coalesce(sums.c.total, 0)
    return db.session.execute(
        select(Agreement.id, Agreement.code, kept, recomputed)
        .outerjoin(sums, sums.c.agreement_id == Agreement.id)
        .where(kept != recomputed).order_by(Agreement.id)).all()


def reserved_quota_matches_placed_guarantees() -> list[str]:
    """Each agreement's quota_reserved is the amount of its pending and approved guarantees."""
    return [f"Agreement {code} (id {agreement_id}): quota_reserved is {kept:.2f} but its pending and approved "
            f"guarantees amount to {found:.2f}."
            for agreement_id, code, kept, found in _per_agreement(Agreement.quota_reserved, Guarantee.amount,
                                                                  RESERVING)]


def outstanding_quota_matches_live_guarantees() -> list[str]:
    """Each agreement's quota_outstanding is the exposure of its active guarantees."""
    return [f"Agreement {code} (id {agreement_id}): quota_outstanding is {kept:.2f} but its active guarantees' "
            f"exposure sums to {found:.2f}."
            for agreement_id, code, kept, found in _per_agreement(Agreement.quota_outstanding, Guarantee.exposure,
                                                                  (GuaranteeStatus.ACTIVE,))]


def approved_guarantees_have_loans() -> list[str]:
    """A guarantee approved or later has its loan; a pending or rejected one has none."""
    rows = db.session.execute(
        select(Guarantee.id, Guarantee.status, Guarantee.loan_id, Guarantee.application_id, Agreement.code)
        .join(Agreement, Agreement.id == Guarantee.agreement_id)
        .where(or_(and_(Guarantee.status.in_(WITH_LOAN), Guarantee.loan_id.is_(None)),
                   and_(Guarantee.status.in_(WITHOUT_LOAN), Guarantee.loan_id.is_not(None))))
        .order_by(Guarantee.id)).all()
    return [f"Guarantee {gid} (agreement {code}, application {application_id}) is {status.value} "
            + ("but has no loan." if loan_id is None else f"but points at loan {loan_id}.")
            for gid, status, loan_id, application_id, code in rows]


def risk_pool_balances_add_up() -> list[str]:
    """Each risk pool's balance is deposited − paid out + recovered, and never below zero."""
    rows = db.session.execute(
        select(RiskPool.id, RiskPool.name, RiskPool.balance, RiskPool.deposited, RiskPool.paid_out,
               RiskPool.recovered)
        .where(or_(RiskPool.balance != RiskPool.deposited - RiskPool.paid_out + RiskPool.recovered,
                   RiskPool.balance < 0))
        .order_by(RiskPool.id)).all()
    problems = []
    for pool_id, name, balance, deposited, paid_out, recovered in rows:
        expected = deposited - paid_out + recovered
        if balance != expected:
            problems.append(f"Risk pool {name} (id {pool_id}): balance is {balance:.2f} but deposited {deposited:.2f} "
                            f"− paid out {paid_out:.2f} + recovered {recovered:.2f} = {expected:.2f}.")
        if balance < 0:
            problems.append(f"Risk pool {name} (id {pool_id}): balance {balance:.2f} is below zero.")
    return problems


def compensated_totals_match_allocations() -> list[str]:
    """Each agreement's compensated_total is the agency compensation of its loss allocations."""
    sums = (select(LossAllocation.agreement_id, func.sum(LossAllocation.agency_compensation).label("total"))
            .where(LossAllocation.agreement_id.is_not(None)).group_by(LossAllocation.agreement_id).subquery())
    recomputed = func.coalesce(sums.c.total, 0)
    rows = db.session.execute(
        select(Agreement.id, Agreement.code, Agreement.compensated_total, recomputed)
        .outerjoin(sums, sums.c.agreement_id == Agreement.id)
        .where(Agreement.compensated_total != recomputed).order_by(Agreement.id)).all()
    return [f"Agreement {code} (id {agreement_id}): compensated_total is {kept:.2f} but its loss allocations' agency "
            f"compensation sums to {found:.2f}."
            for agreement_id, code, kept, found in rows]


#: What `flask verify` runs for guarantees, in this order.
def risk_pools_match_their_ledger_accounts() -> list[str]:
    """Each risk pool's balance is its cash account's, and what it owes in open claims its claims account's."""
    cash = aliased(Account)
    owed = aliased(Account)
    open_claims = (select(PoolClaim.pool_id, func.sum(PoolClaim.amount - PoolClaim.paid).label("total"))
                   .where(PoolClaim.settled.is_(False)).group_by(PoolClaim.pool_id).subquery())
    rows = db.session.execute(
        select(RiskPool.id, RiskPool.name, RiskPool.balance,
               *(type_coerce(func.coalesce(amount, 0), Money())
                 for amount in (cash.balance, open_claims.c.total, -owed.balance)))
        .outerjoin(cash, and_(cash.party == Party.RISK_POOL, cash.party_id == RiskPool.id,
                              cash.purpose == Purpose.CASH))
        .outerjoin(owed, and_(owed.party == Party.RISK_POOL, owed.party_id == RiskPool.id,
                              owed.purpose == Purpose.CLAIMS))
        .outerjoin(open_claims, open_claims.c.pool_id == RiskPool.id).order_by(RiskPool.id)).all()
    problems = []
    for pool_id, name, balance, cash_held, claims, ledger_owes in rows:
        if balance != cash_held:
            problems.append(f"Risk pool {name} (id {pool_id}) shows {balance:.2f} but its cash account holds "
                            f"{cash_held:.2f}.")
        if claims != ledger_owes:
            problems.append(f"Risk pool {name} (id {pool_id}) owes {ledger_owes:.2f} in its ledger but {claims:.2f} "
                            "in open claims.")
    return problems


def allocations_add_up() -> list[str]:
    """Every loss is shared out exactly (bank + agency = loss; the agency's net, re-guarantee and pool parts make up
    its compensation; what is beyond the cap is the bank's), and every recovery too."""
    losses = db.session.scalars(select(LossAllocation.loan_id).where(or_(
        LossAllocation.bank_borne + LossAllocation.agency_compensation != LossAllocation.loss,
        LossAllocation.beyond_cap > LossAllocation.bank_borne,
        LossAllocation.agency_net + LossAllocation.reguarantee + LossAllocation.risk_pool_paid
        + LossAllocation.risk_pool_claim != LossAllocation.agency_compensation)).order_by(LossAllocation.loan_id))
    recoveries = db.session.execute(select(RecoveryAllocation.id, RecoveryAllocation.loan_id).where(
        RecoveryAllocation.bank + RecoveryAllocation.agency + RecoveryAllocation.reguarantee
        + RecoveryAllocation.risk_pool != RecoveryAllocation.amount).order_by(RecoveryAllocation.id))
    return ([f"The loss of loan {loan_id} is not shared out exactly." for loan_id in losses]
            + [f"Recovery {recovery_id} on loan {loan_id} is not shared out exactly."
               for recovery_id, loan_id in recoveries])


def compensation_within_caps() -> list[str]:
    """No agreement has compensated more than its cap (代偿率上限) allows of what it guaranteed."""
    rows = db.session.execute(select(Agreement.id, Agreement.code, Agreement.compensated_total,
                                     Agreement.compensation_cap_rate, Agreement.guaranteed_total)
                              .where(Agreement.compensated_total > 0).order_by(Agreement.id)).all()
    return [f"Agreement {code} (id {agreement_id}) compensated {compensated:.2f}, beyond its cap of "
            f"{compensation_ceiling(cap, guaranteed):.2f} ({cap} of {guaranteed:.2f} guaranteed)."
            for agreement_id, code, compensated, cap, guaranteed in rows
            if compensated > compensation_ceiling(cap, guaranteed)]


CHECKS: tuple[Callable[[], list[str]], ...] = (
    reserved_quota_matches_placed_guarantees,
    outstanding_quota_matches_live_guarantees,
    approved_guarantees_have_loans,
    risk_pool_balances_add_up,
    compensated_totals_match_allocations,
    risk_pools_match_their_ledger_accounts,
    allocations_add_up,
    compensation_within_caps,
)
