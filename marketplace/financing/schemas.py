import marshmallow as ma
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import fields, validate
from sqlalchemy import select

from marketplace import db
from marketplace.fields import BusinessDate, Id, Money, Rate, Text
from marketplace.financing import reasons
from marketplace.financing.models import ApplicationStatus, LoanEventType, LoanStatus, RequestStatus
from marketplace.financing.schedule import Method
from marketplace.orgs.models import Tier
from products.models import TERM_LIMIT_MONTHS, ProductType


class FinancingRequestIn(ma.Schema):
    amount = Money(required=True)
    term_months = fields.Integer(required=True, strict=True, validate=validate.Range(
        min=1, max=TERM_LIMIT_MONTHS, error=_l("A term is 1 to %(n)d months.", n=TERM_LIMIT_MONTHS)))
    purpose = Text(required=True, min_length=1, max_length=500, multiline=True)
    accept_guarantee = fields.Boolean(load_default=True)
    product_types = fields.List(fields.Enum(ProductType, by_value=True), load_default=None, allow_none=True,
                                validate=validate.Length(max=len(ProductType)))

    @ma.validates("amount")
    def _positive(self, value, **kwargs):
        if value <= 0:
            raise ma.ValidationError(_("Ask for an amount above zero."))


class OfferOut(ma.Schema):
    id = fields.Integer()
    valid_until = fields.Function(lambda o: o.request.offers_valid_until.isoformat(), metadata={
        "description": "The last day this offer may be chosen (OFFER_VALID_DAYS after the request was filed)."})
    rank = fields.Integer()
    product_id = fields.Integer()
    product_name = fields.String()
    product_name_en = fields.String(allow_none=True)
    product_type = fields.String()
    bank_id = fields.Integer()
    bank_name = fields.String()
    bank_name_en = fields.String(allow_none=True)
    agreement_id = fields.Integer(allow_none=True)
    amount = Money()
    term_months = fields.Integer()
    interest_rate = Rate()
    list_fee_rate = Rate()
    guarantee_fee_rate = Rate()
    fee_subsidy_rate = Rate()
    all_in_rate = Rate()
    applied_rules = fields.List(fields.Dict())


class CounterOut(ma.Schema):
    amount = Money()
    rate_spread_bp = fields.Integer()
    interest_rate = Rate()
    list_fee_rate = Rate()
    guarantee_fee_rate = Rate()
    fee_subsidy_rate = Rate()
    all_in_rate = Rate()
    reason = fields.String()
    expires_on = fields.Date(metadata={"description": "The last day the enterprise may accept it."})
    made_at = fields.DateTime()
    answered_at = fields.DateTime(allow_none=True)
    answer_reason = fields.String(allow_none=True)


class ApplicationRefOut(ma.Schema):
    id = fields.Integer()
    status = fields.Enum(ApplicationStatus, by_value=True)
    loan_id = fields.Function(lambda a: a.loan.id if a.loan else None)


class RequestApplicationOut(ma.Schema):
    id = fields.Integer()
    status = fields.Enum(ApplicationStatus, by_value=True)
    offer_id = fields.Integer()
    bank_id = fields.Integer()
    bank_name = fields.Function(lambda a: a.offer.bank_name)
    approved_amount = Money(allow_none=True)
    interest_rate = Rate(allow_none=True)
    reason = fields.String(allow_none=True, metadata={
        "description": "The bank's reason for its decision, or the guarantee agency's for refusing the guarantee."})
    counter = fields.Nested(CounterOut, allow_none=True)
    loan_id = fields.Function(lambda a: a.loan.id if a.loan else None)
    respond_by = fields.Date(allow_none=True)
    created_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)


