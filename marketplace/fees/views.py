"""The admin's pages for fee-reduction rules (降费奖补): the rules in evaluation order, adding and changing one,
and previewing the fee a loan would pay under the rules in force."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import marshmallow as ma
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from guarantees.models import Agreement
from marketplace import db
from marketplace.auth.access import page_roles
from marketplace.auth.models import Role
from marketplace.dates import business_today
from marketplace.errors import DomainError, flatten_messages
from marketplace.fees import rules, services
from marketplace.fees.api import preview_fee
from marketplace.fees.models import FeeRule
from marketplace.fees.schemas import ConditionsIn, FeeRuleIn, PreviewIn
from marketplace.forms import failed, form_to_data, load_form, rate_as_typed, typed_rate
from marketplace.i18n import N_, listed
from marketplace.listing import Choice, Listing, Search, Sort
from marketplace.orgs import codes
from marketplace.orgs.models import Tier
from products.models import ProductType

bp = Blueprint("fees", __name__, template_folder="templates")

#: The form's own names for the nested fields of FeeRuleIn.
EFFECT_INPUTS = {"kind": "effect_kind", "value": "effect_value"}
CONDITION_INPUTS = ("tiers", "region_prefixes", "product_types", "amount_max", "first_loan")


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {
        "effect_kind_labels": {rules.CAP: _("Cap the fee rate"), rules.REDUCE: _("Reduce the fee rate (basis points)"),
                               rules.SUBSIDY: _("Fiscal subsidy share of what was waived")},
        "outcome_labels": {rules.APPLIED: _("Applied"), rules.BUDGET_EXHAUSTED: _("Budget exhausted")},
        "effect_words": effect_words,
        "condition_words": condition_words,
        "rule_state": rule_state,
        "rate_pct": rate_pct,
    }


def rate_pct(rate: Decimal | str | None) -> str:
    """0.0025 → "0.25 %" (as many places as the rate has, at least two)."""
    if rate is None or rate == "":
        return "—"
    percent = (Decimal(rate) * 100).normalize()
    places = max(2, -percent.as_tuple().exponent) if isinstance(percent.as_tuple().exponent, int) else 2
    return f"{percent:.{places}f} %"


def effect_words(kind: str, value: Decimal | str) -> str:
    if kind == rules.CAP:
        return _("Fee capped at %(rate)s a year", rate=rate_pct(value))
    if kind == rules.REDUCE:
        return _("Fee reduced by %(bp)d basis points", bp=int(Decimal(value)))
    return _("The fiscal fund pays %(share)s of the fee waived so far", share=rate_pct(value))


def condition_words(conditions: dict[str, Any] | None, tier_labels: dict[str, str],
                    type_labels: dict[str, str]) -> list[str]:
    """The rule's conditions as phrases; one phrase saying it covers everyone when it has none."""
    c = conditions or {}
    words = []
    if c.get("tiers"):
        words.append(_("Tier: %(tiers)s", tiers=listed(tier_labels.get(t, t) for t in c["tiers"])))
    if c.get("region_prefixes"):
        words.append(_("Region: %(regions)s", regions=listed(codes.region_name(p) for p in c["region_prefixes"])))
    if c.get("product_types"):
        words.append(_("Product: %(types)s", types=listed(type_labels.get(t, t) for t in c["product_types"])))
    if c.get("amount_max") is not None:
        words.append(_("Loans up to ¥%(amount)s", amount=f"{Decimal(c['amount_max']):,.2f}"))
    if c.get("first_loan"):
        words.append(_("First loan only"))
    return words or [_("Every loan")]


def rule_state(rule: FeeRule) -> tuple[str, str]:
    """(css status, label) for whether the rule counts today."""
    today = business_today()
    if rule.valid_from > today:
        return "pending", _("Not yet in force")
    if rule.valid_to is not None and rule.valid_to < today:
        return "expired", _("Ended")
    return "active", _("In force")


# The rule form ---------------------------------------------------------------------------------------------

def load_rule_form(form: MultiDict) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """FeeRuleIn from the flat form: conditions come from tiers, region_prefixes, product_types, amount_max and
    first_loan, the effect from effect_kind and effect_value; errors go back to those inputs."""
    schema = FeeRuleIn()
    data = form_to_data(schema, form)
    data["conditions"] = form_to_data(ConditionsIn(), form)
    data["effect"] = {key: typed_rate(raw) if key == "value" else raw
                      for key, name in EFFECT_INPUTS.items() if (raw := form.get(name, "").strip())}
    try:
        return schema.load(data), {}
    except ma.ValidationError as error:
        errors: dict[str, list[str]] = {}
        for path, messages in flatten_messages(error.messages).items():
            head, _dot, rest = path.partition(".")
            name = rest.split(".")[0] if head in ("conditions", "effect") else head
            if head == "effect":
                name = EFFECT_INPUTS.get(name, "effect_value")
            elif head == "conditions" and name not in CONDITION_INPUTS:
                name = "_schema"
            field_messages = errors.setdefault(name, [])
            field_messages.extend(m for m in messages if m not in field_messages)
        return None, errors


