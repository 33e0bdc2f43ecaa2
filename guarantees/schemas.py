from decimal import Decimal

import marshmallow as ma
from flask_babel import gettext as _
from flask_smorest.fields import Upload
from marshmallow import fields, validate

from guarantees.claims import paid_on_time
from guarantees.models import AgreementStatus, ClaimMode, ClaimStatus
from guarantees.settlement import claims_outstanding
from marketplace.dates import business_today
from marketplace.fields import BusinessDate, EnglishName, Id, Money, Rate, Text, file_present
from marketplace.ledger.schemas import AllocationOut
from marketplace.orgs.models import Tier
from products.models import ProductType

CODE = validate.Regexp(r"^[A-Za-z0-9_.-]{2,60}$", error="Use 2 to 60 letters, digits, '.', '-' or '_'.")
MIN_BANK_SHARE = Decimal("0.20")
MAX_FEE_RATE = Decimal("0.03")


class SharesSchema(ma.Schema):
    agency = Rate(required=True)
    bank = Rate(required=True)
    reguarantee = Rate(required=True)
    risk_pool = Rate(required=True)


class AgreementIn(ma.Schema):
    code = Text(required=True, max_length=60, validate=CODE)
    bank_id = Id(required=True)
    valid_from = BusinessDate(required=True)
    valid_to = BusinessDate(required=True)
    total_quota = Money(required=True)
    per_enterprise_cap = Money(required=True)
    per_loan_cap = Money(required=True)
    fee_rate = Rate(required=True)
    shares = fields.Nested(SharesSchema, required=True)
    reguarantor_id = Id(load_default=None, allow_none=True)
    risk_pool_id = Id(load_default=None, allow_none=True)
    compensation_cap_rate = Rate(load_default=Decimal("0.03"))
    eligible_tiers = fields.List(fields.Enum(Tier, by_value=True), required=True,
                                 validate=validate.Length(min=1, max=len(Tier)))
    eligible_product_types = fields.List(fields.Enum(ProductType, by_value=True), required=True,
                                         validate=validate.Length(min=1, max=len(ProductType)))
    batch_max_size = fields.Integer(load_default=500, strict=True, validate=validate.Range(min=1, max=10_000))
    auto_approve_below = Money(load_default=None, allow_none=True)
    review_sla_days = fields.Integer(load_default=None, allow_none=True, strict=True,
                                     validate=validate.Range(min=1, max=365))
    claim_mode = fields.Enum(ClaimMode, by_value=True, load_default=ClaimMode.AUTOMATIC, metadata={
        "description": "automatic: a default settles at once; review: the bank files a claim the agency decides."})
    claim_review_days = fields.Integer(load_default=10, strict=True, validate=validate.Range(min=1, max=60), metadata={
        "description": "Working days the agency has to decide a claim (review mode)."})

    @ma.validates("valid_from")
    def _not_in_the_past(self, value, **kwargs):
        # An agreement binds from when it is made (or resubmitted) on: it cannot cover loans made before that.
        if value < (today := business_today()):
            raise ma.ValidationError(_("The start date cannot be before today (%(today)s).", today=today.isoformat()))

    @ma.validates_schema(skip_on_field_errors=False)
    def _rules(self, data, **kwargs):
        errors: dict[str, list[str]] = {}
        shares = data.get("shares")
        if shares and len(shares) == 4:
            if sum(shares.values()) != 1:
                errors["shares"] = [_("The shares must add up to exactly 1; they add up to %(total)s.",
                                      total=str(sum(shares.values())))]
            elif shares["bank"] < MIN_BANK_SHARE:
                errors["shares.bank"] = [_("The bank keeps at least 0.20 of each loss (国融担〔2020〕23号).")]
        if data.get("fee_rate") is not None and data["fee_rate"] > MAX_FEE_RATE:
            errors["fee_rate"] = [_("A guarantee fee rate is at most 0.03 (3 %) a year.")]
        for cap in ("total_quota", "per_enterprise_cap", "per_loan_cap"):
            if data.get(cap) is not None and data[cap] <= 0:
                errors[cap] = [_("Must be above zero.")]
        quota, per_enterprise, per_loan = (data.get(c) for c in ("total_quota", "per_enterprise_cap", "per_loan_cap"))
        if per_loan is not None and per_enterprise is not None and per_loan > per_enterprise:
            errors.setdefault("per_loan_cap", []).append(
                _("A loan's cap cannot be above the cap per enterprise (%(cap)s).", cap=f"{per_enterprise:,.2f}"))
        if per_enterprise is not None and quota is not None and per_enterprise > quota:
            errors.setdefault("per_enterprise_cap", []).append(
                _("The cap per enterprise cannot be above the total quota (%(quota)s).", quota=f"{quota:,.2f}"))
        if data.get("valid_from") and data.get("valid_to") and data["valid_from"] > data["valid_to"]:
            errors["valid_to"] = [_("The end date cannot be before the start date.")]
        if errors:
            raise ma.ValidationError(errors)