class TimelineOut(ma.Schema):
    at = fields.DateTime()
    event = fields.String(metadata={"description": "request.filed, offer.chosen, application.handed_off, "
                                                   "application.approved|declined|countered, counter.accepted|"
                                                   "declined|lapsed, guarantee.placed, batch.submitted, "
                                                   "guarantee.approved|excluded|unavailable, loan.created, "
                                                   "loan.disbursed|repayment|overdue|default|recovery"})
    by = fields.String(metadata={"description": "Who did it: an organisation, its system, or the marketplace."})
    title = fields.String()
    detail = fields.String(metadata={"description": "What happened, in the reader's language."})
    data = fields.Dict(metadata={"description": "The figures behind the words."})


def _timeline(request):
    from marketplace.financing.story import entries

    return TimelineOut(many=True).dump(entries(request))


class FinancingRequestOut(ma.Schema):
    id = fields.Integer()
    status = fields.Enum(RequestStatus, by_value=True)
    enterprise_id = fields.Integer()
    amount = Money()
    term_months = fields.Integer()
    purpose = fields.String()
    accept_guarantee = fields.Boolean()
    product_types = fields.List(fields.String(), allow_none=True)
    tier = fields.Enum(Tier, by_value=True, attribute="tier_at_request",
                       metadata={"description": "The certified tier in force when the request was matched."})
    lpr_effective_on = fields.Date()
    offers = fields.List(fields.Nested(OfferOut))
    unmatched_reasons = fields.Function(reasons.sentences, metadata={
        "type": "array", "items": {"type": "string"},
        "description": "Why products were left out, in the caller's language (Accept-Language)."})
    status_reason = fields.Function(reasons.status_words, allow_none=True, metadata={
        "type": "string", "nullable": True,
        "description": "Why the marketplace moved the request, e.g. withdrawn when the tier it was matched for "
                       "expired."})
    application = fields.Nested(ApplicationRefOut, allow_none=True, metadata={"description": "The latest application."})
    applications = fields.List(fields.Nested(RequestApplicationOut), metadata={
        "description": "Every application of the request, oldest first: after a decline the enterprise may choose "
                       "another offer."})
    offers_valid_until = fields.Date()
    timeline = fields.Function(_timeline, metadata={"description": "What happened, in order."})
    created_at = fields.DateTime()

    @ma.pre_dump(pass_collection=True)
    def _read_named_products(self, data, many, **kwargs):
        """The products the reasons of a whole page name, in one query."""
        reasons.preload(data if many else [data])
        return data


class SelectIn(ma.Schema):
    offer_id = Id(required=True)


class DecisionIn(ma.Schema):
    decision = fields.String(required=True, validate=validate.OneOf(["approved", "declined"]))
    approved_amount = Money(load_default=None, allow_none=True)
    rate_spread_bp = fields.Integer(load_default=None, allow_none=True, strict=True,
                                    validate=validate.Range(min=-300, max=3000))
    reason = Text(load_default=None, allow_none=True, max_length=1000, multiline=True)

    @ma.validates_schema
    def _declines_say_why(self, data, **kwargs):
        if data.get("decision") == "declined" and not (data.get("reason") or "").strip():
            raise ma.ValidationError({"reason": [_("Tell the enterprise why the application is declined.")]})
        if data.get("approved_amount") is not None and data["approved_amount"] <= 0:
            raise ma.ValidationError({"approved_amount": [_("Approve an amount above zero.")]})


class DecisionOut(ma.Schema):
    id = fields.Integer()
    status = fields.Enum(ApplicationStatus, by_value=True)
    loan_id = fields.Function(lambda a: a.loan.id if a.loan else None)
    guarantee_id = fields.Function(lambda a: a.guarantee.id if a.guarantee else None,
                                   metadata={"description": "Set for guarantee-backed approvals."})
    counter = fields.Nested(CounterOut, allow_none=True, metadata={
        "description": "The bank's counter-offer, when it approved other terms than the offer's."})


class CounterDeclineIn(ma.Schema):
    reason = Text(load_default=None, allow_none=True, max_length=1000, multiline=True)


