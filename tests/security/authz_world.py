
"""The world of the authorization matrix (issue 7): every kind of object the API and the pages address, each owned
by the FIRST tenant of its kind (bank, agency, enterprise), beside a second tenant of each kind who must not reach
them.

The bank and agency actors (first and second tenants alike) are their organisations' administrators (issue 21,
User.org_admin), so each holds the most its role may hold: the first tenants manage their own organisation's users,
and the second tenants are the administrators of ANOTHER organisation, who must get 404 for the first's. The users
they manage in the cells are not actors (MatrixWorld.officer, .former): disabling or resetting one, or an actor
changing their own password, touches no actor's sign-in, and is rolled back with the rest of the cell.

The world is built once per run, through the API as its users would, in a database of its own (like the
concurrency tests' databases); every cell of the matrix then runs inside a transaction on one connection that is
rolled back afterwards, so a cell that publishes, withdraws or revokes changes nothing for the next one.
"""

from __future__ import annotations

import datetime as dt
import io
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import openpyxl
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from stdnum.cn import uscc
from werkzeug.security import generate_password_hash

from marketplace import db
from marketplace.auth.models import Role, User
from marketplace.dates import business_today
from marketplace.fees.models import SubsidySettlement
from marketplace.lpr.services import set_rates
from marketplace.orgs.models import AgencyKind, Bank, EnterpriseSize, Tier
from marketplace.orgs.services import certify, create_agency, create_bank, create_enterprise
from marketplace.outbox import MessageStatus, OutboxMessage
from tests.pages import PASSWORD, csrf_token

#: Who knocks, in the order of the matrix's columns.
ACTORS = ("anonymous", "admin", "bank", "bank2", "agency", "agency2", "enterprise", "enterprise2")
#: The organisation each signed-in actor belongs to (the admin belongs to none).
ORGANISATION = {"bank": "bank", "bank2": "bank2", "agency": "agency", "agency2": "agency2",
                "enterprise": "enterprise", "enterprise2": "enterprise2"}
ROLE = {"admin": Role.ADMIN, "bank": Role.BANK, "bank2": Role.BANK, "agency": Role.AGENCY, "agency2": Role.AGENCY,
        "enterprise": Role.ENTERPRISE, "enterprise2": Role.ENTERPRISE}
#: The second tenant of each kind, who must never read the first tenants' objects.
SECOND_TENANTS = ("bank2", "agency2", "enterprise2")
#: The actors who administer their organisation's users (issue 21): only banks and agencies have administrators.
ORG_ADMINS = ("bank", "bank2", "agency", "agency2")
#: A password that passes the strength rules, for users and enterprises the cells create.
STRONG_PASSWORD = "Lantern-river-47-maple"
BANK_SYSTEM_URL = "https://bank-one.example/api"

PLAIN_PRODUCT = {"name": "Matrix plain credit", "product_type": "credit", "amount_min": "100000.00",
                 "amount_max": "5000000.00", "term_min_months": 6, "term_max_months": 36, "rate_spread_bp": 30,
                 "eligible_tiers": ["srdi", "little_giant"], "guarantee": "none"}
GUARANTEED_PRODUCT = {**PLAIN_PRODUCT, "name": "Matrix guaranteed credit", "rate_spread_bp": 20,
                      "guarantee": "required"}
REQUEST = {"amount": "1000000.00", "term_months": 12, "purpose": "Working capital"}
#: What the first enterprise's requests say they are for: nobody but its banks and agency may read it.
FIRST_PURPOSE = "Matrix first enterprise: new CNC line"
FEE_RULE = {"name": "Matrix SRDI fee cap", "priority": 10, "stackable": True, "valid_from": "2025-01-01",
            "conditions": {"tiers": ["srdi", "little_giant"]}, "effect": {"kind": "cap_fee_rate", "value": "0.0050"}}