def _posted_values(form: MultiDict) -> dict[str, Any]:
    return {**form.to_dict(), "tiers": form.getlist("tiers"), "product_types": form.getlist("product_types"),
            "region_prefixes": [p for raw in form.getlist("region_prefixes") for p in re.split(r"[\s,，]+", raw) if p],
            "stackable": form.getlist("stackable")[-1:] == ["true"], "first_loan": "first_loan" in form}


def _rule_values(rule: FeeRule) -> dict[str, Any]:
    c = rule.conditions or {}
    return {"name": rule.name, "name_en": rule.name_en or "", "priority": str(rule.priority),
            "stackable": rule.stackable,
            "valid_from": rule.valid_from.isoformat(), "valid_to": rule.valid_to.isoformat() if rule.valid_to else "",
            "budget": "" if rule.budget is None else f"{rule.budget:.2f}",
            "tiers": list(c.get("tiers") or []), "region_prefixes": list(c.get("region_prefixes") or []),
            "product_types": list(c.get("product_types") or []), "amount_max": c.get("amount_max") or "",
            "first_loan": bool(c.get("first_loan")), "effect_kind": rule.effect_kind.value,
            "effect_value": _effect_value_text(rule.effect_kind.value, rule.as_rule().effect["value"])}


def _effect_value_text(kind: str, value: Any) -> str:
    """The effect's value as the form shows it: a reduction in basis points, a cap or a subsidy share in per cent."""
    return str(value) if kind == rules.REDUCE else rate_as_typed(value)


def _default_values() -> dict[str, Any]:
    return {"priority": "100", "stackable": True, "valid_from": business_today().isoformat(), "tiers": [],
            "product_types": [], "first_loan": False, "effect_kind": rules.CAP}


def _form_choices() -> dict[str, Any]:
    return {"all_tiers": [t for t in Tier if t is not Tier.NONE], "all_product_types": list(ProductType),
            "effect_kinds": rules.KINDS}


@bp.route("/admin/fee-rules", methods=["GET", "POST"])
@page_roles(Role.ADMIN)
def fee_rules():
    errors: dict[str, list[str]] = {}
    values = _default_values()
    if request.method == "POST":
        data, errors = load_rule_form(request.form)
        if data is not None:
            try:
                rule = services.create_rule(data)
            except DomainError as error:
                errors = failed(error)
            else:
                flash(_("Fee rule “%(name)s” added. It prices offers made from now on.", name=rule.display_name))
                return redirect(url_for("fees.fee_rules"))
        values = _posted_values(request.form)
    listing = Listing(
        sorts={"priority": Sort(N_("Order of evaluation"), (FeeRule.priority, FeeRule.id)),
               "name": Sort(N_("Name"), (FeeRule.name, FeeRule.id)),
               "granted": Sort(N_("Subsidy granted"), (FeeRule.subsidy_granted, FeeRule.id), descending_first=True)},
        default_sort="priority",
        filters=[Search(N_("Name"), (FeeRule.name,)),
                 Choice("effect_kind", N_("Effect"), FeeRule.effect_kind, _labels()["effect_kind_labels"],
                        N_("Any effect"))],
    ).read(select(FeeRule), endpoint="fees.fee_rules")
    return render_template("fees/fee_rules.html", listing=listing, fee_rules=listing.items, values=values,
                           errors=errors, **_form_choices()), 422 if errors else 200


@bp.route("/admin/fee-rules/<int:rule_id>/edit", methods=["GET", "POST"])
@page_roles(Role.ADMIN)
def edit_rule(rule_id: int):
    rule = services.get_rule(rule_id)
    errors: dict[str, list[str]] = {}
    values = _rule_values(rule)
    if request.method == "POST":
        data, errors = load_rule_form(request.form)
        if data is not None:
            try:
                services.update_rule(rule, data)
            except DomainError as error:
                errors = failed(error)
            else:
                flash(_("Fee rule “%(name)s” saved. Guarantees already priced keep their terms.",
                        name=rule.display_name))
                return redirect(url_for("fees.fee_rules"))
        values = _posted_values(request.form)
    return render_template("fees/rule_edit.html", rule=rule, values=values, errors=errors,
                           **_form_choices()), 422 if errors else 200


# Preview ---------------------------------------------------------------------------------------------------

@bp.get("/admin/fee-rules/preview")
@page_roles(Role.ADMIN)
def preview():
    """Reads only, so it is a GET form: its address can be shared and reloaded."""
    errors: dict[str, list[str]] = {}
    result = None
    asked = any(value.strip() for value in request.args.values())
    if asked:
        data, errors = load_form(PreviewIn(), request.args)
        if data is not None:
            try:
                result = preview_fee(data)
            except DomainError as error:
                errors = failed(error)
    values = request.args.to_dict() if asked else {"term_months": "12", "disbursed_on": business_today().isoformat()}
    agreements = db.session.scalars(select(Agreement).order_by(Agreement.code)).all()
    return render_template("fees/preview.html", values=values, errors=errors, result=result, agreements=agreements,
                           all_product_types=list(ProductType)), 422 if errors else 200
