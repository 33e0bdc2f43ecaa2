"""The world of the concurrency matrix (issue 18) and how its races are run.

One world a run, built through the services on a database of its own and committed, as the concurrency tests'
worlds are: every case of the matrix commits for real from many connections, so nothing is rolled back between
cases. Each case therefore races its OWN objects, made here in advance: applications, batches, loans, agreements,
products and pools enough that no case touches another's.

Nearly everything lives under one bank (RACE) and one agency (RAG), with agreements of different terms side by
side: `main` for decisions, batches and disbursements, `loss` and `pool` for defaults, `sla` for the 见贷即保 job,
`review` for compensation claims (its defaults file claims the agency decides) and renewals.
Beside them: RACESYS, a bank with a system (its outbox message, its callback secret to rotate); RACENEW, a bank
whose system has never called back; and two fee rules, in force for the one enterprise of region 3302 only, whose
loans grant a budgeted fiscal subsidy. The products and agreements the status cases move are made last and priced
out of every request's reach.
The accounts' cases (issue 21) have RACE's administrator (org_admin), a user of RACE's who changes their own
password, and members of RACE's that the administrators disable, re-enable and reset, one a case.
"""

from __future__ import annotations

import datetime as dt
import io
import json as jsonlib
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import openpyxl
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from stdnum.cn import uscc
from werkzeug.security import generate_password_hash
from werkzeug.test import TestResponse

from guarantees.claims import decide as decide_claim
from guarantees.models import Agreement, AgreementStatus, Batch, BatchStatus, Claim, ClaimMode
from guarantees.services import change_status, create_agreement, create_risk_pool, return_agreement
from guarantees.settlement import deposit
from marketplace import db
from marketplace.auth.models import Role, User
from marketplace.auth.services import issue_token, system_user
from marketplace.bank_systems.callbacks import sign
from marketplace.dates import business_today
from marketplace.fees.services import create_rule
from marketplace.financing.loans import record_event
from marketplace.financing.models import Application, Loan, LoanEventType
from marketplace.financing.services import create_request, decide, decide_batch, select_offer, submit_batch
from marketplace.idempotency import HEADER
from marketplace.ledger.models import JournalEntry
from marketplace.lpr.services import set_rates
from marketplace.orgs.models import AgencyKind, EnterpriseSize, Tier
from marketplace.orgs.services import certify, create_agency, create_bank, create_enterprise
from marketplace.outbox import MessageStatus, OutboxMessage
from products.models import GuaranteeNeed, ProductStatus, ProductType
from products.services import change_status as change_product_status
from products.services import create_product

#: What every request of the world asks for, and so every loan's principal.
AMOUNT = Decimal("1000000.00")
TERM_MONTHS = 12
#: The password of the user the sign-in case signs in as (hashed cheaply: the case is about tokens, not scrypt).
PASSWORD = "Matrix-race-password-7"
#: How many calls each case sends at the same object at once.
AT_ONCE = 8


def new_uscc(n: int) -> str:
    """A valid USCC of this world (its own prefix, so no other test's enterprises collide with it)."""
    base = f"91330106RC{n:07d}"
    return base + uscc.calc_check_digit(base)


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls on as many threads, released together by a barrier; → their answers, in order."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        start.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


#: How long the calls sent while a row is held may take to come to wait on a lock.
ARRIVAL_TIMEOUT_S = 10.0
_WAITING = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")


class Holding:
    """A row locked by a transaction of the test's own while calls are sent: each call runs until it waits on a
    lock (the held row, or one that a call waiting on it holds), so every call has read what it reads before any
    of them writes. That is the interleaving a check made before taking the lock loses to, every time, where calls
    merely sent at once lose to it only when their timing happens to overlap."""

    def __init__(self, pool: ThreadPoolExecutor, probe: Connection) -> None:
        self.pool, self.probe = pool, probe
        self.sent: list[Future] = []

    def send(self, calls: list[Callable[[], Any]]) -> list[Future]:
        """Send the calls, and return once each of them waits on a lock (or has finished without one)."""
        futures = [self.pool.submit(call) for call in calls]
        self.sent += futures
        deadline = time.monotonic() + ARRIVAL_TIMEOUT_S
        while True:
            waiting = self.probe.scalar(_WAITING)
            if waiting + sum(future.done() for future in self.sent) >= len(self.sent):
                return futures
            assert time.monotonic() < deadline, f"{waiting} of {len(self.sent)} calls came to wait on a lock"
            time.sleep(0.01)


