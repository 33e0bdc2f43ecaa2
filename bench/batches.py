"""Batch decision time: `guarantees.services.decide_batch` on a submitted batch of 5,000 items, 50 excluded.

Run from the repository root:

    python -m bench.batches                   # 3 rounds, seed 7, writes bench/results.json ["batch_decision"]
    python -m bench.batches --explain         # also EXPLAIN (ANALYZE, BUFFERS) every statement decide_batch sends

Each round makes a fresh PostgreSQL database (and drops it), builds the schema with the Alembic migrations, generates
a province's parties (bench.common.province: a bank, an agency, certified enterprises with their users, the LPR) and
builds the batch on them with bulk Core inserts (not the per-request services, which would take minutes): an active
agreement, a published product, and per item a financing request (approved), its offer, its approved application
and a pending guarantee, all in one submitted batch, with the agreement's quota_reserved equal to the sum of the
items. After VACUUM (ANALYZE) — the state autovacuum leaves tables in — it times, with
time.perf_counter, `decide_batch(batch, agency user, exclusions)` plus the commit, counts the SQL statements
decide_batch sends, and checks the outcome (approved items each with their loan, rejected items, quota released,
applications guarantee_unavailable, requests declined). See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy import event, func, insert, select
from sqlalchemy.exc import DBAPIError

from bench.common import (
    RESULTS,
    Firm,
    Party,
    bench_app,
    load_average,
    machine,
    now_iso,
    province,
    show,
    vacuum_analyze,
    write_results,
)
from guarantees.models import Agreement, AgreementStatus, Batch, BatchStatus, Guarantee, GuaranteeStatus
from marketplace import db
from marketplace.auth.models import User
from marketplace.dates import business_today
from marketplace.financing.models import (
    Application,
    ApplicationStatus,
    FinancingRequest,
    Loan,
    LoanStatus,
    Offer,
    RequestStatus,
)
from marketplace.financing.services import decide_batch
from marketplace.lpr.models import LprRate
from marketplace.orgs.models import Organization, Tier
from products.models import GuaranteeNeed, Product, ProductStatus, ProductTier, ProductType

#: Issue 4: 5,000 items in 3 s; issue 8: 10,000 items in 5 s. Other sizes are held to the nearer of the two.
TARGETS_S = {5000: 3.0, 10_000: 5.0}


def target_s(items: int) -> float:
    return TARGETS_S[min(TARGETS_S, key=lambda size: abs(size - items))]


#: Enterprises generated per enterprise owning items: about a third of a generated province's enterprises are
#: certified and have a user.
GENERATED_PER_OWNER = 3
#: The agreement guarantees, and the product is for, every certified tier.
ELIGIBLE = (Tier.INNOVATIVE, Tier.SRDI, Tier.LITTLE_GIANT)
SPREAD_BP = 50
FEE_RATE, GUARANTEE_FEE_RATE, FEE_SUBSIDY_RATE = Decimal("0.010000"), Decimal("0.008000"), Decimal("0.002000")
TERMS = [3, 6, 12, 12, 12, 18, 24, 24, 36, 36, 48, 60, 84, 120]
PER_LOAN_CAP = Decimal("5000000.00")
REASONS = ["Collateral valuation out of date", "Related-party exposure above the agency's limit",
           "Enterprise under a tax-credit downgrade", "Duplicate of a loan guaranteed elsewhere",
           "Industry outside the agreement's eligible list"]
#: Tables the batch is built in; VACUUM (ANALYZE)d after it (the generator analyzed the province's own).
SEEDED = ("products", "product_tiers", "agreements", "batches", "financing_requests", "offers", "applications",
          "guarantees")


# Seeding ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class World:
    batch_id: int
    agreement_id: int
    agency_user_id: int
    #: guarantee id → (application id, request id, amount), in guarantee id order.
    items: dict[int, tuple[int, int, Decimal]]
    quota_reserved: Decimal


def _ids(table: sa.Table, rows: list[dict[str, Any]]) -> list[int]:
    """Bulk Core INSERT ... RETURNING id (batched by SQLAlchemy's insertmanyvalues), ids in the order of rows."""
    return list(db.session.scalars(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows))


def seed(app: Flask, seed: int, items: int, enterprises: int) -> World:
    """A generated province's parties (one bank, one agency), and on them, with bulk Core inserts, everything a
    submitted batch of `items` pending guarantees needs, owned in turn by `enterprises` certified enterprises;
    commits."""
    generated = province(app, seed, enterprises=enterprises * GENERATED_PER_OWNER, banks=1, agencies=1)
    firms = generated.certified()[:enterprises]
    if len(firms) < enterprises:
        raise RuntimeError(f"the generated province has {len(firms)} certified enterprise users, not {enterprises}")
    (bank,), (agency,) = generated.banks, generated.agencies
    rng = random.Random(seed)
    with app.app_context():
        return _batch(rng, items, firms, bank, agency)


def _batch(rng: random.Random, items: int, firms: list[Firm], bank: Party, agency: Party) -> World:
    now, today = db.utcnow(), business_today()
    session = db.session
    bank_name = session.get(Organization, bank.id).name
    lpr_on, lpr_1y, lpr_5y = session.execute(select(LprRate.effective_on, LprRate.lpr_1y, LprRate.lpr_5y)
                                             .order_by(LprRate.effective_on.desc()).limit(1)).one()
    (product_id,) = _ids(Product.__table__, [{
        "bank_id": bank.id, "name": "Bench guaranteed credit loan", "product_type": ProductType.CREDIT,
        "amount_min": Decimal("100000.00"), "amount_max": PER_LOAN_CAP, "term_min_months": 1,
        "term_max_months": 120, "rate_spread_bp": SPREAD_BP, "guarantee": GuaranteeNeed.REQUIRED,
        "description": "", "status": ProductStatus.PUBLISHED, "version": 1, "created_at": now, "updated_at": now,
        "published_at": now}])
    session.execute(sa.update(Product.__table__).where(Product.__table__.c.id == product_id)
                    .values(family_id=product_id))
    session.execute(insert(ProductTier.__table__), [{"product_id": product_id, "tier": tier} for tier in ELIGIBLE])

    # Amounts 100k..5M in steps of 10k; every enterprise gets items // enterprises of them (round robin).
    amounts = [Decimal(rng.randint(10, 500) * 10_000).quantize(Decimal("0.01")) for _ in range(items)]
    terms = [rng.choice(TERMS) for _ in range(items)]
    owners = [firms[n % len(firms)] for n in range(items)]
    per_enterprise: dict[int, Decimal] = {}
    for owner, amount in zip(owners, amounts, strict=True):
        per_enterprise[owner.id] = per_enterprise.get(owner.id, Decimal(0)) + amount
    reserved = sum(amounts, Decimal("0.00"))
    (agreement_id,) = _ids(Agreement.__table__, [{
        "code": "BENCH-BATCH-1", "agency_id": agency.id, "bank_id": bank.id,
        "valid_from": today - dt.timedelta(days=30), "valid_to": today + dt.timedelta(days=365),
        # Room for the batch twice over; the caps hold every item and every enterprise's total.
        "total_quota": reserved * 2, "per_enterprise_cap": max(per_enterprise.values()), "per_loan_cap": PER_LOAN_CAP,
        "fee_rate": FEE_RATE, "share_agency": Decimal("0.8"), "share_bank": Decimal("0.2"),
        "share_reguarantee": Decimal("0"), "share_risk_pool": Decimal("0"), "reguarantor_id": None,
        "risk_pool_id": None, "compensation_cap_rate": Decimal("0.03"),
        "eligible_tiers": [tier.value for tier in ELIGIBLE],
        "eligible_product_types": [ProductType.CREDIT.value], "batch_max_size": items, "auto_approve_below": None,
        "review_sla_days": 10, "status": AgreementStatus.ACTIVE, "quota_reserved": reserved,
        "quota_outstanding": Decimal("0.00"), "guaranteed_total": Decimal("0.00"),
        "compensated_total": Decimal("0.00"), "created_at": now, "countersigned_at": now}])
    (batch_id,) = _ids(Batch.__table__, [{"agreement_id": agreement_id, "status": BatchStatus.SUBMITTED,
                                          "created_at": now, "submitted_at": now}])

    rates = [(lpr_1y if term <= 60 else lpr_5y) + SPREAD_BP * Decimal("0.0001") for term in terms]
    request_ids = _ids(FinancingRequest.__table__, [
        {"enterprise_id": owner.id, "created_by_id": owner.user_id, "amount": amount,
         "term_months": term, "purpose": f"Bench request {n}", "accept_guarantee": True, "product_types": None,
         "status": RequestStatus.APPROVED, "tier_at_request": Tier(owner.tier),
         "lpr_effective_on": lpr_on, "unmatched_reasons": [], "created_at": now,
         "updated_at": now}
        for n, (owner, amount, term) in enumerate(zip(owners, amounts, terms, strict=True))])
    offer_ids = _ids(Offer.__table__, [
        {"request_id": rid, "rank": 1, "product_id": product_id, "product_name": "Bench guaranteed credit loan",
         "product_type": ProductType.CREDIT.value, "bank_id": bank.id, "bank_name": bank_name,
         "agreement_id": agreement_id, "amount": amount, "term_months": term, "rate_spread_bp": SPREAD_BP,
         "interest_rate": rate, "list_fee_rate": FEE_RATE, "guarantee_fee_rate": GUARANTEE_FEE_RATE,
         "fee_subsidy_rate": FEE_SUBSIDY_RATE, "all_in_rate": rate + GUARANTEE_FEE_RATE, "applied_rules": []}
        for rid, amount, term, rate in zip(request_ids, amounts, terms, rates, strict=True)])
    application_ids = _ids(Application.__table__, [
        {"request_id": rid, "offer_id": oid, "bank_id": bank.id, "status": ApplicationStatus.APPROVED,
         "approved_amount": amount, "rate_spread_bp": SPREAD_BP, "interest_rate": rate, "reason": None,
         "decided_by_id": bank.user_id, "decided_at": now, "created_at": now}
        for rid, oid, amount, rate in zip(request_ids, offer_ids, amounts, rates, strict=True)])
    guarantee_ids = _ids(Guarantee.__table__, [
        {"agreement_id": agreement_id, "batch_id": batch_id, "application_id": aid,
         "enterprise_id": owner.id, "loan_id": None, "amount": amount, "exposure": amount,
         "term_months": term, "fee_rate": GUARANTEE_FEE_RATE, "status": GuaranteeStatus.PENDING, "reason": None,
         "created_at": now, "decided_at": None}
        for aid, owner, amount, term in zip(application_ids, owners, amounts, terms, strict=True)])
    session.commit()
    return World(batch_id, agreement_id, agency.user_id,
                 {gid: (aid, rid, amount) for gid, aid, rid, amount
                  in zip(guarantee_ids, application_ids, request_ids, amounts, strict=True)}, reserved)


def pick_exclusions(rng: random.Random, world: World, count: int) -> list[dict[str, Any]]:
    chosen = sorted(rng.sample(sorted(world.items), count))
    return [{"guarantee_id": gid, "reason": f"{REASONS[n % len(REASONS)]} (bench exclusion {n + 1})"}
            for n, gid in enumerate(chosen)]


# Timing and statement capture ---------------------------------------------------------------------------------

@dataclass
class Sent:
    sql: str
    parameters: Any
    executemany: bool
    ms: float = 0.0
    rowcount: int = -1


class Recorder:
    """Every statement sent through the engine while `on`, with its client-side wall time."""

    def __init__(self) -> None:
        self.on = False
        self.sent: list[Sent] = []
        self._started = 0.0

    def before(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
               executemany: bool) -> None:
        if self.on:
            self.sent.append(Sent(statement, parameters, executemany))
            self._started = time.perf_counter()

    def after(self, _conn: Any, cursor: Any, *_args: Any) -> None:
        if self.on and self.sent:
            self.sent[-1].ms = (time.perf_counter() - self._started) * 1000
            self.sent[-1].rowcount = cursor.rowcount

    def attach(self, app: Flask) -> None:
        event.listen(db.engine_of(app), "before_cursor_execute", self.before)
        event.listen(db.engine_of(app), "after_cursor_execute", self.after)

    def detach(self, app: Flask) -> None:
        event.remove(db.engine_of(app), "before_cursor_execute", self.before)
        event.remove(db.engine_of(app), "after_cursor_execute", self.after)


def head(sql: str, width: int = 110) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"


def decide(app: Flask, world: World, exclusions: list[dict[str, Any]], commit: bool) -> tuple[float, float, Recorder]:
    """(seconds for decide_batch + commit, seconds of the commit alone, the statements decide_batch sent)."""
    recorder = Recorder()
    recorder.attach(app)
    try:
        with app.app_context():
            batch = db.session.get(Batch, world.batch_id)
            user = db.session.get(User, world.agency_user_id)
            assert batch.status is BatchStatus.SUBMITTED
            recorder.on = True
            started = time.perf_counter()
            decide_batch(batch, user, exclusions)
            recorder.on = False
            committing = time.perf_counter()
            if commit:
                db.session.commit()
            else:
                db.session.rollback()
            ended = time.perf_counter()
    finally:
        recorder.on = False
        recorder.detach(app)
    return ended - started, ended - committing, recorder


def verify(app: Flask, world: World, exclusions: list[dict[str, Any]]) -> dict[str, Any]:
    """The decided batch as the database has it; raises AssertionError on anything wrong."""
    excluded = {item["guarantee_id"] for item in exclusions}
    kept = [gid for gid in world.items if gid not in excluded]
    released = sum((world.items[gid][2] for gid in excluded), Decimal("0.00"))
    approved_total = sum((world.items[gid][2] for gid in kept), Decimal("0.00"))
    with app.app_context():
        s = db.session
        by_status = dict(s.execute(select(Guarantee.status, func.count()).where(Guarantee.batch_id == world.batch_id)
                                   .group_by(Guarantee.status)).all())
        with_loan = s.scalar(
            select(func.count()).select_from(Guarantee)
            .join(Loan, (Loan.id == Guarantee.loan_id) & (Loan.application_id == Guarantee.application_id))
            .where(Guarantee.batch_id == world.batch_id, Guarantee.status == GuaranteeStatus.APPROVED,
                   Loan.status == LoanStatus.APPROVED, Loan.principal == Guarantee.amount))
        loans = s.scalar(select(func.count(Loan.id)))
        principal = s.scalar(select(func.sum(Loan.principal)))
        rejected_ok = s.scalar(select(func.count()).where(
            Guarantee.id.in_(excluded), Guarantee.status == GuaranteeStatus.REJECTED, Guarantee.exposure == 0,
            Guarantee.reason.is_not(None), Guarantee.loan_id.is_(None), Guarantee.decided_at.is_not(None)))
        agreement = s.get(Agreement, world.agreement_id)
        unavailable = set(s.scalars(select(Application.id).where(
            Application.status == ApplicationStatus.GUARANTEE_UNAVAILABLE)))
        declined = set(s.scalars(select(FinancingRequest.id).where(
            FinancingRequest.status == RequestStatus.DECLINED)))
        batch = s.get(Batch, world.batch_id)
        outcome = {
            "approved": by_status.get(GuaranteeStatus.APPROVED, 0),
            "rejected": by_status.get(GuaranteeStatus.REJECTED, 0),
            "pending": by_status.get(GuaranteeStatus.PENDING, 0), "approved_with_loan": with_loan, "loans": loans,
            "quota_reserved_before": str(world.quota_reserved), "quota_reserved_after": str(agreement.quota_reserved),
            "released": str(released), "guarantee_unavailable": len(unavailable), "requests_declined": len(declined),
            "batch_status": batch.status.value}
    problems = []
    if outcome["approved"] != len(kept) or outcome["rejected"] != len(excluded) or outcome["pending"]:
        problems.append("guarantee statuses")
    if with_loan != len(kept) or loans != len(kept) or principal != approved_total:
        problems.append("loans")
    if rejected_ok != len(excluded):
        problems.append("rejected guarantees (exposure, reason, no loan)")
    if agreement.quota_reserved != world.quota_reserved - released:
        problems.append("quota_reserved")
    if unavailable != {world.items[gid][0] for gid in excluded}:
        problems.append("applications guarantee_unavailable")
    if declined != {world.items[gid][1] for gid in excluded}:
        problems.append("requests declined")
    if batch.status is not BatchStatus.DECIDED:
        problems.append("batch status")
    if problems:
        raise AssertionError(f"decide_batch outcome wrong ({', '.join(problems)}): {outcome}")
    return outcome


# EXPLAIN -------------------------------------------------------------------------------------------------------

def explain(app: Flask, sent: list[Sent]) -> list[dict[str, Any]]:
    """Replay the statements decide_batch sent, in order, each under EXPLAIN (ANALYZE, BUFFERS), in one transaction
    that is rolled back. An executemany is replayed once per parameter set (the first plan is printed)."""
    found = []
    print("\nEXPLAIN (ANALYZE, BUFFERS) of each statement decide_batch sends, replayed in order and rolled back:")
    with db.engine_of(app).connect() as connection:
        for n, statement in enumerate(sent, start=1):
            sets = list(statement.parameters) if statement.executemany else [statement.parameters]
            server_ms, plan = 0.0, []
            for k, parameters in enumerate(sets):
                try:  # a statement fed by an earlier one's RETURNING (new loans' ids) may not replay as it ran
                    with connection.begin_nested():
                        rows = connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement.sql,
                                                          parameters).all()
                except DBAPIError as error:
                    rows = [(f"not replayable: {type(error.orig).__name__}",)]
                lines = [row[0] for row in rows]
                server_ms += sum(float(line.split(":")[1].split()[0]) for line in lines
                                 if line.startswith(("Execution Time", "Planning Time")))
                if k == 0:
                    plan = lines
            times = f" ×{len(sets)}" if statement.executemany else ""
            print(f"\n[{n}] {head(statement.sql, 160)}{times}\n    planning + execution {server_ms:.2f} ms "
                  f"(client saw {statement.ms:.2f} ms)")
            for line in plan:
                print("    " + line)
            found.append({"n": n, "sql": head(statement.sql), "parameter_sets": len(sets),
                          "server_ms": round(server_ms, 3)})
        connection.rollback()
    return found