def agreement_body(code: str, bank_id: int) -> dict[str, Any]:
    today = business_today()
    return {"code": code, "bank_id": bank_id, "valid_from": today.isoformat(),
            "valid_to": (today + dt.timedelta(days=365)).isoformat(), "total_quota": "50000000.00",
            "per_enterprise_cap": "20000000.00", "per_loan_cap": "5000000.00", "fee_rate": "0.0100",
            "shares": {"agency": "0.80", "bank": "0.20", "reguarantee": "0", "risk_pool": "0"},
            "compensation_cap_rate": "0.05", "eligible_tiers": ["srdi", "little_giant"],
            "eligible_product_types": ["credit"]}


def agreement_terms(bank_id: int) -> dict[str, Any]:
    """A returned agreement's terms, amended, as its resubmission sends them (all but its code and bank)."""
    body = agreement_body("", bank_id)
    return {**{name: value for name, value in body.items() if name not in ("code", "bank_id")}, "fee_rate": "0.0080"}


def new_uscc(n: int) -> str:
    base = f"91330106MX{n:07d}"
    return base + uscc.calc_check_digit(base)


def tier_list_csv(*usccs: str) -> bytes:
    return ("uscc,tier,valid_until\n" + "".join(f"{code},srdi,2099-12-31\n" for code in usccs)).encode()


@dataclass
class Browser:
    """What a signed-in (or anonymous) browser holds: its session cookie and the CSRF token of that session."""

    cookie: str
    csrf: str


@dataclass
class MatrixWorld:
    app: Flask
    #: Organisations: bank, bank2, agency, agency2, enterprise, enterprise2 → id.
    org: dict[str, int] = field(default_factory=dict)
    #: Actor → user name and bearer token.
    usernames: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    browsers: dict[str, Browser] = field(default_factory=dict)
    #: Account ids each organisation owns (for checking that a party reads only its own postings).
    accounts_of: dict[str, set[int]] = field(default_factory=dict)
    account_codes_of: dict[str, set[str]] = field(default_factory=dict)
    #: Agreement ids each agency proposed.
    agreements_of: dict[str, set[int]] = field(default_factory=dict)
    bank_code: str = ""
    bank_secret: str = ""
    enterprise_uscc: str = ""
    # The objects, all the first tenant's (ids).
    product: int = 0  # published, no guarantee
    guaranteed_product: int = 0  # published, guarantee required
    draft: int = 0  # a draft
    product2: int = 0  # bank2's, published
    pool: int = 0
    rule: int = 0
    tier_import: int = 0
    agreement: int = 0  # agency → bank, active
    pending: int = 0  # agency → bank, waiting for the bank's countersignature
    suspended: int = 0  # agency → bank, suspended
    returned: int = 0  # agency → bank, returned by the bank with a reason
    agreement2: int = 0  # agency2 → bank2, active
    request: int = 0  # the enterprise's open request
    offer: int = 0  # an offer of that request (bank's plain product)
    request2: int = 0  # enterprise2's open request
    application: int = 0  # submitted to bank, no guarantee
    guaranteed_application: int = 0  # approved by bank under `agreement`, in batch_submitted (the agency sees it)
    countered: int = 0  # the enterprise's application, which bank countered at a higher spread
    notification: int = 0  # one of bank's user's notifications
    #: Application ids each agency was asked to guarantee (what its application list may hold).
    applications_of: dict[str, set[int]] = field(default_factory=dict)
    loan: int = 0  # bank's loan to the enterprise, no guarantee, approved (not yet disbursed)
    guaranteed_loan: int = 0  # guaranteed by `agreement`, disbursed (its fee is in the ledger)
    batch_decided: int = 0
    batch_submitted: int = 0
    batch_open: int = 0
    fee_entry: int = 0  # the journal entry of the guaranteed loan's fee
    agency_account: int = 0  # the agency's fee-income account
    enterprise_account: int = 0  # the enterprise's fee account
    message: int = 0  # a dead outbox message to bank's system
    # Compensation claims (issue 20): an agreement whose claims the agency reviews, and a loan that defaulted under it.
    review_agreement: int = 0  # agency → bank, active, claim_mode review ("MX-REVIEW")
    claim: int = 0  # filed when that loan defaulted
    claim_document: int = 0  # the bank's evidence on it
    refused_claim_loan: int = 0  # another loan defaulted under `review_agreement`, its claim refused: may file again
    # Users the organisations' administrators manage (issue 21), none of them an actor: "bank", "agency" → user id.
    officer: dict[str, int] = field(default_factory=dict)  # active, with the temporary password they were added with
    former: dict[str, int] = field(default_factory=dict)  # disabled

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def private_marks(self) -> list[str]:
        """Words only the first tenants (and the admin) may ever read: the bank's draft, the agency's agreement
        codes, the enterprise's name, USCC and what it borrows for. No answer to a second tenant may hold them."""
        return ["Matrix draft", "MX-ACTIVE", "MX-PENDING", "MX-SUSPENDED", "MX-RETURNED", "MX-REVIEW",
                "Matrix Enterprise 1", self.enterprise_uscc, FIRST_PURPOSE]