class AgreementTermsIn(AgreementIn):
    """A returned agreement's amended terms: all of a new agreement's but its code and bank, which stay."""

    class Meta:
        exclude = ("code", "bank_id")


class ReturnIn(ma.Schema):
    reason = Text(required=True, max_length=1000, multiline=True, metadata={
        "description": "Why the bank does not countersign: the agency reads it, amends the terms and resubmits."})

    @ma.validates("reason")
    def _said(self, value: str, **kwargs) -> None:
        if not value.strip():
            raise ma.ValidationError(_("Say why you return the agreement: the agency reads the reason and amends "
                                       "the terms."))

    @ma.post_load
    def _trimmed(self, data, **kwargs):
        return {**data, "reason": data["reason"].strip()}


def _on_time(agreement) -> dict:
    figures = paid_on_time([agreement.id]).get(agreement.id)
    return {"paid": figures.paid if figures else 0, "on_time": figures.paid_on_time if figures else 0,
            "share": None if figures is None or figures.share is None else str(figures.share)}


class AgreementOut(ma.Schema):
    id = fields.Integer()
    code = fields.String()
    agency_id = fields.Integer()
    agency_name = fields.Function(lambda a: a.agency.name)
    bank_id = fields.Integer()
    bank_name = fields.Function(lambda a: a.bank.name)
    valid_from = fields.Date()
    valid_to = fields.Date()
    total_quota = Money()
    per_enterprise_cap = Money()
    per_loan_cap = Money()
    fee_rate = Rate()
    shares = fields.Function(lambda a: {"agency": _rate(a.share_agency), "bank": _rate(a.share_bank),
                                        "reguarantee": _rate(a.share_reguarantee),
                                        "risk_pool": _rate(a.share_risk_pool)})
    reguarantor_id = fields.Integer(allow_none=True)
    risk_pool_id = fields.Integer(allow_none=True)
    compensation_cap_rate = Rate()
    eligible_tiers = fields.List(fields.String())
    eligible_product_types = fields.List(fields.String())
    batch_max_size = fields.Integer()
    auto_approve_below = Money(allow_none=True)
    review_sla_days = fields.Integer(allow_none=True)
    claim_mode = fields.Enum(ClaimMode, by_value=True)
    claim_review_days = fields.Integer()
    status = fields.Enum(AgreementStatus, by_value=True, attribute="effective_status",
                         metadata={"description": "Past valid_to an active or suspended agreement counts as expired."})
    quota_reserved = Money()
    quota_outstanding = Money()
    quota_available = Money()
    guaranteed_total = Money()
    compensated_total = Money()
    compensation_rate = Rate()
    countersigned_at = fields.DateTime(allow_none=True)
    return_reason = fields.String(allow_none=True, metadata={
        "description": "Why the bank last returned the agreement to the agency (status returned), if it ever did."})
    returned_at = fields.DateTime(allow_none=True)
    claims_paid_on_time = fields.Function(_on_time, metadata={
        "description": "Claims paid, and the share of them paid within claim_review_days (review mode)."})


def _rate(value: Decimal) -> str:
    return Rate()._serialize(value, None, None)


class RiskPoolIn(ma.Schema):
    name = Text(required=True, min_length=1, max_length=200)
    name_en = EnglishName()
    region_code = Text(required=True, max_length=6, validate=validate.Regexp(
        r"^\d{2}(\d{2}){0,2}$", error="A region is a GB/T 2260 code or prefix of 2, 4 or 6 digits."))
    cap_per_loss = Money(load_default=None, allow_none=True,
                         metadata={"description": "The most the pool pays towards one loss; leave out for no limit."})

    @ma.validates("cap_per_loss")
    def _cap_positive(self, value, **kwargs):
        if value is not None and value <= 0:
            raise ma.ValidationError(_("A cap is above zero; leave it empty for no limit."))