class ApplicationOut(DecisionOut):
    request_id = fields.Integer()
    offer_id = fields.Integer()
    bank_id = fields.Integer()
    enterprise_id = fields.Function(lambda a: a.request.enterprise_id)
    enterprise_name = fields.Function(lambda a: a.request.enterprise.name)
    uscc = fields.Function(lambda a: a.request.enterprise.uscc)
    tier = fields.Function(lambda a: a.request.tier_at_request.value)
    product_id = fields.Function(lambda a: a.offer.product_id)
    product_name = fields.Function(lambda a: a.offer.product_name)
    amount = fields.Function(lambda a: f"{a.request.amount:.2f}")
    term_months = fields.Function(lambda a: a.request.term_months)
    purpose = fields.Function(lambda a: a.request.purpose)
    offered_interest_rate = Rate(attribute="offer.interest_rate")
    offered_amount = Money(attribute="offer.amount")
    offered_rate_spread_bp = fields.Integer(attribute="offer.rate_spread_bp")
    offered_guarantee_fee_rate = Rate(attribute="offer.guarantee_fee_rate")
    offered_all_in_rate = Rate(attribute="offer.all_in_rate")
    approved_amount = Money(allow_none=True)
    rate_spread_bp = fields.Integer(allow_none=True)
    interest_rate = Rate(allow_none=True)
    reason = fields.String(allow_none=True, metadata={
        "description": "The bank's reason for its decision, or the guarantee agency's for refusing the guarantee."})
    respond_by = fields.Date(allow_none=True, metadata={
        "description": "The bank answers by this date (RESPONSE_WORKING_DAYS working days after routing)."})
    created_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)


class ApplicationDetailOut(ApplicationOut):
    timeline = fields.Function(lambda a: _timeline(a.request), metadata={"description": "What happened, in order."})


class ApplicationQuery(ma.Schema):
    status = fields.Enum(ApplicationStatus, by_value=True)


class LoanGuaranteeOut(ma.Schema):
    id = fields.Integer()
    agreement_id = fields.Integer()
    status = fields.String()
    amount = Money()
    list_fee_rate = Rate()
    fee_rate = Rate()
    fee_subsidy_rate = Rate(attribute="subsidy_rate")
    fee_days = fields.Integer(allow_none=True)
    list_fee = Money(allow_none=True, metadata={"description": "The fee before fee-reduction rules."})
    fee_charged = Money(allow_none=True, metadata={"description": "What the enterprise pays."})
    fiscal_subsidy = Money(allow_none=True, metadata={"description": "降费奖补 the fiscal fund pays the agency."})
    agency_fee_income = fields.Function(
        lambda g: None if g.fee_charged is None else f"{g.fee_charged + g.fiscal_subsidy:.2f}")
    applied_rules = fields.List(fields.Dict())