class _Api:
    """Calls the API during the build, asserting each call does what the build needs."""

    def __init__(self, world: MatrixWorld) -> None:
        self.world = world
        self.client = world.client()

    def __call__(self, who: str, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.world.tokens[who]}", **kwargs.pop("headers", {})}
        response = self.client.open(path, method=method, headers=headers, **kwargs)
        assert response.status_code == expect, (who, method, path, response.status_code, response.get_data(True))
        return response.json


def _organisations_and_users(world: MatrixWorld) -> None:
    fast_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    with world.app.app_context():
        bank = create_bank("Matrix Bank One", "MXBANK1", BANK_SYSTEM_URL)
        bank2 = create_bank("Matrix Bank Two", "MXBANK2")
        create_bank("Sandbox Bank", "SANDBOX")  # the demo's sandbox bank answers POST /sandbox-bank/applications
        agency = create_agency("Matrix Agency One", "MXAG1", AgencyKind.LOCAL)
        agency2 = create_agency("Matrix Agency Two", "MXAG2", AgencyKind.LOCAL)
        enterprises = []
        for n in (1, 2):
            enterprise = create_enterprise(
                name=f"Matrix Enterprise {n}", uscc=new_uscc(n), region_code="330106", industry_code="C3811",
                size=EnterpriseSize.SMALL, annual_revenue=Decimal("50000000.00"), rd_expense=Decimal("4000000.00"),
                employees=120)
            certify(enterprise.uscc, Tier.SRDI, dt.date(2099, 12, 31))
            enterprises.append(enterprise)
        set_rates(dt.date(2025, 9, 22), Decimal("0.0300"), Decimal("0.0350"))
        world.org = {"bank": bank.id, "bank2": bank2.id, "agency": agency.id, "agency2": agency2.id,
                     "enterprise": enterprises[0].id, "enterprise2": enterprises[1].id}
        world.bank_code, world.bank_secret = bank.code, bank.callback_secret
        world.enterprise_uscc = enterprises[0].uscc
        for actor, role in ROLE.items():
            username = f"matrix-{actor}"
            db.session.add(User(username=username, password_hash=fast_hash, role=role,
                                organization_id=world.org.get(ORGANISATION.get(actor, "")),
                                org_admin=actor in ORG_ADMINS))
            world.usernames[actor] = username
        db.session.commit()
    client = world.client()
    for actor, username in world.usernames.items():
        response = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.json
        world.tokens[actor] = response.json["access_token"]