@dataclass
class World:
    app: Flask
    #: The app's OpenAPI document: which operations honour the Idempotency-Key header.
    document: dict[str, Any] = field(default_factory=dict)
    #: Bearer tokens: admin, bank, sysbank, agency, enterprise, subsidised (the enterprise of region 3302), a
    #: second token of the enterprise's (`leaver`) that the revocation case revokes; bankadmin, RACE's administrator
    #: (org_admin), and changer, a user of RACE's who changes their own password (from PASSWORD).
    tokens: dict[str, str] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    #: Users of RACE's the administrators manage, one a case: disable_8 (active, with a bearer token), enable_8
    #: (disabled), toggle (active: disablings race re-enablings), reset_8.
    members: dict[str, int] = field(default_factory=dict)
    leaver_token: int = 0  # the id of the `leaver` token
    signer: str = ""  # the user name the sign-in case signs in with PASSWORD
    bank: int = 0
    #: The callback secret of each bank whose system calls back: RACE, and RACENEW, whose system has never called
    #: back before the case that sends its first callbacks (RACE's system user exists; RACENEW's does not).
    callback_secrets: dict[str, str] = field(default_factory=dict)
    sysbank: int = 0  # a bank with a system (api_base_url): its outbox message and callback secret
    agency: int = 0
    enterprise: int = 0
    tier_enterprise: int = 0  # the enterprise whose tier the admin sets (the others' offers need theirs unchanged)
    #: Agreements by role: main, loss, pool, sla, review; pending_8, pending_mix, active_8, active_mix, suspended_8;
    #: return_8, return_mix (pending); resubmit_8, resubmit_mix, terminate_8 (returned by the bank).
    agreements: dict[str, int] = field(default_factory=dict)
    #: Risk pools: funded (backs `loss`), empty (backs `pool`), deposit_same, deposit_each.
    pools: dict[str, int] = field(default_factory=dict)
    #: Products: guaranteed and plain (what requests match); draft_8, draft_mix, draft_patch, draft_delete,
    #: draft_delete_mix, draft_delete_edit, published_suspend, published_archive, published_patch (what the status
    #: cases move, out of every request's range).
    products: dict[str, int] = field(default_factory=dict)
    #: Submitted applications (guaranteed by `main` unless said): decide_8, withdraw_8, callback (plain product);
    #: loan_callback, the approved application of loan `callback` (callbacks name loans by their application); and
    #: newcomer, routed to bank RACENEW (plain product).
    applications: dict[str, int] = field(default_factory=dict)
    #: Submitted applications, one a bank decision races the enterprise's withdrawal on.
    contested: list[int] = field(default_factory=list)
    #: Countered applications (guaranteed by `main`, the offer's amount at 200 bp more): accept_8 and decline_8 in
    #: `applications`; here, those an acceptance races a decline on.
    countered: list[int] = field(default_factory=list)
    #: An open request and one of its offers (the selection case).
    open_request: int = 0
    open_offer: int = 0
    #: Batches of `main`: decide_8, decide_same_key, exclude_or_approve (submitted), open (open, one item).
    batches: dict[str, int] = field(default_factory=dict)
    #: Submitted batches of `sla`, two items each.
    sla_batches: list[int] = field(default_factory=list)
    #: Loans: disburse_8, disburse_same_key, callback (approved, main); repay, overdue_8 (disbursed, main);
    #: default_8 (overdue, loss); recover (defaulted, loss).
    loans: dict[str, int] = field(default_factory=dict)
    #: Overdue loans under `pool`, whose pool is empty: they default while the pool is funded.
    pool_loans: list[int] = field(default_factory=list)
    #: Journal entries to reverse: the fee entries of two loans.
    entries: dict[str, int] = field(default_factory=dict)
    dead_message: int = 0
    fee_rule: int = 0  # out of force: the rule the edit case edits
    #: The product type whose pricing bounds (issue 22) the admin sets: no product, agreement or request of the world
    #: is of it, so whatever bounds the race leaves refuse none of them.
    bounds_type: str = ProductType.PARK.value
    #: The fiscal-subsidy rule (with a budget) that prices the loans of the enterprise of region 3302, and those
    #: loans, approved: they grant its subsidy when they are disbursed.
    subsidy_rule: int = 0
    subsidised_loans: list[int] = field(default_factory=list)
    #: Compensation claims (issue 20) under `review` (claim_mode review), each filed when its loan defaulted: pay_8,
    #: pay_same_key, documents_8, documents_mix (evidence against a payment); spread, one each of the claims the same
    #: file is uploaded to at once.
    claims: dict[str, int] = field(default_factory=dict)
    spread_claims: list[int] = field(default_factory=list)
    #: Filed claims, on each of which a payment races a refusal.
    contested_claims: list[int] = field(default_factory=list)
    #: Defaulted loans under `review` whose claim the agency refused: refile_8, and refile_mix (filing again against
    #: a recovery in full).
    refused: dict[str, int] = field(default_factory=dict)
    #: 无还本续贷: loans disbursed under `review` (old) and the approved plain loans of the same enterprise that renew
    #: them (new): renew_8 → [old, new]; renew_two → [old, old, new] (two loans renewed into one at once).
    renewals: dict[str, list[int]] = field(default_factory=dict)

    # Calling the API ----------------------------------------------------------------------------------------

    def honours_key(self, method: str, template: str) -> bool:
        """Whether the document says the operation honours the Idempotency-Key header."""
        operation = self.document["paths"][template][method.lower()]
        return any(p.get("in") == "header" and p.get("name") == HEADER for p in operation.get("parameters", []))

    def call(self, who: str | None, method: str, template: str, *, key: str | None = None, json: Any = None,
             data: Callable[[], dict[str, Any]] | bytes | None = None, content_type: str = "multipart/form-data",
             headers: dict[str, str] | None = None, **params: Any) -> Callable[[], TestResponse]:
        """One request, ready to send: `template` filled with `params`, as `who` (None: anonymous). `data` is a raw
        body (of `content_type`), or makes a fresh multipart form for each send."""
        path = template.format(**params)
        sent = {**(headers or {})}
        if who is not None:
            sent["Authorization"] = f"Bearer {self.tokens[who]}"
        if key is not None:
            sent[HEADER] = key

        def send() -> TestResponse:
            client = self.app.test_client()
            if data is not None:
                return client.open(path, method=method, headers=sent, content_type=content_type,
                                   data=data if isinstance(data, bytes) else data())
            return client.open(path, method=method, headers=sent, json=json)

        return send

    def eight(self, who: str | None, method: str, template: str, *, same_key: bool = False,
              hold: tuple[str, ...] | None = None, **kwargs: Any) -> list[TestResponse]:
        """AT_ONCE identical calls at once (`race`, holding `hold`): each with its own Idempotency-Key where the
        operation honours the header (or all with one key, `same_key`), without one otherwise."""
        if same_key:
            assert self.honours_key(method, template), f"{method} {template} does not honour {HEADER}"
            shared = uuid.uuid4().hex
            keys = [shared] * AT_ONCE
        elif self.honours_key(method, template):
            keys = [uuid.uuid4().hex for _ in range(AT_ONCE)]
        else:
            keys = [None] * AT_ONCE
        return self.race([self.call(who, method, template, key=key, **kwargs) for key in keys], hold)

    def callback(self, body: dict[str, Any], bank_code: str = "RACE") -> Callable[[], TestResponse]:
        """A callback from the bank's system, signed when it is sent (the timestamp must be fresh)."""
        raw = jsonlib.dumps(body).encode()
        secret = self.callback_secrets[bank_code]

        def send() -> TestResponse:
            stamp = str(int(time.time()))
            return self.app.test_client().post(
                f"/api/v1/bank-callbacks/{bank_code}", data=raw, content_type="application/json",
                headers={"X-Timestamp": stamp, "X-Signature": sign(secret, stamp, raw)})

        return send

    @contextmanager
    def holding(self, table: str, *row_ids: int) -> Iterator[Holding]:
        """Hold the rows of `table` (SELECT … FOR UPDATE) while the block sends calls; release them at the end."""
        engine = db.engine_of(self.app)
        with ThreadPoolExecutor(max_workers=2 * AT_ONCE) as pool, engine.connect() as holder, \
                engine.connect().execution_options(isolation_level="AUTOCOMMIT") as probe:
            locked = holder.scalars(text(f"SELECT id FROM {table} WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"),
                                    {"ids": list(row_ids)}).all()
            assert sorted(locked) == sorted(row_ids), f"no {table} {sorted(set(row_ids) - set(locked))}"
            holding = Holding(pool, probe)
            try:
                yield holding
            finally:
                holder.rollback()
                for future in holding.sent:
                    future.exception()  # wait for every call before the pool and connections go

    def race(self, calls: list[Callable[[], Any]], hold: tuple[str, ...] | None = None) -> list[Any]:
        """The calls at once (`at_once`), or, to `hold` rows (table, id, …), sent while they are held (`holding`)."""
        if hold is None:
            return at_once(calls)
        with self.holding(*hold) as holding:
            futures = holding.send(calls)
        return [future.result() for future in futures]

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """The session of an app context of its own, to count what the races left."""
        with self.app.app_context():
            yield db.session


