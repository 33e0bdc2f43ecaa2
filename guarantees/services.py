"""Agreements and risk pools. Services flush; views commit."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, or_, select

from guarantees.models import AGREEMENT_TRANSITIONS, Agreement, AgreementStatus, RiskPool
from marketplace import db
from marketplace.auth.models import Role, User
from marketplace.dates import business_today
from marketplace.errors import Conflict, IllegalTransition, NotFound, ValidationFailed
from marketplace.orgs.models import Agency, AgencyKind, Bank


def create_risk_pool(data: dict[str, Any]) -> RiskPool:
    if db.session.scalar(select(RiskPool.id).where(RiskPool.name == data["name"])) is not None:
        raise Conflict(_("A risk pool named %(name)s exists.", name=data["name"]), {"name": [_("Already taken.")]})
    pool = RiskPool(**data)
    db.session.add(pool)
    db.session.flush()
    return pool


def create_agreement(agency_id: int, data: dict[str, Any]) -> Agreement:
    """An agency proposes a 总对总 agreement to a bank; it waits for the bank's countersignature."""
    shares = data.pop("shares")
    errors: dict[str, list[str]] = {}
    if db.session.get(Bank, data["bank_id"]) is None:
        errors["bank_id"] = [_("No bank %(id)d.", id=data["bank_id"])]
    if shares["reguarantee"] > 0:
        reguarantor = db.session.get(Agency, data["reguarantor_id"]) if data["reguarantor_id"] else None
        if reguarantor is None or reguarantor.agency_kind is not AgencyKind.PROVINCIAL:
            errors["reguarantor_id"] = [_("A re-guarantee share needs a provincial agency as re-guarantor.")]
    elif data["reguarantor_id"] is not None:
        errors["reguarantor_id"] = [_("Without a re-guarantee share there is no re-guarantor; leave this out.")]
    if shares["risk_pool"] > 0:
        if data["risk_pool_id"] is None or db.session.get(RiskPool, data["risk_pool_id"]) is None:
            errors["risk_pool_id"] = [_("A risk-pool share needs an existing risk pool.")]
    elif data["risk_pool_id"] is not None:
        errors["risk_pool_id"] = [_("Without a risk-pool share there is no risk pool; leave this out.")]
    if errors:
        raise ValidationFailed(errors=errors)
    if db.session.scalar(select(Agreement.id).where(Agreement.code == data["code"])) is not None:
        raise Conflict(_("An agreement coded %(code)s exists.", code=data["code"]), {"code": [_("Already taken.")]})
    agreement = Agreement(
        agency_id=agency_id, share_agency=shares["agency"], share_bank=shares["bank"],
        share_reguarantee=shares["reguarantee"], share_risk_pool=shares["risk_pool"],
        **{**data, "eligible_tiers": [t.value for t in data["eligible_tiers"]],
           "eligible_product_types": [t.value for t in data["eligible_product_types"]]})
    db.session.add(agreement)
    db.session.flush()
    return agreement


def change_status(agreement: Agreement, target: AgreementStatus) -> Agreement:
    """Countersign (bank), suspend and resume (agency), along the agreement's lifecycle."""
    current = agreement.effective_status
    if target in (AgreementStatus.ACTIVE,) and current is AgreementStatus.EXPIRED:
        raise IllegalTransition(_("This agreement ended on %(day)s.", day=agreement.valid_to.isoformat()))
    if target not in AGREEMENT_TRANSITIONS[current]:
        raise IllegalTransition(_("An agreement that is %(status)s cannot become %(target)s.",
                                  status=current.value, target=target.value))
    if current is AgreementStatus.PENDING_BANK and target is AgreementStatus.ACTIVE:
        agreement.countersigned_at = db.utcnow()
    agreement.status = target
    db.session.flush()
    return agreement


def visible_agreements(user: User) -> Select[tuple[Agreement]]:
    """The admin sees all; an agency its own and those it re-guarantees; a bank those naming it."""
    query = select(Agreement)
    if user.role is Role.AGENCY:
        return query.where(or_(Agreement.agency_id == user.organization_id,
                               Agreement.reguarantor_id == user.organization_id))
    if user.role is Role.BANK:
        return query.where(Agreement.bank_id == user.organization_id)
    if user.role is Role.ADMIN:
        return query
    return query.where(False)


def get_agreement(user: User, agreement_id: int) -> Agreement:
    agreement = db.session.scalar(visible_agreements(user).where(Agreement.id == agreement_id))
    if agreement is None:
        raise NotFound(_("No agreement %(id)d.", id=agreement_id))
    return agreement


def active_agreements_of(bank_ids: set[int]) -> list[Agreement]:
    """Agreements that can guarantee new loans today for these banks, in one query."""
    if not bank_ids:
        return []
    today = business_today()
    return list(db.session.scalars(select(Agreement).where(
        Agreement.bank_id.in_(sorted(bank_ids)), Agreement.status == AgreementStatus.ACTIVE,
        Agreement.valid_from <= today, Agreement.valid_to >= today)))


def get_risk_pool(pool_id: int) -> RiskPool:
    pool = db.session.get(RiskPool, pool_id)
    if pool is None:
        raise NotFound(_("No risk pool %(id)d.", id=pool_id))
    return pool