def _catalogue_and_schemes(world: MatrixWorld, api: _Api) -> None:
    world.pool = api("admin", "POST", "/api/v1/risk-pools", 201,
                     json={"name": "Matrix pool", "region_code": "33"})["id"]
    api("admin", "POST", f"/api/v1/risk-pools/{world.pool}/deposits", 201, json={"amount": "1000000.00"})
    world.rule = api("admin", "POST", "/api/v1/fee-rules", 201, json=FEE_RULE)["id"]
    world.tier_import = api("admin", "POST", "/api/v1/tier-registry/imports", 202, content_type="multipart/form-data",
                            data={"file": (io.BytesIO(tier_list_csv(world.enterprise_uscc)), "list.csv")})["id"]

    def product(who: str, body: dict[str, Any], publish: bool = True) -> int:
        made = api(who, "POST", "/api/v1/products", 201, json=body)["id"]
        if publish:
            api(who, "POST", f"/api/v1/products/{made}/publish")
        return made

    world.product = product("bank", PLAIN_PRODUCT)
    world.guaranteed_product = product("bank", GUARANTEED_PRODUCT)
    world.draft = product("bank", {**PLAIN_PRODUCT, "name": "Matrix draft"}, publish=False)
    world.product2 = product("bank2", {**PLAIN_PRODUCT, "name": "Matrix bank two credit"})

    def agreement(who: str, code: str, bank: str) -> int:
        made = api(who, "POST", "/api/v1/agreements", 201, json=agreement_body(code, world.org[bank]))["id"]
        world.agreements_of.setdefault(who, set()).add(made)
        return made

    world.agreement = agreement("agency", "MX-ACTIVE", "bank")
    world.pending = agreement("agency", "MX-PENDING", "bank")
    world.suspended = agreement("agency", "MX-SUSPENDED", "bank")
    world.returned = agreement("agency", "MX-RETURNED", "bank")
    api("bank", "POST", f"/api/v1/agreements/{world.returned}/return", json={"reason": "Matrix: fee too high"})
    world.agreement2 = agreement("agency2", "MX-AGENCY2", "bank2")
    for made, bank in ((world.agreement, "bank"), (world.suspended, "bank"), (world.agreement2, "bank2")):
        api(bank, "POST", f"/api/v1/agreements/{made}/countersign")
    api("agency", "POST", f"/api/v1/agreements/{world.suspended}/suspend")


def _financing(world: MatrixWorld, api: _Api) -> None:
    today = business_today().isoformat()

    def ask(who: str = "enterprise") -> dict[str, Any]:
        purpose = FIRST_PURPOSE if who == "enterprise" else "Matrix second enterprise: stock"
        return api(who, "POST", "/api/v1/financing-requests", 201, json={**REQUEST, "purpose": purpose})

    def routed(product_id: int) -> int:
        """A request routed to `product_id`'s offer → the application's id."""
        request = ask()
        offer = next(o for o in request["offers"] if o["product_id"] == product_id)
        selected = api("enterprise", "POST", f"/api/v1/financing-requests/{request['id']}/select",
                       json={"offer_id": offer["id"]})
        return selected["application"]["id"]

    def approved(product_id: int) -> dict[str, Any]:
        return api("bank", "POST", f"/api/v1/applications/{routed(product_id)}/decision",
                   json={"decision": "approved"})

    def open_batch() -> int:
        (batch,) = api("agency", "GET", f"/api/v1/batches?status=open&agreement_id={world.agreement}")
        return batch["id"]

    # A guaranteed loan: approved, its batch submitted and decided, then disbursed (the fee reaches the ledger).
    approved(world.guaranteed_product)
    world.batch_decided = open_batch()
    api("agency", "POST", f"/api/v1/batches/{world.batch_decided}/submit")
    decided = api("agency", "POST", f"/api/v1/batches/{world.batch_decided}/decision", json={"exclusions": []})
    world.guaranteed_loan = decided["items"][0]["loan_id"]
    api("bank", "POST", f"/api/v1/loans/{world.guaranteed_loan}/events", 201,
        json={"type": "disbursed", "occurred_on": today})
    # A batch submitted for review, and a batch still open.
    world.guaranteed_application = approved(world.guaranteed_product)["id"]
    world.batch_submitted = open_batch()
    api("agency", "POST", f"/api/v1/batches/{world.batch_submitted}/submit")
    approved(world.guaranteed_product)
    world.batch_open = open_batch()
    # A loan without a guarantee, an application waiting for the bank, an open request, enterprise2's request.
    world.loan = approved(world.product)["loan_id"]
    world.application = routed(world.product)
    world.countered = routed(world.product)
    api("bank", "POST", f"/api/v1/applications/{world.countered}/decision",
        json={"decision": "approved", "rate_spread_bp": 300, "reason": "Matrix counter"})
    world.notification = api("bank", "GET", "/api/v1/notifications")[0]["id"]
    for agency in ("agency", "agency2"):
        world.applications_of[agency] = {a["id"] for a in api(agency, "GET", "/api/v1/applications")}
    assert world.guaranteed_application in world.applications_of["agency"]
    assert world.applications_of["agency2"] == set()
    request = ask()
    world.request = request["id"]
    world.offer = next(o["id"] for o in request["offers"] if o["product_id"] == world.product)
    world.request2 = ask("enterprise2")["id"]