class RiskPoolOut(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    name_en = fields.String(allow_none=True)
    region_code = fields.String()
    cap_per_loss = Money(allow_none=True)
    balance = Money()
    deposited = Money()
    paid_out = Money(metadata={"description": "Paid to agencies towards losses, claims included once paid."})
    recovered = Money(metadata={"description": "The pool's share of recoveries."})
    claims_outstanding = fields.Function(lambda pool: f"{claims_outstanding(pool.id):.2f}", metadata={
        "description": "What the pool owes towards losses and could not pay yet; its next money pays it first."})


class DepositIn(ma.Schema):
    amount = Money(required=True)
    deposited_on = BusinessDate(load_default=None, allow_none=True, metadata={"description": "Default: today."})

    @ma.validates("amount")
    def _positive(self, value, **kwargs):
        if value <= 0:
            raise ma.ValidationError(_("Deposit an amount above zero."))


class DepositOut(ma.Schema):
    id = fields.Integer()
    pool_id = fields.Integer()
    amount = Money()
    deposited_on = fields.Date()
    claims_paid = Money(metadata={"description": "What of the deposit paid earlier claims."})
    created_at = fields.DateTime()


class BatchItemOut(ma.Schema):
    guarantee_id = fields.Integer()
    application_id = fields.Integer()
    loan_id = fields.Integer(allow_none=True)
    enterprise_name = fields.String()
    uscc = fields.String()
    tier = fields.String()
    amount = Money()
    term_months = fields.Integer()
    product_name = fields.String()
    fee_rate = Rate()
    status = fields.String()
    reason = fields.String(allow_none=True)


class BatchSummaryOut(ma.Schema):
    id = fields.Integer()
    agreement_id = fields.Integer()
    status = fields.String()
    item_count = fields.Integer()
    total_amount = Money()
    created_at = fields.DateTime()
    submitted_at = fields.DateTime(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)


class BatchOut(BatchSummaryOut):
    items = fields.List(fields.Nested(BatchItemOut))


class BatchQuery(ma.Schema):
    status = fields.String(validate=validate.OneOf(["open", "submitted", "decided"]))
    agreement_id = Id(strict=False)


class ExclusionIn(ma.Schema):
    guarantee_id = Id(required=True)
    reason = Text(required=True, min_length=1, max_length=1000, multiline=True)


class BatchDecisionIn(ma.Schema):
    exclusions = fields.List(fields.Nested(ExclusionIn), load_default=list)

    @ma.validates("exclusions")
    def _once_each(self, value, **kwargs):
        # Items that failed their own validation arrive without their id; they are reported already.
        ids = [item["guarantee_id"] for item in value if "guarantee_id" in item]
        if len(ids) != len(set(ids)):
            raise ma.ValidationError(_("Exclude each item once."))


class ExportQuery(ma.Schema):
    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))


class ClaimDocumentOut(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    size = fields.Integer()
    content_type = fields.String()
    uploaded_at = fields.DateTime()


class ClaimOut(ma.Schema):
    id = fields.Integer()
    loan_id = fields.Integer()
    agreement_id = fields.Integer()
    agreement_code = fields.Function(lambda c: c.agreement.code)
    bank_id = fields.Integer()
    agency_id = fields.Function(lambda c: c.agreement.agency_id)
    amount = Money()
    note = fields.String(allow_none=True)
    filed_on = fields.Date()
    due_by = fields.Date(metadata={"description": "The last working day for the agency's decision."})
    overdue = fields.Function(lambda c: c.overdue_on is not None or (
        c.status is ClaimStatus.FILED and c.due_by < business_today()), metadata={
        "description": "Still undecided past due_by."})
    status = fields.Enum(ClaimStatus, by_value=True)
    decided_at = fields.DateTime(allow_none=True)
    reason = fields.String(allow_none=True)
    documents = fields.List(fields.Nested(ClaimDocumentOut))
    allocation = fields.Method("_allocation", allow_none=True, metadata={
        "description": "How the loss was shared once paid (the shape of a loan's defaults item)."})

    def _allocation(self, claim):
        return None if claim.allocation is None else AllocationOut().dump(claim.allocation)


class ClaimDocumentUpload(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    file = Upload(required=True, validate=file_present, metadata={
        "description": "The evidence: a PDF, JPEG or PNG file."})


class ClaimDecisionIn(ma.Schema):
    decision = fields.String(required=True, validate=validate.OneOf(["pay", "reject"]))
    reason = Text(load_default=None, allow_none=True, max_length=1000)


class ClaimIn(ma.Schema):
    amount = Money(required=True)
    note = Text(load_default=None, allow_none=True, max_length=1000)


class ClaimQuery(ma.Schema):
    status = fields.Enum(ClaimStatus, by_value=True, load_default=None)
    agreement_id = Id(strict=False, load_default=None)
