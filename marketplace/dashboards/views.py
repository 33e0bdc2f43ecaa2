"""Each role's dashboard: the figures an agency reviewer, a bank's credit officer and the provincial finance office
look at first, drawn as SVG on the server (no client framework) with the figures in a table beside each chart."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask import Blueprint, current_app, render_template
from flask_babel import gettext as _
from flask_login import current_user

from guarantees.claim_views import NEAR_WORKING_DAYS as CLAIM_NEAR_DAYS
from guarantees.claim_views import near_horizon as claim_horizon
from guarantees.views import quota_parts
from marketplace import db
from marketplace.auth.access import page_roles
from marketplace.auth.models import Role
from marketplace.dashboards import queries
from marketplace.dashboards.charts import Chart, Reference, Series, draw
from marketplace.dates import business_today
from marketplace.financing import deadlines as answer_deadlines
from marketplace.financing.views import application_status_labels
from products.views import tier_labels, type_labels

bp = Blueprint("dashboards", __name__, template_folder="templates")

RATE = queries.RATE
#: What comparable provincial platforms expect of a bank: this share of applications answered by the deadline.
PICK_UP_TARGET = Decimal("0.95")


def _monthly(by_month: dict[str, Any], shown: list[str], missing: Any = None) -> tuple[Any, ...]:
    return tuple(by_month.get(month, missing) for month in shown)


def _render(template: str, **context: Any) -> str:
    """Draw every chart handed over (a Chart, or a dict of them) and render the page."""
    def drawn(value: Any) -> Any:
        if isinstance(value, Chart):
            return draw(value)
        if isinstance(value, dict) and all(isinstance(v, Chart) for v in value.values()):
            return {key: draw(chart) for key, chart in value.items()}
        return value

    return render_template(template, quota_parts=quota_parts, **{k: drawn(v) for k, v in context.items()})


# Agency --------------------------------------------------------------------------------------------------------

@bp.get("/agency/dashboard")
@page_roles(Role.AGENCY)
def agency_dashboard():
    today, agency_id = business_today(), current_user.organization_id
    shown = queries.months(today)
    with db.reports_replica():
        agreements = queries.agency_agreements(agency_id)
        history = queries.compensation_history([a.id for a in agreements], shown)
        in_review = queries.batches_in_review(agency_id, today)
        claims = queries.agency_claims(agency_id, today, claim_horizon(today))
    compensation = {a.code: Chart(f"{a.code} · {a.bank.display_name}", "rate", tuple(shown),
                                  (Series(_("Compensation rate"), tuple(history[a.id])),), kind="lines",
                                  references=(Reference(_("Cap"), a.compensation_cap_rate),))
                    for a in agreements if any(v is not None for v in history[a.id])}
    ageing = Chart(_("Batches in review: working days waiting"), "days",
                   tuple(_("Batch %(id)s · %(code)s", id=b.id, code=b.agreement.code) for b, _age in in_review),
                   (Series(_("Working days waiting"), tuple(Decimal(age.days) for _b, age in in_review)),),
                   kind="bars", marks=tuple(None if age.sla is None else Decimal(age.sla) for _b, age in in_review),
                   marks_name=_("Review SLA"), keep_zeros=True)
    totals = {key: sum((getattr(a, attribute) for a in agreements), Decimal("0.00"))
              for key, attribute in (("total", "total_quota"), ("reserved", "quota_reserved"),
                                     ("outstanding", "quota_outstanding"), ("available", "quota_available"))}
    return _render("dashboards/agency.html", agreements=agreements, totals=totals, compensation=compensation,
                   ageing=ageing, in_review=in_review, overdue=sum(age.overdue for _b, age in in_review),
                   claims=claims, claim_near_days=CLAIM_NEAR_DAYS)


# Bank ----------------------------------------------------------------------------------------------------------

@bp.get("/bank/dashboard")
@page_roles(Role.BANK)
def bank_dashboard():
    bank_id, today = current_user.organization_id, business_today()
    shown = queries.months(today)
    near_days = current_app.config["DEADLINE_NEAR_WORKING_DAYS"]
    with db.reports_replica():
        by_status = queries.applications_by_status(bank_id)
        due = queries.deadlines(bank_id, today, answer_deadlines.near_horizon(today, near_days))
        decisions = queries.decisions_by_month(bank_id, shown)
        lending = queries.lending_by_month(shown, bank_id)
        uptake = queries.product_uptake(bank_id)
        overdue_loans = queries.overdue_loans(bank_id)
        claims = queries.bank_claims(bank_id, today, claim_horizon(today))
    labels = application_status_labels()
    statuses = Chart(_("Applications by status"), "count", tuple(labels[s] for s in by_status),
                     (Series(_("Applications"), tuple(Decimal(n) for n in by_status.values())),), kind="bars")
    rates = []
    for month in shown:
        approved, declined = decisions["approved"].get(month, 0), decisions["declined"].get(month, 0)
        rates.append(_ratio(approved, approved + declined))
    approval = Chart(_("Approval rate by month of decision"), "rate", tuple(shown),
                     (Series(_("Approved ÷ decided"), tuple(rates)),), kind="lines")
    volume = _lending_chart(lending, shown)
    top = uptake[:queries.TOP]
    products = Chart(_("Products' uptake"), "count", tuple(p["name"] for p in top),
                     (Series(_("Applications"), tuple(Decimal(p["applications"]) for p in top)),
                      Series(_("Approved"), tuple(Decimal(p["approved"]) for p in top))), kind="bars")
    decided = by_status["approved"] + by_status["declined"]
    figures = {"applications": sum(by_status.values()), "waiting": by_status["submitted"],
               "approval_rate": _ratio(by_status["approved"], decided), **due,
               "guaranteed": sum(lending["guaranteed"].values(), Decimal("0.00")),
               "unguaranteed": sum(lending["unguaranteed"].values(), Decimal("0.00"))}
    return _render("dashboards/bank.html", figures=figures, statuses=statuses, approval=approval, volume=volume,
                   products=products, uptake=top, more_products=len(uptake) - len(top), near_days=near_days,
                   overdue_loans=overdue_loans, claims=claims)


def _ratio(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(RATE, rounding=ROUND_HALF_UP) if whole else None


def _lending_chart(lending: dict[str, dict[str, Decimal]], shown: list[str]) -> Chart:
    return Chart(_("Principal disbursed by month"), "money", tuple(shown),
                 (Series(_("With a guarantee"), _monthly(lending["guaranteed"], shown)),
                  Series(_("Without a guarantee"), _monthly(lending["unguaranteed"], shown))), kind="stacked")


# Admin ---------------------------------------------------------------------------------------------------------

@bp.get("/admin/dashboard")
@page_roles(Role.ADMIN)
def admin_dashboard():
    today = business_today()
    shown = queries.months(today)
    response_since = shown[-12]  # the banks' response over 12 months, like the first-time borrowers' figure
    with db.reports_replica():
        response = queries.bank_response(queries.since(response_since), today,
                                         current_app.config["RESPONSE_WORKING_DAYS"])
        by_tier = queries.lending_by_tier()
        by_type = queries.lending_by_product_type()
        lending = queries.lending_by_month(shown)
        newcomers, borrowers = queries.first_time_borrowers(shown)
        all_in = queries.all_in_rate_by_month(shown)
        lpr = queries.lpr_by_month(shown)
        rules = queries.subsidy_budgets()
        pools = queries.risk_pools()
        balances = queries.pool_balances(shown)
        claims = queries.pool_claims(shown)
        late_claims = queries.claims_past_deadline(today)
    tiers, types = tier_labels(), type_labels()
    tier_chart = Chart(_("Lending by tier"), "money", tuple(tiers[t] for t in tiers),
                       (Series(_("Principal disbursed"), tuple(by_tier.get(t) for t in tiers)),), kind="bars")
    type_chart = Chart(_("Lending by product type"), "money", tuple(types[t] for t in types),
                       (Series(_("Principal disbursed"), tuple(by_type.get(t) for t in types)),), kind="bars")
    newcomer_chart = Chart(_("First-time borrowers by month"), "count", tuple(shown),
                           (Series(_("Enterprises whose first loan through the marketplace was disbursed"),
                                   tuple(Decimal(n) for n in _monthly(newcomers, shown, 0))),))
    rate_chart = Chart(_("Average all-in rate against the LPR"), "rate", tuple(shown),
                       (Series(_("All-in rate (weighted by principal)"), _monthly(all_in, shown)),
                        Series(_("1-year LPR"), tuple(lpr))), kind="lines")
    subsidy_chart = Chart(_("Fiscal subsidies spent against budgets"), "money", tuple(r.display_name for r in rules),
                          (Series(_("Budget"), tuple(r.budget for r in rules)),
                           Series(_("Granted"), tuple(r.subsidy_granted for r in rules))), kind="bars")
    named = [p for p in pools if p.id in balances or p.id in claims]
    balance_chart = Chart(_("Risk-pool balances at each month's end"), "money", tuple(shown),
                          tuple(Series(p.display_name, tuple(balances.get(p.id, [None] * len(shown)))) for p in named),
                          kind="lines")
    claim_chart = Chart(_("Claims on risk pools by month"), "money", tuple(shown),
                        tuple(Series(p.display_name, _monthly(claims.get(p.id, {}), shown)) for p in named),
                        kind="stacked")
    pick_up = Chart(_("Pick-up rate within the deadline"), "rate", tuple(b["name"] for b in response),
                    (Series(_("Answered on time ÷ due"), tuple(b["pick_up_rate"] for b in response)),),
                    kind="bars", references=(Reference(_("Target"), PICK_UP_TARGET),), keep_zeros=True)
    figures = {"lent": sum(by_tier.values(), Decimal("0.00")), "borrowers": borrowers,
               "newcomers": sum(newcomers.get(m, 0) for m in shown[-12:]), "lpr": lpr[-1],
               "subsidies": sum((r.subsidy_granted for r in rules), Decimal("0.00")),
               "pool_cash": sum((p.balance for p in pools), Decimal("0.00"))}
    return _render("dashboards/admin.html", figures=figures, tier_chart=tier_chart, type_chart=type_chart,
                   volume=_lending_chart(lending, shown), newcomer_chart=newcomer_chart, rate_chart=rate_chart,
                   subsidy_chart=subsidy_chart, rules=rules, balance_chart=balance_chart, claim_chart=claim_chart,
                   pools=pools, response=response, pick_up=pick_up, response_since=f"{response_since}-01",
                   response_days=current_app.config["RESPONSE_WORKING_DAYS"], late_claims=late_claims)