def _ledger_outbox_and_settlements(world: MatrixWorld, api: _Api) -> None:
    (entry,) = api("admin", "GET", f"/api/v1/ledger/journal?ref=loan:{world.guaranteed_loan}")
    world.fee_entry = entry["id"]
    parties = {("bank", "bank"), ("bank", "bank2"), ("agency", "agency"), ("agency", "agency2"),
               ("reguarantor", "agency"), ("reguarantor", "agency2"), ("enterprise", "enterprise"),
               ("enterprise", "enterprise2")}
    for account in api("admin", "GET", "/api/v1/ledger/trial-balance")["accounts"]:
        for party, owner in parties:
            if account["party"] == party and account["party_id"] == world.org[owner]:
                world.accounts_of.setdefault(owner, set()).add(account["id"])
                world.account_codes_of.setdefault(owner, set()).add(account["code"])
                if owner == "agency" and account["purpose"] == "fee_income":
                    world.agency_account = account["id"]
                if owner == "enterprise" and account["purpose"] == "fee":
                    world.enterprise_account = account["id"]
    assert world.agency_account and world.enterprise_account, "the guaranteed loan's fee posted no accounts"
    with world.app.app_context():
        message = db.session.scalars(select(OutboxMessage).where(OutboxMessage.bank_id == world.org["bank"])
                                     .order_by(OutboxMessage.id)).first()
        message.status, message.dead_at, message.last_error = MessageStatus.DEAD, db.utcnow(), "HTTP 400: refused"
        world.message = message.id
        for agency in ("agency", "agency2"):
            db.session.add(SubsidySettlement(agency_id=world.org[agency], month="2025-12", entries=1,
                                             amount=Decimal("100.00")))
        assert db.session.get(Bank, world.org["bank"]).api_base_url == BANK_SYSTEM_URL
        db.session.commit()


def _browsers(world: MatrixWorld) -> None:
    """Sign each actor in through /login once; every page cell starts from a copy of that browser's cookie."""
    for actor in ACTORS:
        browser = world.client()
        token = csrf_token(browser.get("/login").text)
        if actor != "anonymous":
            signed_in = browser.post("/login", data={"username": world.usernames[actor], "password": PASSWORD,
                                                     "csrf_token": token})
            assert signed_in.status_code == 302, signed_in.text
            token = csrf_token(browser.get("/login").text)  # puts this session's CSRF secret in the cookie
        world.browsers[actor] = Browser(browser.get_cookie("session").value, token)


def _claims(world: MatrixWorld, api: _Api) -> None:
    """A claim filed on a loan that defaulted under `review_agreement`, with the bank's evidence: after the other
    financing (a second agreement for the guaranteed product would give its requests a second offer) and before the
    ledger's accounts are collected (the default posts to new accounts)."""
    world.app.config["FILES_DIR"] = tempfile.mkdtemp(prefix="matrix-claims-")  # the evidence's files, not instance/
    world.review_agreement = api("agency", "POST", "/api/v1/agreements", 201, json={
        **agreement_body("MX-REVIEW", world.org["bank"]), "claim_mode": "review", "claim_review_days": 10})["id"]
    world.agreements_of["agency"].add(world.review_agreement)
    api("bank", "POST", f"/api/v1/agreements/{world.review_agreement}/countersign")
    world.claim = _defaulted_under_review(world, api)["id"]
    world.claim_document = api("bank", "POST", f"/api/v1/claims/{world.claim}/documents", 201,
                               content_type="multipart/form-data",
                               data={"file": (io.BytesIO(b"%PDF-1.4\n%%EOF\n"), "matrix-evidence.pdf")})["id"]


