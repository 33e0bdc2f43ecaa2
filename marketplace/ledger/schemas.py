import marshmallow as ma
from flask_babel import gettext as _
from marshmallow import fields, validate

from marketplace.fields import BusinessDate, Money, Rate, Text


class AccountOut(ma.Schema):
    id = fields.Integer()
    code = fields.String()
    owner = fields.String()
    party = fields.String()
    party_id = fields.Integer()
    purpose = fields.String()
    balance = fields.String(metadata={"description": "Signed: debits (money received) positive, credits negative."})


class TrialBalanceOut(ma.Schema):
    total_debits = Money()
    total_credits = Money()
    balanced = fields.Boolean()
    accounts = fields.List(fields.Nested(AccountOut))


class PostingOut(ma.Schema):
    account_id = fields.Integer()
    account = fields.String(attribute="account.code")
    amount = fields.Function(lambda p: f"{p.amount:.2f}", metadata={"description": "Debit positive, credit negative."})


class EntryOut(ma.Schema):
    id = fields.Integer()
    kind = fields.String()
    ref = fields.String()
    idempotency_key = fields.String()
    occurred_on = fields.Date()
    memo = fields.String()
    reverses_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    postings = fields.List(fields.Nested(PostingOut))


class AccountEntryOut(ma.Schema):
    entry_id = fields.Integer()
    kind = fields.String()
    ref = fields.String()
    occurred_on = fields.Date()
    memo = fields.String()
    amount = fields.String()


class JournalQuery(ma.Schema):
    ref = Text(max_length=60, metadata={"description": "loan:42, risk_pool:3, …"})
    date_from = BusinessDate(data_key="from")
    date_to = BusinessDate(data_key="to")

    @ma.validates_schema
    def _ordered(self, data, **kwargs):
        if data.get("date_from") and data.get("date_to") and data["date_to"] < data["date_from"]:
            raise ma.ValidationError({"to": [_("The range cannot end before it starts.")]})


class ExportQuery(JournalQuery):
    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))


class ReverseIn(ma.Schema):
    occurred_on = BusinessDate(required=True)
    memo = Text(required=True, min_length=1, max_length=500)


class AllocationOut(ma.Schema):
    loan_id = fields.Integer()
    occurred_on = fields.Date()
    loss = Money()
    bank_borne = Money()
    beyond_cap = Money()
    agency_compensation = Money()
    agency_net = Money()
    reguarantee = Money()
    risk_pool_paid = Money()
    risk_pool_claim = Money()


class RecoveryOut(ma.Schema):
    loan_id = fields.Integer()
    occurred_on = fields.Date()
    amount = Money()
    bank = Money()
    agency = Money()
    reguarantee = Money()
    risk_pool = Money()


class StatementOut(ma.Schema):
    agreement_id = fields.Integer()
    code = fields.String()
    status = fields.String()
    guaranteed_total = Money()
    compensated_total = Money()
    compensation_rate = Rate()
    compensation_cap_rate = Rate()
    compensation_room = Money(metadata={"description": "What the cap still lets the agency compensate."})
    loans_charged = fields.Integer()
    list_fees = Money()
    fees_charged = Money()
    fiscal_subsidies = Money()
    agency_fee_income = Money()
    defaults = fields.List(fields.Nested(AllocationOut))
    recoveries = fields.List(fields.Nested(RecoveryOut))


class StatementExportQuery(ma.Schema):
    format = fields.String(load_default="xlsx", validate=validate.OneOf(["csv", "xlsx"]))
