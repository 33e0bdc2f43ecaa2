"""Fee-reduction rules (admin keeps them; everyone may read them and preview a fee)."""

import datetime as dt
from typing import Any

from flask import request
from flask.views import MethodView
from flask_babel import gettext as _
from sqlalchemy import select

from guarantees.models import Agreement, Guarantee
from guarantees.services import visible_agreements
from marketplace import db
from marketplace.api import Blueprint, page_of, paginate
from marketplace.auth.access import api_roles, api_user
from marketplace.auth.models import Role, User
from marketplace.dates import business_today
from marketplace.errors import ValidationFailed
from marketplace.fees import schemas, services
from marketplace.fees.models import FeeRule, SubsidySettlement
from marketplace.financing.loans import is_first_loan
from marketplace.financing.models import Application, FinancingRequest
from marketplace.orgs.models import Enterprise

blp = Blueprint("fees_api", __name__, url_prefix="/api/v1", description="Fee-reduction rules (降费奖补)")


@blp.route("/fee-rules")
class FeeRules(MethodView):
    @api_roles(Role.ADMIN, Role.AGENCY, Role.BANK, Role.ENTERPRISE)
    @blp.response(200, schemas.FeeRuleOut(many=True))
    @paginate(blp)
    def get(self, pagination_parameters):
        """The rules, in the order they are evaluated (priority, then id)."""
        return page_of(select(FeeRule).order_by(FeeRule.priority, FeeRule.id), pagination_parameters)

    @api_roles(Role.ADMIN)
    @blp.arguments(schemas.FeeRuleIn)
    @blp.response(201, schemas.FeeRuleOut)
    def post(self, data):
        """Add a rule. It prices offers made from now on; guarantees already priced keep their terms."""
        return services.create_rule(data)


@blp.route("/fee-rules/<int:rule_id>")
class FeeRuleById(MethodView):
    @api_roles(Role.ADMIN, Role.AGENCY, Role.BANK, Role.ENTERPRISE)
    @blp.response(200, schemas.FeeRuleOut)
    def get(self, rule_id):
        """One rule, with the subsidy it has granted and what is left of its budget."""
        return services.get_rule(rule_id)

    @api_roles(Role.ADMIN)
    @blp.arguments(schemas.FeeRulePatch(partial=True))
    @blp.response(200, schemas.FeeRuleOut)
    def patch(self, data, rule_id):
        """Change the fields given (conditions and effect are replaced whole). Guarantees keep their terms."""
        given = request.get_json(silent=True) or {}
        return services.update_rule(services.get_rule(rule_id), {k: v for k, v in data.items() if k in given})


@blp.route("/fee-rules/preview")
class Preview(MethodView):
    @api_roles(Role.ADMIN, Role.AGENCY, Role.BANK)
    @blp.arguments(schemas.PreviewIn)
    @blp.response(200, schemas.PreviewOut)
    def post(self, data):
        """The fee for a loan before and after the rules in force, and the trail of rules that applied.
        Agencies and banks preview under their own agreements, for their own customers."""
        user = api_user()
        if user.role is not Role.ADMIN:
            # Another organisation's agreement, or an enterprise that is not the caller's customer, is refused
            # exactly as a missing one: the preview would tell its tier and whether it ever borrowed.
            errors = {}
            if db.session.scalar(visible_agreements(user).where(Agreement.id == data["agreement_id"])) is None:
                errors["agreement_id"] = [_("No agreement %(id)d.", id=data["agreement_id"])]
            if not _is_customer(user, data["enterprise_id"]):
                errors["enterprise_id"] = [_("No enterprise %(id)d.", id=data["enterprise_id"])]
            if errors:
                raise ValidationFailed(errors=errors)
        return preview_fee(data)


def preview_fee(data: dict[str, Any]) -> dict[str, Any]:
    """PreviewIn's fee preview (this API's and the admin's page): the facts loaded here, the pricing by fees."""
    day = data.get("disbursed_on") or business_today()
    product_type = data.get("product_type")
    return services.preview(_preview_facts(data, day), data["amount"], data["term_months"], day,
                            product_type.value if product_type else "")


def _preview_facts(data: dict[str, Any], day: dt.date) -> services.PreviewFacts:
    """The agreement's fee rate and the enterprise's tier, region and first loan; an id not found is the field's
    error."""
    errors = {}
    enterprise = db.session.get(Enterprise, data["enterprise_id"])
    agreement = db.session.get(Agreement, data["agreement_id"])
    if enterprise is None:
        errors["enterprise_id"] = [_("No enterprise %(id)d.", id=data["enterprise_id"])]
    if agreement is None:
        errors["agreement_id"] = [_("No agreement %(id)d.", id=data["agreement_id"])]
    if errors:
        raise ValidationFailed(errors=errors)
    return services.PreviewFacts(fee_rate=agreement.fee_rate, tier=enterprise.tier_on(day).value,
                                 region_code=enterprise.region_code, first_loan=is_first_loan(enterprise.id))


def _is_customer(user: User, enterprise_id: int) -> bool:
    """A bank's customers applied to it; an agency's have a guarantee under one of its agreements."""
    if user.role is Role.BANK:
        query = select(Application.id).join(Application.request).where(
            Application.bank_id == user.organization_id, FinancingRequest.enterprise_id == enterprise_id)
    else:
        query = select(Guarantee.id).where(Guarantee.enterprise_id == enterprise_id, Guarantee.agreement_id.in_(
            visible_agreements(user).with_only_columns(Agreement.id).scalar_subquery()))
    return db.session.scalar(query.limit(1)) is not None


@blp.route("/subsidy-settlements")
class SubsidySettlements(MethodView):
    @api_roles(Role.ADMIN, Role.AGENCY)
    @blp.arguments(schemas.SettlementQuery, location="query")
    @blp.response(200, schemas.SettlementOut(many=True))
    @paginate(blp)
    def get(self, query, pagination_parameters):
        """降费奖补 the fiscal fund owes each agency per month, made by the scheduler on the 1st from the ledger
        (`?month=2026-10`); an agency sees its own."""
        user = api_user()
        found = select(SubsidySettlement).order_by(SubsidySettlement.month.desc(), SubsidySettlement.agency_id)
        if user.role is Role.AGENCY:
            found = found.where(SubsidySettlement.agency_id == user.organization_id)
        if query.get("month"):
            found = found.where(SubsidySettlement.month == query["month"])
        return page_of(found, pagination_parameters)