# Building it ------------------------------------------------------------------------------------------------

_FAST_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")


def _agreement(agency_id: int, bank_id: int, code: str, **terms: Any) -> int:
    today = business_today()
    pending = terms.pop("pending", False)
    shares = terms.pop("shares", {"agency": "0.80", "bank": "0.20", "reguarantee": "0", "risk_pool": "0"})
    agreement = create_agreement(agency_id, {
        "code": code, "bank_id": bank_id, "valid_from": today - dt.timedelta(days=1),
        "valid_to": today + dt.timedelta(days=365), "total_quota": AMOUNT * 1000, "per_enterprise_cap": AMOUNT * 1000,
        "per_loan_cap": AMOUNT * 5, "fee_rate": Decimal("0.0100"),
        "shares": {name: Decimal(value) for name, value in shares.items()}, "reguarantor_id": None,
        "risk_pool_id": None, "compensation_cap_rate": Decimal("0.50"), "eligible_tiers": [Tier.SRDI],
        "eligible_product_types": [ProductType.CREDIT], "batch_max_size": 500, "auto_approve_below": None,
        "review_sla_days": None, **terms})
    if not pending:
        change_status(agreement, AgreementStatus.ACTIVE)
    return agreement.id


def _product(bank_id: int, name: str, *, guarantee: GuaranteeNeed = GuaranteeNeed.NONE, status: ProductStatus,
             amount_min: Decimal = Decimal("100000.00"), amount_max: Decimal = AMOUNT * 5) -> int:
    product = create_product(bank_id, {
        "name": name, "product_type": ProductType.CREDIT, "amount_min": amount_min, "amount_max": amount_max,
        "term_min_months": 6, "term_max_months": 36, "rate_spread_bp": 30, "eligible_tiers": [Tier.SRDI],
        "eligible_regions": [], "guarantee": guarantee, "description": ""})
    if status is not ProductStatus.DRAFT:
        change_product_status(product, ProductStatus.PUBLISHED)
    return product.id


