"""The trail in the reader's words: each action as a phrase (登录, not user.signed_in), each change as a field in words
with its values formatted (statuses as state words, money in 元, times in Beijing time), and who acted. The codes
stay in the page's `title` attributes for support."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from flask_babel import gettext as _

from marketplace import db
from marketplace.audit.models import AuditEntry
from marketplace.audit.trail import FINANCE_OFFICE, REDACTED, object_type_of
from marketplace.dates import beijing_time
from marketplace.fees.views import condition_words
from marketplace.i18n import (
    N_,
    OBJECT_WORDS,
    STATE_WORDS,
    basis_points,
    listed,
    locale_name,
    object_word,
    percent,
    state_word,
    yuan,
)
from marketplace.servicing.views import event_labels, method_labels
from products.views import tier_labels, type_labels

#: Actions the trail records by name (the rest are `{object}.created|updated|deleted|{new status}`).
ACTION_WORDS = {
    "user.signed_in": N_("Signed in"), "user.signed_out": N_("Signed out"),
    "user.sign_in_failed": N_("Failed sign-in"), "user.token_issued": N_("API token issued"),
    "user.token_revoked": N_("API token revoked"), "user.password_changed": N_("Password changed"),
    "user.password_reset": N_("Password reset"), "user.added": N_("User added"), "user.created": N_("User created"),
    "user.enabled": N_("User enabled"), "user.disabled": N_("User disabled"),
    "outbox_message.redriven": N_("Message re-driven to the bank"),
    "journal_entry.reversed": N_("Journal entry reversed"), "pricing_bounds.set": N_("Pricing bounds set"),
    "tier_certification.set": N_("Tier certification set"), "marketplace.generated": N_("Demo province generated"),
}

#: Fields as people name them, whatever the object.
FIELD_WORDS = {
    "status": N_("Status"), "name": N_("Name"), "name_en": N_("English name"), "code": N_("Code"),
    "kind": N_("Kind"), "agency_kind": N_("Agency kind"), "version": N_("Version"), "family_id": N_("Product family"),
    "bank_id": N_("Bank"), "agency_id": N_("Agency"), "enterprise_id": N_("Enterprise"),
    "organization_id": N_("Organisation"), "product_id": N_("Product"), "product_type": N_("Product type"),
    "product_types": N_("Product types"), "amount": N_("Amount"), "amount_min": N_("Minimum amount"),
    "amount_max": N_("Maximum amount"), "term_months": N_("Term (months)"),
    "term_min_months": N_("Shortest term (months)"),
    "term_max_months": N_("Longest term (months)"), "rate_spread_bp": N_("Spread over the LPR"),
    "guarantee": N_("Guarantee"), "description": N_("Description"), "published_at": N_("Published at"),
    "created_at": N_("Created at"), "updated_at": N_("Updated at"), "valid_from": N_("Valid from"),
    "valid_to": N_("Valid to"), "total_quota": N_("Total quota"), "per_enterprise_cap": N_("Cap per enterprise"),
    "per_loan_cap": N_("Cap per loan"), "fee_rate": N_("Guarantee fee rate"), "list_fee_rate": N_("List fee rate"),
    "subsidy_rate": N_("Subsidy rate"), "share_agency": N_("Agency's share"), "share_bank": N_("Bank's share"),
    "share_reguarantee": N_("Re-guarantor's share"), "share_risk_pool": N_("Risk pool's share"),
    "reguarantor_id": N_("Re-guarantor"), "risk_pool_id": N_("Risk pool"), "pool_id": N_("Risk pool"),
    "compensation_cap_rate": N_("Compensation cap"), "eligible_tiers": N_("Eligible tiers"),
    "eligible_product_types": N_("Eligible product types"), "batch_max_size": N_("Largest batch"),
    "auto_approve_below": N_("Approved on the bank's approval below"), "review_sla_days": N_("Review days"),
    "claim_mode": N_("Claims"), "claim_review_days": N_("Claim review days"), "quota_reserved": N_("Quota reserved"),
    "quota_outstanding": N_("Quota outstanding"), "guaranteed_total": N_("Guaranteed in total"),
    "compensated_total": N_("Compensated in total"), "countersigned_at": N_("Countersigned at"),
    "agreement_id": N_("Agreement"), "batch_id": N_("Batch"), "application_id": N_("Application"),
    "loan_id": N_("Loan"), "guarantee_id": N_("Guarantee"), "claim_id": N_("Claim"), "offer_id": N_("Offer"),
    "request_id": N_("Financing request"), "submitted_at": N_("Submitted at"), "decided_at": N_("Decided at"),
    "decided_by_id": N_("Decided by"), "sla_breached_on": N_("Past its review deadline on"),
    "principal": N_("Principal"), "outstanding": N_("Outstanding"), "interest_rate": N_("Interest rate"),
    "disbursed_on": N_("Disbursed on"), "contract_no": N_("Contract number"),
    "repayment_method": N_("Repayment method"), "interest_paid": N_("Interest paid"),
    "principal_repaid": N_("Principal repaid"), "renews_loan_id": N_("Renews loan"), "new_loan_id": N_("New loan"),
    "approved_amount": N_("Approved amount"), "reason": N_("Reason"), "respond_by": N_("Answer due by"),
    "reminded": N_("Reminded"), "username": N_("User name"), "password_hash": N_("Password"), "role": N_("Role"),
    "active": N_("Active"), "org_admin": N_("Organisation administrator"),
    "must_change_password": N_("Must change password"), "password_changed_at": N_("Password changed at"),
    "locale": N_("Language"), "email": N_("E-mail"), "email_notifications": N_("E-mail notifications"),
    "uscc": N_("Unified social credit code"), "region_code": N_("Region"), "industry_code": N_("Industry"),
    "size": N_("Size"), "annual_revenue": N_("Annual revenue"), "rd_expense": N_("R&D expense"),
    "employees": N_("Employees"), "api_base_url": N_("System address"), "callback_secret": N_("Callback secret"),
    "previous_callback_secret": N_("Previous callback secret"),
    "callback_secret_rotated_at": N_("Callback secret changed at"), "priority": N_("Priority"),
    "stackable": N_("Stacks with other rules"), "budget": N_("Budget"), "subsidy_granted": N_("Subsidy granted"),
    "conditions": N_("Conditions"), "effect_kind": N_("Effect"), "effect_value": N_("Effect value"),
    "exposure": N_("Exposure"), "applied_rules": N_("Fee rules applied"), "fee_days": N_("Fee days"),
    "list_fee": N_("List fee"), "fee_charged": N_("Fee charged"), "fiscal_subsidy": N_("Fiscal subsidy"),
    "effective_on": N_("Effective on"), "lpr_1y": N_("1-year LPR"), "lpr_5y": N_("5-year LPR"),
    "note": N_("Note"), "filed_on": N_("Filed on"), "due_by": N_("Due by"), "filed_by_id": N_("Filed by"),
    "filed_at": N_("Filed at"), "allocation_id": N_("Loss allocation"), "overdue_on": N_("Overdue on"),
    "created_by_id": N_("Created by"), "purpose": N_("Purpose"), "accept_guarantee": N_("Accepts a guarantee"),
    "tier_at_request": N_("Tier when asked"), "lpr_effective_on": N_("LPR of"),
    "unmatched_reasons": N_("Why no product matched"), "status_reason": N_("Why"), "balance": N_("Balance"),
    "cap_per_loss": N_("Cap per loss"), "deposited": N_("Deposited"), "paid_out": N_("Paid out"),
    "recovered": N_("Recovered"), "type": N_("Event"), "occurred_on": N_("Occurred on"), "interest": N_("Interest"),
    "idempotency_key": N_("Idempotency key"), "deposited_on": N_("Deposited on"), "claims_paid": N_("Claims paid"),
    "content_type": N_("File type"), "sha256": N_("Checksum"), "uploaded_by_id": N_("Uploaded by"),
    "uploaded_at": N_("Uploaded at"), "filename": N_("File"), "rows_total": N_("Rows"), "rows_ok": N_("Rows imported"),
    "rows_failed": N_("Rows refused"), "errors": N_("Errors"), "finished_at": N_("Finished at"),
    "month": N_("Month"), "entries": N_("Entries"), "by": N_("By"), "token_id": N_("API token"), "via": N_("Via"),
    "reversal_id": N_("Reversing entry"), "memo": N_("Memo"), "redrives": N_("Re-drives"), "tier": N_("Tier"),
    "valid_until": N_("Valid until"), "spread_min_bp": N_("Lowest spread"), "spread_max_bp": N_("Highest spread"),
}

#: Values of fields that are neither statuses nor product types or tiers, in words.
VALUE_WORDS = {
    "role": {"admin": N_("Finance office"), "bank": N_("Bank"), "agency": N_("Guarantee agency"),
             "enterprise": N_("Enterprise")},
    "kind": {"bank": N_("Bank"), "agency": N_("Guarantee agency"), "enterprise": N_("Enterprise")},
    "agency_kind": {"local": N_("Local agency"), "provincial": N_("Provincial agency (re-guarantor)")},
    "size": {"micro": N_("Micro"), "small": N_("Small"), "medium": N_("Medium")},
    "claim_mode": {"automatic": N_("Settled automatically at default"), "review": N_("Filed and reviewed")},
    "effect_kind": {"cap_fee_rate": N_("Caps the fee rate"), "reduce_fee_rate_bp": N_("Reduces the fee rate"),
                    "fiscal_subsidy_share": N_("Fiscal subsidy share")},
    "guarantee": {"none": N_("Not needed"), "optional": N_("Optional"), "required": N_("Required")},
    "via": {"api": N_("the API"), "page": N_("the sign-in page")},
    "locale": {"zh_Hans": N_("Chinese"), "en": N_("English")},
    "reminded": {"near": N_("Of a deadline near"), "passed": N_("Of a deadline passed")},
}
#: Amounts in entries of no model (a set-based change recorded by hand), where the column's type cannot tell.
MONEY_FIELDS = {"amount", "amount_min", "amount_max"}
#: Fields that name an organisation or a risk pool by its id: shown by its name.
ORGANISATION_FIELDS = {"bank_id", "agency_id", "enterprise_id", "organization_id", "reguarantor_id"}
POOL_FIELDS = {"risk_pool_id", "pool_id"}
_TIER_FIELDS = {"tier", "tier_at_request", "eligible_tiers"}
_TYPE_FIELDS = {"product_type", "product_types", "eligible_product_types"}
#: Fields never worth a line: the object's own id, and its bookkeeping times.
_SKIPPED = {"id", "created_at", "updated_at"}
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


@dataclass(frozen=True)
class Change:
    """One line of a change: the field in words, and its values (before is None for a new object's value)."""

    field: str
    code: str
    before: str | None
    after: str


def action_words(action: str) -> str:
    """An action in the reader's words: user.signed_in → 登录; product.published → 信贷产品变为“已发布”."""
    if action in ACTION_WORDS:
        return _(ACTION_WORDS[action])
    kind, _dot, verb = action.partition(".")
    thing = _object(kind)
    if verb == "created":
        words = _("%(object)s created", object=thing)
    elif verb == "updated":
        words = _("%(object)s changed", object=thing)
    elif verb == "deleted":
        words = _("%(object)s deleted", object=thing)
    elif verb in STATE_WORDS:
        words = _("%(object)s now %(state)s", object=thing, state=state_word(verb))
    else:
        words = _("%(object)s: other action", object=thing)
    return words[:1].upper() + words[1:]


def _object(kind: str) -> str:
    return object_word(kind) if kind in OBJECT_WORDS else _("record")


def object_words(entry: AuditEntry) -> str:
    """"信贷产品 #9": what the entry is about."""
    thing = _object(entry.object_type)
    thing = thing[:1].upper() + thing[1:]
    return f"{thing} #{entry.object_id}" if entry.object_id else thing


def field_words(code: str) -> str:
    if code in FIELD_WORDS:
        return _(FIELD_WORDS[code])
    return code.replace("_", " ").capitalize() if locale_name() == "en" else _("Other field")


def changes(entry: AuditEntry, names: Names | None = None) -> list[Change]:
    """The entry's changes, field by field, in words; a new object's values have no `before`. `names` are the
    organisations' and pools' names by id (see `referenced`)."""
    columns = _columns(entry.object_type)
    names = names or Names({}, {})
    lines = []
    for code, value in (entry.changes or {}).items():
        if code in _SKIPPED:
            continue
        kind = columns.get(code)
        if _is_change(code, value):
            before, after = value
            lines.append(Change(field_words(code), code, names.of(code, before) or value_words(code, before, kind),
                                names.of(code, after) or value_words(code, after, kind)))
        else:
            lines.append(Change(field_words(code), code, None, names.of(code, value) or value_words(code, value, kind)))
    return lines


@dataclass(frozen=True)
class Names:
    """Names, in the reader's language, of the organisations and risk pools that changes refer to by id."""

    organisations: dict[int, str]
    pools: dict[int, str]

    def of(self, code: str, value: Any) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        if code in ORGANISATION_FIELDS:
            return self.organisations.get(value)
        return self.pools.get(value) if code in POOL_FIELDS else None


def referenced(entries: list[AuditEntry], fields: set[str]) -> set[int]:
    """The ids the entries' changes hold in `fields` (before or after)."""
    ids = set()
    for entry in entries:
        for code, value in (entry.changes or {}).items():
            if code in fields:
                ids.update(item for item in (value if isinstance(value, list) else [value])
                           if isinstance(item, int) and not isinstance(item, bool))
    return ids


def _is_change(code: str, value: Any) -> bool:
    """[before, after]; for a field that holds a list, a pair of lists."""
    if not (isinstance(value, list) and len(value) == 2):
        return False
    return code not in _TIER_FIELDS | _TYPE_FIELDS or all(item is None or isinstance(item, list) for item in value)


def value_words(code: str, value: Any, kind: str | None = None) -> str:
    """A stored value as the reader reads it: `kind` is the column's type name (Money, UTCDateTime, Numeric, …)."""
    if value is None or value == "":
        return "—"
    if value == REDACTED:
        return _("(hidden)")
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, list):
        return listed(value_words(code, item, kind) for item in value) if value else "—"
    if isinstance(value, dict):
        return "；".join(condition_words(value, tier_labels(), type_labels())) if code == "conditions" else \
            _("(details)")
    text = str(value)
    if code == "status":
        return state_word(text)
    if code in _TIER_FIELDS:
        return tier_labels().get(text, text)
    if code in _TYPE_FIELDS:
        return type_labels().get(text, text)
    if code == "repayment_method":
        return method_labels().get(text, text)
    if code == "type" and text in event_labels():
        return event_labels()[text]
    if code in VALUE_WORDS and text in VALUE_WORDS[code]:
        return _(VALUE_WORDS[code][text])
    if kind == "Money" or (kind is None and code in MONEY_FIELDS):
        return money(text)
    if code.endswith("_bp") and "spread" in code and isinstance(value, int):
        return basis_points(value)
    if kind == "Numeric" and code != "effect_value":
        return _number(text, percent)
    if _TIMESTAMP.match(text):
        return beijing_time(text)
    if code.endswith("_id") and isinstance(value, int):
        return f"#{value}"
    return text


