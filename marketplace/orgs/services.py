"""Creating the organisations that take part: banks, agencies and (minimally) enterprises."""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import select

from marketplace import db, outbound
from marketplace.audit import trail as audit
from marketplace.auth.models import Role, User
from marketplace.auth.services import create_user
from marketplace.errors import Conflict, ValidationFailed
from marketplace.orgs.models import Agency, AgencyKind, Bank, Enterprise, EnterpriseSize, Tier, TierCertification


def _code_is_free(model: type[Bank] | type[Agency], code: str) -> None:
    if db.session.scalar(select(model.id).where(model.code == code)) is not None:
        raise Conflict(_("The code %(code)s is taken.", code=code), {"code": [_("Already taken.")]})


def create_bank(name: str, code: str, api_base_url: str | None = None, name_en: str | None = None) -> Bank:
    if api_base_url and (why := outbound.refusal(api_base_url)):
        raise ValidationFailed(errors={"api_base_url": [why]})
    _code_is_free(Bank, code)
    bank = Bank(name=name, name_en=name_en, code=code, api_base_url=api_base_url,
                callback_secret=secrets.token_hex(32))
    db.session.add(bank)
    db.session.flush()
    return bank


def create_agency(name: str, code: str, agency_kind: AgencyKind, name_en: str | None = None) -> Agency:
    _code_is_free(Agency, code)
    agency = Agency(name=name, name_en=name_en, code=code, agency_kind=agency_kind)
    db.session.add(agency)
    db.session.flush()
    return agency


def create_enterprise(*, name: str, uscc: str, region_code: str, industry_code: str, size: EnterpriseSize,
                      annual_revenue: Decimal, rd_expense: Decimal, employees: int,
                      name_en: str | None = None) -> Enterprise:
    """An enterprise; its tier comes from the province's registry by USCC, never from what it declares."""
    if db.session.scalar(select(Enterprise.id).where(Enterprise.uscc == uscc)) is not None:
        raise Conflict(_("An enterprise with USCC %(uscc)s is already registered.", uscc=uscc),
                       {"uscc": [_("Already registered.")]})
    enterprise = Enterprise(name=name, name_en=name_en, uscc=uscc, region_code=region_code,
                            industry_code=industry_code, size=size, annual_revenue=annual_revenue,
                            rd_expense=rd_expense, employees=employees)
    db.session.add(enterprise)
    db.session.flush()
    return enterprise


def register_enterprise(data: dict) -> tuple[Enterprise, User]:
    """Self-registration: the enterprise and its first user, together or not at all."""
    details = {name: value for name, value in data.items() if name not in ("username", "password")}
    enterprise = create_enterprise(**details)
    user = create_user(data["username"], data["password"], Role.ENTERPRISE, enterprise.id)
    return enterprise, user


def certify(uscc: str, tier: Tier, valid_until: dt.date | None, *, by_user_id: int | None = None,
            source_import_id: int | None = None) -> TierCertification:
    """Record the province's certified tier for a USCC (replacing any earlier certification)."""
    certify_many([(uscc, tier, valid_until)], by_user_id=by_user_id, source_import_id=source_import_id)
    # The upsert is set-based, so the ORM's audit hook does not see it; an import is audited as its TierImport.
    audit.record("tier_certification.set", "tier_certification", None,
                 {"uscc": uscc, "tier": tier, "valid_until": valid_until})
    return db.session.get(TierCertification, uscc, populate_existing=True)


def certify_many(rows: list[tuple[str, Tier, dt.date | None]], *, by_user_id: int | None = None,
                 source_import_id: int | None = None) -> None:
    """Certify many USCCs with one set-based upsert (INSERT … ON CONFLICT DO UPDATE), not a query per row."""
    if not rows:
        return
    statement = db.upsert(TierCertification)
    statement = statement.on_conflict_do_update(
        index_elements=[TierCertification.uscc],
        set_={name: statement.excluded[name]
              for name in ("tier", "valid_until", "updated_by_id", "source_import_id", "updated_at")})
    now = db.utcnow()
    db.session.execute(statement, [
        {"uscc": uscc, "tier": Tier(tier), "valid_until": valid_until, "updated_by_id": by_user_id,
         "source_import_id": source_import_id, "updated_at": now} for uscc, tier, valid_until in rows])
    db.session.flush()