# Main ----------------------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.batches", description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000, help="pending guarantees in the batch (default 10000)")
    parser.add_argument("--exclusions", type=int, default=50, help="items the agency rejects (default 50)")
    parser.add_argument("--enterprises", type=int, default=500,
                        help="certified enterprises owning the items, of a province generated three times as large "
                             "(default 500)")
    parser.add_argument("--rounds", type=int, default=3, help="measurements, each on a fresh database (default 3)")
    parser.add_argument("--seed", type=int, default=7, help="seed for amounts, terms and exclusions (default 7)")
    parser.add_argument("--no-analyze", action="store_true",
                        help="skip VACUUM (ANALYZE) after seeding (planner without statistics on the new rows)")
    parser.add_argument("--explain", action="store_true",
                        help="after the timed rounds, one more fresh database: EXPLAIN (ANALYZE, BUFFERS) every "
                             "statement decide_batch sends (always done when the target is missed)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    args = parser.parse_args(argv)
    if args.items <= 0 or args.rounds <= 0 or not 0 <= args.exclusions <= args.items or args.enterprises <= 0:
        parser.error("--items, --rounds and --enterprises must be positive; 0 <= --exclusions <= --items")
    return args


def one_round(args: argparse.Namespace, round_no: int, explain_only: bool = False) -> dict[str, Any]:
    with bench_app() as (app, _url):
        seeding = time.perf_counter()
        world = seed(app, args.seed, args.items, args.enterprises)  # the same world and exclusions every round
        if not args.no_analyze:
            vacuum_analyze(app, *SEEDED)
        seeded_s = time.perf_counter() - seeding
        exclusions = pick_exclusions(random.Random(f"{args.seed}:exclusions"), world, args.exclusions)
        if explain_only:
            _, _, recorder = decide(app, world, exclusions, commit=False)
            return {"explain": explain(app, recorder.sent)}
        seconds, commit_s, recorder = decide(app, world, exclusions, commit=True)
        outcome = verify(app, world, exclusions)
        postgres_version = show(app, ["server_version"])["server_version"]
    print(f"round {round_no}: decide_batch + commit {seconds:.3f} s (commit {commit_s * 1000:.1f} ms), "
          f"{len(recorder.sent)} statements; seeded in {seeded_s:.1f} s; verified: {outcome['approved']} approved "
          f"with {outcome['loans']} loans, {outcome['rejected']} rejected, quota_reserved "
          f"{outcome['quota_reserved_before']} → {outcome['quota_reserved_after']}")
    return {"seconds": seconds, "commit_s": commit_s, "sent": recorder.sent, "outcome": outcome,
            "postgres_version": postgres_version}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    load_at_start = load_average()
    print(f"batch decision: {args.items:,} items, {args.exclusions} exclusions, {args.enterprises} enterprises, "
          f"{args.rounds} rounds (fresh database each)")
    rounds = [one_round(args, n) for n in range(1, args.rounds + 1)]
    seconds = [r["seconds"] for r in rounds]
    median = statistics.median(seconds)
    target = target_s(args.items)
    ok = median <= target
    # The statement list of the median round (the same statements every round).
    middle = sorted(rounds, key=lambda r: r["seconds"])[len(rounds) // 2]
    counts = {len(r["sent"]) for r in rounds}
    statements = [{"sql": head(s.sql), "ms": round(s.ms, 3), "rowcount": s.rowcount,
                   **({"parameter_sets": len(s.parameters)} if s.executemany else {})} for s in middle["sent"]]
    explained = None
    if args.explain or not ok:
        explained = one_round(args, 0, explain_only=True)["explain"]

    figures: dict[str, Any] = {
        "items": args.items, "exclusions": args.exclusions, "enterprises": args.enterprises,
        "seconds": [round(s, 4) for s in seconds], "min_s": round(min(seconds), 4), "median_s": round(median, 4),
        "commit_s": [round(r["commit_s"], 4) for r in rounds], "target_s": target, "ok": ok,
        "statements": len(middle["sent"]), "statement_ms": statements, "outcome": middle["outcome"],
        "analyzed": not args.no_analyze, "seed": args.seed, "database": "postgresql",
        "postgres_version": middle["postgres_version"],
        "machine": machine(load_at_start), "generated_at": now_iso(),
    }
    if len(counts) > 1:
        figures["statements_per_round"] = [len(r["sent"]) for r in rounds]
    if explained is not None:
        figures["explain_server_ms"] = explained
    write_results("batch_decision", figures, args.output)

    print("\nStatements decide_batch sent (round with the median time), client-side ms:")
    for n, s in enumerate(statements, start=1):
        many = f" ×{s['parameter_sets']}" if "parameter_sets" in s else ""
        print(f"  [{n:>2}] {s['ms']:>9.2f} ms  rows {s['rowcount']:>5}  {s['sql']}{many}")
    print(f"\nBatch decision, {args.items:,} items / {args.exclusions} exclusions on PostgreSQL: "
          f"min {min(seconds):.3f} s, median {median:.3f} s over {len(seconds)} rounds "
          f"({', '.join(f'{s:.3f}' for s in seconds)}); {len(middle['sent'])} SQL statements")
    print(("ok" if ok else "TARGET MISSED") + f": median {median:.3f} s (target ≤ {target:g} s)")
    print(f"wrote {args.output} ['batch_decision'] in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