def money(amount: Any) -> str:
    """1,234,567.00 元 in Chinese, ¥1,234,567.00 in English."""
    return _number(amount, lambda exact: f"{exact:,.2f} 元" if locale_name() == "zh_Hans" else yuan(exact))


def _number(text: Any, shown: Any) -> str:
    try:
        return shown(Decimal(str(text)))
    except (InvalidOperation, ValueError):
        return str(text)


def _columns(kind: str) -> dict[str, str]:
    """The audited model's column types by name ("Money", "UTCDateTime", "Numeric", …), or none when unknown."""
    return _column_kinds().get(kind) or {}


@cache
def _column_kinds() -> dict[str, dict[str, str]]:
    # Read at the first page, when every model is mapped.
    return {object_type_of(mapper.class_): {attr.key: type(attr.columns[0].type).__name__
                                            for attr in mapper.column_attrs}
            for mapper in db.Base.registry.mappers if issubclass(mapper.class_, db.Audited)}


def actor_words(actor: str, bank_names: dict[str, str], job_words: dict[str, str]) -> str:
    """Who acted: a user's name as is; system:ZCB → 浙江商业银行的系统; scheduler:batch_cutoff → 定时任务：…"""
    if actor == "system":
        return _("The marketplace")
    if actor == "anonymous":
        return _("Anonymous visitor")
    kind, colon, name = actor.partition(":")
    if colon and kind == "system":
        return _("%(bank)s's system", bank=bank_names.get(name, name))
    if colon and kind == "scheduler":
        return _("Scheduled job: %(job)s", job=job_words.get(name, _("a scheduled job")))
    return actor


def organisation_words(entry: AuditEntry, names: dict[int, str]) -> str:
    """The organisation the actor acted for, by its name in the reader's language (省财政厅 for the admin)."""
    if entry.organization_id is not None and entry.organization_id in names:
        return names[entry.organization_id]
    if entry.organization_name == FINANCE_OFFICE:
        return _(FINANCE_OFFICE)
    return entry.organization_name or "—"