class _Builder:
    """The steps of the build, sharing the world's people (ORM users of the build's one session)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.today = business_today()

    def people(self) -> None:
        w = self.world
        set_rates(dt.date(2025, 9, 22), Decimal("0.0300"), Decimal("0.0350"))
        bank = create_bank("Race Bank", "RACE")
        sysbank = create_bank("Race Systems Bank", "RACESYS", "https://race-systems.example/api")
        newcomer = create_bank("Race Newcomer Bank", "RACENEW")
        system_user(bank)  # as after its system's first callback
        agency = create_agency("Race Agency", "RAG", AgencyKind.LOCAL)
        self.provincial = create_agency("Race Re-guarantor", "RPROV", AgencyKind.PROVINCIAL)
        enterprises = []
        for n, region in ((1, "330106"), (2, "330106"), (3, "330203")):
            enterprise = create_enterprise(
                name=f"Race Enterprise {n}", uscc=new_uscc(n), region_code=region, industry_code="C3811",
                size=EnterpriseSize.SMALL, annual_revenue=Decimal("50000000.00"), rd_expense=Decimal("4000000.00"),
                employees=120)
            certify(enterprise.uscc, Tier.SRDI, dt.date(2099, 12, 31))
            enterprises.append(enterprise)
        w.bank = bank.id
        w.callback_secrets = {bank.code: bank.callback_secret, newcomer.code: newcomer.callback_secret}
        self.newcomer = newcomer.id
        w.sysbank, w.agency = sysbank.id, agency.id
        w.enterprise, w.tier_enterprise = enterprises[0].id, enterprises[1].id
        self.users = {}
        for who, role, organization in (("admin", Role.ADMIN, None), ("bank", Role.BANK, bank.id),
                                        ("sysbank", Role.BANK, sysbank.id), ("agency", Role.AGENCY, agency.id),
                                        ("enterprise", Role.ENTERPRISE, enterprises[0].id),
                                        ("subsidised", Role.ENTERPRISE, enterprises[2].id)):
            user = User(username=f"race.{who}", password_hash=_FAST_HASH, role=role, organization_id=organization)
            db.session.add(user)
            self.users[who] = user
        # Issue 21: RACE's administrator, and a user of RACE's who changes their own password.
        for who, org_admin in (("bankadmin", True), ("changer", False)):
            user = User(username=f"race.{who}", password_hash=_FAST_HASH, role=Role.BANK, organization_id=bank.id,
                        org_admin=org_admin)
            db.session.add(user)
            self.users[who] = user
        signer = User(username="race.signer", password_hash=_FAST_HASH, role=Role.ENTERPRISE,
                      organization_id=enterprises[1].id)
        db.session.add(signer)
        members = {name: User(username=f"race.member.{name}", password_hash=_FAST_HASH, role=Role.BANK,
                              organization_id=bank.id, active=name != "enable_8")
                   for name in ("disable_8", "enable_8", "toggle", "reset_8")}
        db.session.add_all(members.values())
        db.session.flush()
        w.signer = signer.username
        w.users = {who: user.id for who, user in self.users.items()}
        w.members = {name: user.id for name, user in members.items()}
        for who, user in self.users.items():
            w.tokens[who] = issue_token(user, 8 * 3600)[0]
        w.tokens["leaver"], leaver = issue_token(self.users["enterprise"], 8 * 3600)
        w.leaver_token = leaver.id
        issue_token(members["disable_8"], 8 * 3600)  # disabling them revokes it
        db.session.commit()

    def schemes(self) -> None:
        w = self.world
        for name in ("funded", "empty", "deposit_same", "deposit_each"):
            w.pools[name] = create_risk_pool({"name": f"Race pool {name}", "region_code": "33",
                                              "cap_per_loss": None}).id
        deposit(w.pools["funded"], self.users["admin"], AMOUNT * 10, self.today, "race-seed")
        w.agreements["main"] = _agreement(w.agency, w.bank, "RACE-MAIN")
        w.agreements["loss"] = _agreement(
            w.agency, w.bank, "RACE-LOSS", compensation_cap_rate=Decimal("1"),
            shares={"agency": "0.40", "bank": "0.20", "reguarantee": "0.20", "risk_pool": "0.20"},
            reguarantor_id=self.provincial.id, risk_pool_id=w.pools["funded"])
        w.agreements["pool"] = _agreement(
            w.agency, w.bank, "RACE-POOL", compensation_cap_rate=Decimal("1"),
            shares={"agency": "0.60", "bank": "0.20", "reguarantee": "0", "risk_pool": "0.20"},
            risk_pool_id=w.pools["empty"])
        w.agreements["sla"] = _agreement(w.agency, w.bank, "RACE-SLA")
        w.products["guaranteed"] = _product(w.bank, "Race guaranteed loan", guarantee=GuaranteeNeed.REQUIRED,
                                            status=ProductStatus.PUBLISHED)
        w.products["plain"] = _product(w.bank, "Race plain loan", status=ProductStatus.PUBLISHED)
        w.products["newcomer"] = _product(self.newcomer, "Race newcomer loan", status=ProductStatus.PUBLISHED)
        # 降费奖补 for the enterprises of region 3302 only: 50 bp off the fee, half of it made up by the fiscal fund.
        in_3302 = {"tiers": [], "region_prefixes": ["3302"], "product_types": [], "amount_max": None,
                   "first_loan": None}
        create_rule({"name": "Race 3302 reduction", "priority": 1, "stackable": True, "valid_from": dt.date(2025, 1, 1),
                     "valid_to": None, "budget": None, "conditions": in_3302,
                     "effect": {"kind": "reduce_fee_rate_bp", "value": Decimal("50")}})
        w.subsidy_rule = create_rule({
            "name": "Race 3302 subsidy", "priority": 2, "stackable": True, "valid_from": dt.date(2025, 1, 1),
            "valid_to": None, "budget": AMOUNT, "conditions": in_3302,
            "effect": {"kind": "fiscal_subsidy_share", "value": Decimal("0.5")}}).id
        db.session.commit()

    # Financing ----------------------------------------------------------------------------------------------

    def ask(self, who: str = "enterprise") -> Any:
        return create_request(self.users[who], {
            "amount": AMOUNT, "term_months": TERM_MONTHS, "purpose": "race", "accept_guarantee": True,
            "product_types": None})

    def route(self, agreement: str | None, who: str = "enterprise", product: str = "plain") -> Application:
        """A request of `who`'s routed on the guaranteed product under `agreement` (on `product`, without one)."""
        w = self.world
        request = self.ask(who)
        product_id = w.products["guaranteed" if agreement is not None else product]
        wanted = None if agreement is None else w.agreements[agreement]
        offer = next(o for o in request.offers if o.product_id == product_id and o.agreement_id == wanted)
        return select_offer(request, offer.id)

    def counter(self, agreement: str, who: str = "enterprise") -> Application:
        """A request of `who`'s under `agreement`, which the bank countered at the offer's spread + 200 bp."""
        application = self.route(agreement, who)
        decide(application, self.users["bank"], {"decision": "approved", "rate_spread_bp":
                                                 application.offer.rate_spread_bp + 200, "reason": "Sector risk"})
        return application

    def approve(self, agreement: str, count: int, who: str = "enterprise") -> list[Application]:
        approved = [self.route(agreement, who) for _ in range(count)]
        for application in approved:
            decide(application, self.users["bank"], {"decision": "approved"})
        return approved

    def open_batch(self, agreement: str) -> Batch:
        return db.session.scalar(select(Batch).where(Batch.agreement_id == self.world.agreements[agreement],
                                                     Batch.status == BatchStatus.OPEN))

    def submitted_batch(self, agreement: str, items: int) -> int:
        self.approve(agreement, items)
        return submit_batch(self.open_batch(agreement)).id

    def loans(self, agreement: str, count: int, who: str = "enterprise") -> list[Loan]:
        """Approved guaranteed loans of `who`'s under `agreement`: approved by the bank, their batch decided by the
        agency."""
        applications = self.approve(agreement, count, who)
        decide_batch(submit_batch(self.open_batch(agreement)), self.users["agency"], [])
        ids = [a.id for a in applications]
        return list(db.session.scalars(select(Loan).where(Loan.application_id.in_(ids)).order_by(Loan.id)))

    def event(self, loan: Loan, kind: LoanEventType, amount: Decimal | None = None) -> None:
        record_event(loan, self.users["bank"], kind, amount, self.today)

    def financing(self) -> None:
        w = self.world
        names = ("disburse_8", "disburse_same_key", "callback", "repay", "overdue_8")
        main = self.loans("main", len(names))
        w.loans.update({name: loan.id for name, loan in zip(names, main, strict=True)})
        for name in ("repay", "overdue_8"):
            self.event(db.session.get(Loan, w.loans[name]), LoanEventType.DISBURSED)
            w.entries[name] = db.session.scalar(select(JournalEntry.id).where(
                JournalEntry.idempotency_key == f"loan:{w.loans[name]}:fee"))
        w.applications["loan_callback"] = db.session.get(Loan, w.loans["callback"]).application_id
        w.subsidised_loans = [loan.id for loan in self.loans("main", 4, who="subsidised")]
        for name in ("decide_8", "decide_same_key", "exclude_or_approve"):
            w.batches[name] = self.submitted_batch("main", 2)
        self.approve("main", 1)
        w.batches["open"] = self.open_batch("main").id
        w.applications["decide_8"] = self.route("main").id
        w.applications["withdraw_8"] = self.route("main").id
        w.applications["callback"] = self.route(None).id
        w.applications["newcomer"] = self.route(None, product="newcomer").id
        w.contested = [self.route("main").id for _ in range(4)]
        w.applications["accept_8"], w.applications["decline_8"], *w.countered = (
            self.counter("main").id for _ in range(6))
        request = self.ask()
        w.open_request = request.id
        w.open_offer = next(o.id for o in request.offers if o.agreement_id == w.agreements["main"])
        db.session.commit()

        default_8, recover = self.loans("loss", 2)
        w.loans.update(default_8=default_8.id, recover=recover.id)
        for loan in (default_8, recover):
            self.event(loan, LoanEventType.DISBURSED)
            self.event(loan, LoanEventType.OVERDUE)
        self.event(recover, LoanEventType.DEFAULT)
        for loan in self.loans("pool", 4):
            self.event(loan, LoanEventType.DISBURSED)
            self.event(loan, LoanEventType.OVERDUE)
            w.pool_loans.append(loan.id)
        w.sla_batches = [self.submitted_batch("sla", 2) for _ in range(3)]
        db.session.commit()

    def claims_and_renewals(self) -> None:
        """Issue 20: claims filed under `review` (its loans disbursed, overdue and defaulted today), two of them
        refused; and loans to renew, each with the approved loan that renews it. The evidence's files go to a
        folder of the run's own."""
        w = self.world
        w.app.config["FILES_DIR"] = tempfile.mkdtemp(prefix="race-claims-")
        w.agreements["review"] = _agreement(w.agency, w.bank, "RACE-REVIEW", claim_mode=ClaimMode.REVIEW)
        made = self.loans("review", 17)  # fourteen to default, three to renew
        loans, old = made[:14], made[14:]
        for loan in loans:
            for kind in (LoanEventType.DISBURSED, LoanEventType.OVERDUE, LoanEventType.DEFAULT):
                self.event(loan, kind)
        filed = dict(db.session.execute(select(Claim.loan_id, Claim.id).where(
            Claim.loan_id.in_([loan.id for loan in loans]))).all())
        claims = [filed[loan.id] for loan in loans]
        w.claims = dict(zip(("pay_8", "pay_same_key", "documents_8", "documents_mix"), claims[:4], strict=True))
        w.spread_claims, w.contested_claims = claims[4:8], claims[8:12]
        for name, loan in zip(("refile_8", "refile_mix"), loans[12:], strict=True):
            decide_claim(db.session.get(Claim, filed[loan.id]), self.users["agency"], "reject", "Race: no evidence")
            w.refused[name] = loan.id
        for loan in old:
            self.event(loan, LoanEventType.DISBURSED)
        new = [self.route(None) for _ in range(2)]
        for application in new:
            decide(application, self.users["bank"], {"decision": "approved"})
        renewing = [db.session.scalar(select(Loan.id).where(Loan.application_id == a.id)) for a in new]
        w.renewals = {"renew_8": [old[0].id, renewing[0]], "renew_two": [old[1].id, old[2].id, renewing[1]]}
        db.session.commit()

    def moved_by_the_cases(self) -> None:
        """The agreements and products the status cases move: made last, so that no request's offers name them,
        and the products priced out of every request's range (20 to 30 million)."""
        w = self.world
        returned = ("resubmit_8", "resubmit_mix", "terminate_8")
        for name in ("pending_8", "pending_mix", "return_8", "return_mix", *returned):
            w.agreements[name] = _agreement(w.agency, w.bank, f"RACE-{name.upper().replace('_', '-')}", pending=True)
        for name in returned:
            return_agreement(db.session.get(Agreement, w.agreements[name]), "Race: the fee is too high.")
        for name in ("active_8", "active_mix", "suspended_8"):
            w.agreements[name] = _agreement(w.agency, w.bank, f"RACE-{name.upper().replace('_', '-')}")
        change_status(db.session.get(Agreement, w.agreements["suspended_8"]),
                      AgreementStatus.SUSPENDED)
        out_of_reach = {"amount_min": AMOUNT * 20, "amount_max": AMOUNT * 30}
        for name in ("draft_8", "draft_mix", "draft_patch", "draft_delete", "draft_delete_mix",
                     "draft_delete_edit"):
            w.products[name] = _product(w.bank, f"Race {name}", status=ProductStatus.DRAFT, **out_of_reach)
        for name in ("published_suspend", "published_archive", "published_patch"):
            w.products[name] = _product(w.bank, f"Race {name}", status=ProductStatus.PUBLISHED, **out_of_reach)
        message = OutboxMessage(bank_id=w.sysbank, topic="application.submitted", idempotency_key="race-dead",
                                path="/applications", payload={}, status=MessageStatus.DEAD, attempts=8,
                                dead_at=db.utcnow(), last_error="HTTP 400: refused")
        db.session.add(message)
        db.session.commit()
        w.dead_message = message.id