def build_world(app: Flask) -> MatrixWorld:
    world = MatrixWorld(app)
    _organisations_and_users(world)
    api = _Api(world)
    _catalogue_and_schemes(world, api)
    _financing(world, api)
    _claims(world, api)
    _ledger_outbox_and_settlements(world, api)
    _browsers(world)
    _refused_claim(world, api)
    _managed_users(world, api)
    return world


def _managed_users(world: MatrixWorld, api: _Api) -> None:
    """The first bank's and agency's users that the cells disable, re-enable and reset: an officer, and a former
    officer already disabled. Added by the admin, last, so no notification or outbox message of the build is theirs."""
    for org in ("bank", "agency"):
        for name in ("officer", "former"):
            added = api("admin", "POST", f"/api/v1/organizations/{world.org[org]}/users", 201,
                        json={"username": f"matrix-{org}-{name}", "password": STRONG_PASSWORD})
            getattr(world, name)[org] = added["id"]
        api("admin", "POST", f"/api/v1/users/{world.former[org]}/disable")


def _refused_claim(world: MatrixWorld, api: _Api) -> None:
    """A second loan under `review_agreement` defaults and the agency refuses its claim, so the bank may file again
    (POST /loans/{id}/claims). Its default and fee post to accounts the first claim's loan already opened."""
    claim = _defaulted_under_review(world, api)
    world.refused_claim_loan = claim["loan_id"]
    api("agency", "POST", f"/api/v1/claims/{claim['id']}/decision",
        json={"decision": "reject", "reason": "Matrix: no collection effort shown"})


def _defaulted_under_review(world: MatrixWorld, api: _Api) -> dict[str, Any]:
    """The enterprise borrows under `review_agreement` (the bank approves, the agency clears the batch); the loan is
    disbursed, goes overdue and defaults today, which files a claim: → the claim, as the bank reads it."""
    today = business_today().isoformat()
    request = api("enterprise", "POST", "/api/v1/financing-requests", 201, json={**REQUEST, "purpose": FIRST_PURPOSE})
    offer = next(o for o in request["offers"] if o["agreement_id"] == world.review_agreement)
    application = api("enterprise", "POST", f"/api/v1/financing-requests/{request['id']}/select",
                      json={"offer_id": offer["id"]})["application"]["id"]
    api("bank", "POST", f"/api/v1/applications/{application}/decision", json={"decision": "approved"})
    world.applications_of["agency"].add(application)
    (batch,) = api("agency", "GET", f"/api/v1/batches?status=open&agreement_id={world.review_agreement}")
    api("agency", "POST", f"/api/v1/batches/{batch['id']}/submit")
    loan = api("agency", "POST", f"/api/v1/batches/{batch['id']}/decision", json={"exclusions": []})["items"][0]
    for kind in ("disbursed", "overdue", "default"):
        api("bank", "POST", f"/api/v1/loans/{loan['loan_id']}/events", 201, json={"type": kind, "occurred_on": today})
    (claim,) = [c for c in api("bank", "GET", "/api/v1/claims?status=filed") if c["loan_id"] == loan["loan_id"]]
    return claim


def product_sheet() -> bytes:
    """A one-product XLSX in the import template's columns."""
    book = openpyxl.Workbook()
    book.active.append(["name", "product_type", "amount_min", "amount_max", "term_min_months", "term_max_months",
                        "rate_spread_bp", "eligible_tiers"])
    book.active.append(["Matrix sheet loan", "credit", "500000.00", "3000000.00", 6, 24, 25, "srdi"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
