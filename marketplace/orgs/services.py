"""Creating the organisations that take part: banks, agencies and (minimally) enterprises."""

from __future__ import annotations

import secrets

from flask_babel import gettext as _
from sqlalchemy import select

from marketplace import db
from marketplace.errors import Conflict
from marketplace.orgs.models import Agency, AgencyKind, Bank, Enterprise, Tier


def _code_is_free(model: type[Bank] | type[Agency], code: str) -> None:
    if db.session.scalar(select(model.id).where(model.code == code)) is not None:
        raise Conflict(_("The code %(code)s is taken.", code=code), {"code": [_("Already taken.")]})


def create_bank(name: str, code: str, api_base_url: str | None = None) -> Bank:
    _code_is_free(Bank, code)
    bank = Bank(name=name, code=code, api_base_url=api_base_url, callback_secret=secrets.token_hex(32))
    db.session.add(bank)
    db.session.flush()
    return bank


def create_agency(name: str, code: str, agency_kind: AgencyKind) -> Agency:
    _code_is_free(Agency, code)
    agency = Agency(name=name, code=code, agency_kind=agency_kind)
    db.session.add(agency)
    db.session.flush()
    return agency


def create_enterprise(name: str, uscc: str, region_code: str, tier: Tier = Tier.NONE) -> Enterprise:
    if db.session.scalar(select(Enterprise.id).where(Enterprise.uscc == uscc)) is not None:
        raise Conflict(_("An enterprise with USCC %(uscc)s is registered.", uscc=uscc),
                       {"uscc": [_("Already registered.")]})
    enterprise = Enterprise(name=name, uscc=uscc, region_code=region_code, tier=tier)
    db.session.add(enterprise)
    db.session.flush()
    return enterprise