def build_world(app: Flask) -> World:
    """The world, committed in the app's (empty, migrated) database."""
    world = World(app, document=app.test_client().get("/api/v1/openapi.json").json)
    with app.app_context():
        builder = _Builder(world)
        builder.people()
        builder.schemes()
        builder.financing()
        builder.claims_and_renewals()
        builder.moved_by_the_cases()
    rule = app.test_client().post("/api/v1/fee-rules", headers={"Authorization": f"Bearer {world.tokens['admin']}"},
                                  json=fee_rule("Race rule to edit"))
    assert rule.status_code == 201, rule.json
    world.fee_rule = rule.json["id"]
    return world


def fee_rule(name: str) -> dict[str, Any]:
    """A rule that comes into force long after every case (so it prices none of the world's offers)."""
    return {"name": name, "priority": 10, "stackable": True, "valid_from": "2090-01-01",
            "conditions": {"tiers": ["srdi"]}, "effect": {"kind": "cap_fee_rate", "value": "0.0050"}}


def tier_list(*usccs: str) -> bytes:
    return ("uscc,tier,valid_until\n" + "".join(f"{code},srdi,2099-12-31\n" for code in usccs)).encode()


def multipart(field_name: str, filename: str, content: bytes, boundary: str = "RaceBoundary7MA4YWxk") -> bytes:
    """One file as a multipart/form-data body with a fixed boundary: a retry sends the very same bytes."""
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field_name}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()


def product_sheet(name: str) -> bytes:
    """A one-product XLSX in the import template's columns."""
    book = openpyxl.Workbook()
    book.active.append(["name", "product_type", "amount_min", "amount_max", "term_min_months", "term_max_months",
                        "rate_spread_bp", "eligible_tiers"])
    book.active.append([name, "credit", "20000000.00", "30000000.00", 6, 24, 25, "srdi"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
