"""An agreement's statement: what it has guaranteed, earned in fees and subsidies, compensated and recovered, and
what its compensation cap still allows; with its CSV and XLSX downloads. It answers a question about the agreement,
so it lives with guarantees; the ledger's pages and API show it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Response
from flask_babel import gettext as _
from sqlalchemy import func, select

from guarantees.models import Agreement, Guarantee, LossAllocation, RecoveryAllocation
from marketplace import db, spreadsheets
from marketplace.caps import compensation_room

ZERO = Decimal("0.00")


def agreement_statement(agreement: Agreement) -> dict[str, Any]:
    """What an agreement has earned and paid: fees, subsidies, defaults, recoveries and the compensation cap."""
    fees = db.session.execute(select(
        func.count(Guarantee.id), func.coalesce(func.sum(Guarantee.list_fee), 0),
        func.coalesce(func.sum(Guarantee.fee_charged), 0), func.coalesce(func.sum(Guarantee.fiscal_subsidy), 0))
        .where(Guarantee.agreement_id == agreement.id, Guarantee.fee_charged.is_not(None))).one()
    defaults = db.session.scalars(select(LossAllocation).where(LossAllocation.agreement_id == agreement.id)
                                  .order_by(LossAllocation.id)).all()
    recoveries = db.session.scalars(select(RecoveryAllocation).where(RecoveryAllocation.agreement_id == agreement.id)
                                    .order_by(RecoveryAllocation.id)).all()
    money = Decimal  # sums come back as Decimal (Money) or 0
    return {
        "agreement_id": agreement.id, "code": agreement.code, "status": agreement.effective_status.value,
        "guaranteed_total": agreement.guaranteed_total, "compensated_total": agreement.compensated_total,
        "compensation_rate": agreement.compensation_rate, "compensation_cap_rate": agreement.compensation_cap_rate,
        "compensation_room": compensation_room(agreement.compensation_cap_rate, agreement.guaranteed_total,
                                               agreement.compensated_total),
        "loans_charged": fees[0], "list_fees": money(fees[1]), "fees_charged": money(fees[2]),
        "fiscal_subsidies": money(fees[3]), "agency_fee_income": money(fees[2]) + money(fees[3]),
        "defaults": [allocation_dict(d) for d in defaults],
        "recoveries": [recovery_dict(r) for r in recoveries],
    }


def allocation_dict(d: LossAllocation) -> dict[str, Any]:
    return {"loan_id": d.loan_id, "occurred_on": d.occurred_on, "loss": d.loss, "bank_borne": d.bank_borne,
            "beyond_cap": d.beyond_cap, "agency_compensation": d.agency_compensation, "agency_net": d.agency_net,
            "reguarantee": d.reguarantee, "risk_pool_paid": d.risk_pool_paid, "risk_pool_claim": d.risk_pool_claim}


def recovery_dict(r: RecoveryAllocation) -> dict[str, Any]:
    return {"loan_id": r.loan_id, "occurred_on": r.occurred_on, "amount": r.amount, "bank": r.bank,
            "agency": r.agency, "reguarantee": r.reguarantee, "risk_pool": r.risk_pool}


STATEMENT_FIGURES = ("guaranteed_total", "loans_charged", "list_fees", "fees_charged", "fiscal_subsidies",
                     "agency_fee_income", "compensated_total", "compensation_rate", "compensation_cap_rate",
                     "compensation_room")
DEFAULT_COLUMNS = ("loan_id", "occurred_on", "loss", "bank_borne", "beyond_cap", "agency_compensation", "agency_net",
                   "reguarantee", "risk_pool_paid", "risk_pool_claim")
RECOVERY_COLUMNS = ("loan_id", "occurred_on", "amount", "bank", "agency", "reguarantee", "risk_pool")


def statement_download(statement: dict[str, Any], fmt: str) -> Response:
    """An agreement's statement: in XLSX a sheet each for the figures, the defaults and the recoveries (each with its
    totals); in CSV one long table, a row per figure (section, loan_id, occurred_on, figure, value)."""
    filename = f"statement_{statement['code']}"
    if fmt == "xlsx":
        return spreadsheets.download([
            spreadsheets.Table("statement", ("figure", "value"),
                               [(figure, statement[figure]) for figure in STATEMENT_FIGURES]),
            _movements("defaults", DEFAULT_COLUMNS, statement["defaults"]),
            _movements("recoveries", RECOVERY_COLUMNS, statement["recoveries"])], fmt, filename)
    rows = [("statement", None, None, figure, statement[figure]) for figure in STATEMENT_FIGURES]
    for section, columns in (("defaults", DEFAULT_COLUMNS), ("recoveries", RECOVERY_COLUMNS)):
        rows += [(section, movement["loan_id"], movement["occurred_on"], column, movement[column])
                 for movement in statement[section] for column in columns[2:]]
    return spreadsheets.download(spreadsheets.Table("statement", ("section", "loan_id", "occurred_on", "figure",
                                                                  "value"), rows), fmt, filename)


def _movements(title: str, columns: tuple[str, ...], movements: list[dict[str, Any]]) -> spreadsheets.Table:
    totals = [_("Total"), None, *(sum((m[c] for m in movements), ZERO) for c in columns[2:])]
    return spreadsheets.Table(title, columns, [tuple(m[c] for c in columns) for m in movements], totals)