class LoanOut(ma.Schema):
    id = fields.Integer()
    status = fields.Enum(LoanStatus, by_value=True)
    application_id = fields.Integer()
    bank_id = fields.Integer()
    enterprise_id = fields.Integer()
    product_id = fields.Integer()
    principal = Money()
    outstanding = Money()
    term_months = fields.Integer()
    interest_rate = Rate()
    guarantee = fields.Method("_guarantee", metadata={"description": "The guarantee, for guaranteed loans."})
    defaults = fields.Method("_defaults", metadata={"description": "How the loss was shared on default."})
    recoveries = fields.Method("_recoveries", metadata={"description": "How each recovery was shared back."})
    journal_refs = fields.Method("_journal", metadata={"description": "The loan's journal entries."})
    timeline = fields.Function(lambda loan: _timeline(loan.application.request), metadata={
        "description": "What happened to the request behind the loan, from filing on, in order."})
    disbursed_on = fields.Date(allow_none=True)
    contract_no = fields.String(allow_none=True)
    repayment_method = fields.Enum(Method, by_value=True, allow_none=True)
    interest_paid = Money()
    principal_repaid = Money()
    renews_loan_id = fields.Integer(allow_none=True, metadata={"description": "The loan this one renews."})
    claims = fields.Method("_claims", metadata={"description": "Compensation claims on the loan (review mode)."})
    created_at = fields.DateTime()

    def _claims(self, loan):
        from guarantees.claims import claims_of_loan
        from guarantees.schemas import ClaimOut

        return ClaimOut(many=True).dump(claims_of_loan(loan.id))

    def _guarantee(self, loan):
        from guarantees.services import guarantee_of_loan

        guarantee = guarantee_of_loan(loan.id)
        if guarantee is None:
            return None
        return LoanGuaranteeOut().dump(guarantee)

    def _defaults(self, loan):
        from guarantees.models import LossAllocation
        from marketplace.ledger.schemas import AllocationOut

        return AllocationOut(many=True).dump(db.session.scalars(
            select(LossAllocation).where(LossAllocation.loan_id == loan.id)))

    def _recoveries(self, loan):
        from guarantees.models import RecoveryAllocation
        from marketplace.ledger.schemas import RecoveryOut

        return RecoveryOut(many=True).dump(db.session.scalars(
            select(RecoveryAllocation).where(RecoveryAllocation.loan_id == loan.id).order_by(RecoveryAllocation.id)))

    def _journal(self, loan):
        from marketplace.ledger.models import JournalEntry

        return [{"entry_id": e.id, "kind": e.kind.value, "occurred_on": e.occurred_on.isoformat(),
                 "ref": e.ref} for e in db.session.scalars(
            select(JournalEntry).where(JournalEntry.ref == f"loan:{loan.id}").order_by(JournalEntry.id))]


class LoanEventIn(ma.Schema):
    type = fields.Enum(LoanEventType, by_value=True, required=True)
    amount = Money(load_default=None, allow_none=True)
    occurred_on = BusinessDate(required=True)
    contract_no = Text(load_default=None, allow_none=True, max_length=60, metadata={
        "description": "disbursed: the loan contract's number (借款合同编号)."})
    repayment_method = fields.Enum(Method, by_value=True, load_default=None, allow_none=True, metadata={
        "description": "disbursed: how it is repaid; the product type's default when left out."})
    new_loan_id = Id(load_default=None, allow_none=True, metadata={
        "description": "renewed: the approved loan that renews this one (无还本续贷)."})

    @ma.validates_schema
    def _renewal_names_its_loan(self, data, **kwargs):
        if data.get("type") is LoanEventType.RENEWED and data.get("new_loan_id") is None:
            raise ma.ValidationError({"new_loan_id": [_("Name the loan that renews this one.")]})


class LoanEventOut(ma.Schema):
    id = fields.Integer()
    loan_id = fields.Integer()
    type = fields.Enum(LoanEventType, by_value=True)
    amount = Money()
    occurred_on = fields.Date()
    interest = Money(allow_none=True, metadata={"description": "repayment: the part that paid interest."})
    principal = Money(allow_none=True, metadata={"description": "repayment: the part that paid principal."})
    new_loan_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class PeriodOut(ma.Schema):
    period = fields.Function(lambda s: s.period.number)
    due_on = fields.Function(lambda s: s.period.due_on.isoformat())
    principal = fields.Function(lambda s: f"{s.period.principal:.2f}")
    interest = fields.Function(lambda s: f"{s.period.interest:.2f}")
    total = fields.Function(lambda s: f"{s.period.total:.2f}")
    outstanding_after = fields.Function(lambda s: f"{s.period.outstanding_after:.2f}")
    paid = fields.Function(lambda s: f"{s.paid:.2f}")
    status = fields.Function(lambda s: s.status)


class ScheduleOut(ma.Schema):
    loan_id = fields.Integer()
    method = fields.String()
    annual_rate = Rate()
    disbursed_on = fields.Date(allow_none=True)
    interest_paid = Money()
    principal_repaid = Money()
    next_due = fields.Nested(PeriodOut, allow_none=True)
    periods = fields.List(fields.Nested(PeriodOut))
