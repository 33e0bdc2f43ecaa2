"""总对总 agreements (agency proposes, bank countersigns) and risk pools (admin)."""

from flask import current_app, request
from flask.views import MethodView
from sqlalchemy import select
from sqlalchemy.orm import lazyload

from guarantees import claims, reports, schemas, services
from guarantees.models import Agreement, AgreementStatus, Batch, Claim, PoolDeposit, RiskPool
from guarantees.settlement import deposit
from marketplace import spreadsheets
from marketplace.api import Blueprint, page_of, paginate
from marketplace.auth.access import api_roles, api_user
from marketplace.auth.models import Role
from marketplace.dates import business_today
from marketplace.errors import Forbidden
from marketplace.financing import services as financing
from marketplace.financing.loans import file_claim
from marketplace.idempotency import HEADER, idempotent

blp = Blueprint("guarantees_api", __name__, url_prefix="/api/v1",
                description="Guarantee agreements, batches and risk pools")


@blp.route("/agreements")
class Agreements(MethodView):
    @api_roles(Role.AGENCY, Role.BANK, Role.ADMIN)
    @blp.response(200, schemas.AgreementOut(many=True))
    @paginate(blp)
    def get(self, pagination_parameters):
        """Agreements you are party to (the admin sees all)."""
        return page_of(services.visible_agreements(api_user()).order_by(Agreement.id), pagination_parameters)

    @api_roles(Role.AGENCY)
    @blp.arguments(schemas.AgreementIn)
    @blp.response(201, schemas.AgreementOut)
    def post(self, data):
        """Propose a 总对总 agreement to a bank; it is pending until the bank countersigns."""
        agreement = services.create_agreement(api_user().organization_id, data)
        return agreement


@blp.route("/agreements/<int:agreement_id>")
class AgreementById(MethodView):
    @api_roles(Role.AGENCY, Role.BANK, Role.ADMIN)
    @blp.response(200, schemas.AgreementOut)
    def get(self, agreement_id):
        """One agreement with its quota figures and compensation rate."""
        return services.get_agreement(api_user(), agreement_id)


def _transition(target: AgreementStatus, source: AgreementStatus, party: Role, summary: str):
    @api_roles(party)
    @blp.response(200, schemas.AgreementOut)
    def post(self, agreement_id):
        user = api_user()
        agreement = services.get_agreement(user, agreement_id)
        own = agreement.bank_id if party is Role.BANK else agreement.agency_id
        if own != user.organization_id:
            raise Forbidden()  # e.g. the re-guarantor, which sees the agreement but is not its party
        services.change_status(agreement, target, source)
        return agreement

    post.__doc__ = summary
    name = f"{source.value.title().replace('_', '')}To{target.value.title()}Agreement"
    return type(name, (MethodView,), {"post": post})


blp.route("/agreements/<int:agreement_id>/countersign")(_transition(
    AgreementStatus.ACTIVE, AgreementStatus.PENDING_BANK, Role.BANK,
    "The named bank countersigns: the agreement becomes active."))
blp.route("/agreements/<int:agreement_id>/suspend")(_transition(
    AgreementStatus.SUSPENDED, AgreementStatus.ACTIVE, Role.AGENCY,
    "The agency suspends the agreement: no new guarantees."))
blp.route("/agreements/<int:agreement_id>/resume")(_transition(
    AgreementStatus.ACTIVE, AgreementStatus.SUSPENDED, Role.AGENCY, "The agency resumes a suspended agreement."))
blp.route("/agreements/<int:agreement_id>/terminate")(_transition(
    AgreementStatus.TERMINATED, AgreementStatus.RETURNED, Role.AGENCY,
    "The agency gives up an agreement the bank returned: it is terminated."))


def _as_party(party: Role, agreement_id: int) -> Agreement:
    user = api_user()
    agreement = services.get_agreement(user, agreement_id)
    if (agreement.bank_id if party is Role.BANK else agreement.agency_id) != user.organization_id:
        raise Forbidden()  # e.g. the re-guarantor, which sees the agreement but is not its party
    return agreement


@blp.route("/agreements/<int:agreement_id>/return")
class ReturnAgreement(MethodView):
    @api_roles(Role.BANK)
    @blp.arguments(schemas.ReturnIn)
    @blp.response(200, schemas.AgreementOut)
    def post(self, data, agreement_id):
        """The named bank returns a pending agreement to the agency with a reason, instead of countersigning it."""
        return services.return_agreement(_as_party(Role.BANK, agreement_id), data["reason"])


@blp.route("/agreements/<int:agreement_id>/resubmit")
class ResubmitAgreement(MethodView):
    @api_roles(Role.AGENCY)
    @blp.arguments(schemas.AgreementTermsIn)
    @blp.response(200, schemas.AgreementOut)
    def post(self, data, agreement_id):
        """The agency amends a returned agreement (all terms but its code and bank, checked as a new agreement's)
        and sends it to the bank again: it awaits the bank's countersignature."""
        return services.resubmit_agreement(_as_party(Role.AGENCY, agreement_id), data)


@blp.route("/risk-pools")
class RiskPools(MethodView):
    @api_roles(Role.ADMIN, Role.AGENCY, Role.BANK)
    @blp.response(200, schemas.RiskPoolOut(many=True))
    @paginate(blp)
    def get(self, pagination_parameters):
        """Risk-compensation pools that agreements can name."""
        return page_of(select(RiskPool).order_by(RiskPool.id), pagination_parameters)

    @api_roles(Role.ADMIN)
    @blp.arguments(schemas.RiskPoolIn)
    @blp.response(201, schemas.RiskPoolOut)
    def post(self, data):
        """Set up a risk-compensation pool (风险补偿资金池)."""
        pool = services.create_risk_pool(data)
        return pool


@blp.route("/risk-pools/<int:pool_id>")
class RiskPoolById(MethodView):
    @api_roles(Role.ADMIN, Role.AGENCY, Role.BANK)
    @blp.response(200, schemas.RiskPoolOut)
    def get(self, pool_id):
        """One risk pool with its money: balance, deposited, paid out, recovered, and claims it still owes."""
        return services.get_risk_pool(pool_id)


@blp.route("/risk-pools/<int:pool_id>/deposits")
class Deposits(MethodView):
    @api_roles(Role.ADMIN)
    @blp.response(200, schemas.DepositOut(many=True))
    @paginate(blp)
    def get(self, pagination_parameters, pool_id):
        """The pool's deposits, newest first."""
        services.get_risk_pool(pool_id)
        return page_of(select(PoolDeposit).where(PoolDeposit.pool_id == pool_id).order_by(PoolDeposit.id.desc()),
                       pagination_parameters)

    @api_roles(Role.ADMIN)
    @idempotent(blp)
    @blp.arguments(schemas.DepositIn)
    @blp.response(201, schemas.DepositOut)
    def post(self, data, pool_id):
        """Pay government money into the pool; it settles the pool's open claims first, oldest first."""
        services.get_risk_pool(pool_id)
        made = deposit(pool_id, api_user(), data["amount"], data["deposited_on"] or business_today(),
                       request.headers.get(HEADER))
        return made


def _with_totals(batches: list[Batch], items: bool = False) -> list[dict]:
    totals = services.batch_totals([b.id for b in batches])
    return [{"id": b.id, "agreement_id": b.agreement_id, "status": b.status.value,
             "item_count": totals.get(b.id, (0, None))[0], "total_amount": totals.get(b.id, (0, None))[1] or 0,
             "created_at": b.created_at, "submitted_at": b.submitted_at, "decided_at": b.decided_at,
             **({"items": reports.batch_items(b.id)} if items else {})} for b in batches]


@blp.route("/batches")
class Batches(MethodView):
    @api_roles(Role.AGENCY, Role.ADMIN)
    @blp.arguments(schemas.BatchQuery, location="query")
    @blp.response(200, schemas.BatchSummaryOut(many=True))
    @paginate(blp)
    def get(self, query, pagination_parameters):
        """Your agreements' batches, oldest first (filter by status and agreement)."""
        # The list shows the batches' own columns: no agreement (with its bank and agency) joined in.
        select_ = services.visible_batches(api_user()).options(lazyload(Batch.agreement)).order_by(Batch.id)
        if "status" in query:
            select_ = select_.where(Batch.status == query["status"])
        if "agreement_id" in query:
            select_ = select_.where(Batch.agreement_id == query["agreement_id"])
        return _with_totals(page_of(select_, pagination_parameters))


@blp.route("/batches/<int:batch_id>")
class BatchById(MethodView):
    @api_roles(Role.AGENCY, Role.ADMIN)
    @blp.response(200, schemas.BatchOut)
    def get(self, batch_id):
        """One batch with its items."""
        return _with_totals([services.get_batch(api_user(), batch_id)], items=True)[0]


@blp.route("/batches/<int:batch_id>/export")
class BatchExport(MethodView):
    @api_roles(Role.AGENCY, Role.ADMIN)
    @blp.arguments(schemas.ExportQuery, location="query")
    @blp.response(200, content_type="text/csv")
    @blp.alt_response(200, content_type=spreadsheets.XLSX, description="With format=xlsx.", success=True)
    def get(self, query, batch_id):
        """A batch's items with a totals row (item count and amount), as CSV (UTF-8 with BOM) or XLSX."""
        batch = services.get_batch(api_user(), batch_id)
        return spreadsheets.download(reports.batch_table(batch), query["format"], f"batch_{batch.id}")


@blp.route("/batches/<int:batch_id>/submit")
class SubmitBatch(MethodView):
    @api_roles(Role.AGENCY)
    @blp.response(200, schemas.BatchOut)
    def post(self, batch_id):
        """Close an open batch for review now (见贷即保 items below the threshold are approved)."""
        batch = financing.submit_batch(services.get_batch(api_user(), batch_id))
        return _with_totals([batch], items=True)[0]


@blp.route("/batches/<int:batch_id>/decision")
class DecideBatch(MethodView):
    @api_roles(Role.AGENCY)
    @idempotent(blp)
    @blp.arguments(schemas.BatchDecisionIn)
    @blp.response(200, schemas.BatchOut)
    def post(self, data, batch_id):
        """Approve every item not excluded; excluded items are rejected with their reasons and their quota released."""
        batch = financing.decide_batch(services.get_batch(api_user(), batch_id), api_user(), data["exclusions"])
        return _with_totals([batch], items=True)[0]


# Compensation claims (代偿申请) ------------------------------------------------------------------------------------

@blp.route("/claims")
class Claims(MethodView):
    @api_roles(Role.AGENCY, Role.BANK, Role.ADMIN)
    @blp.arguments(schemas.ClaimQuery, location="query")
    @blp.response(200, schemas.ClaimOut(many=True))
    @paginate(blp)
    def get(self, query, pagination_parameters):
        """Claims on loans under your agreements (the agency and the bank; the admin sees all), oldest first."""
        selected = claims.visible_claims(api_user())
        if query["status"] is not None:
            selected = selected.where(Claim.status == query["status"])
        if query["agreement_id"] is not None:
            selected = selected.where(Claim.agreement_id == query["agreement_id"])
        return page_of(selected.order_by(Claim.id), pagination_parameters)


@blp.route("/claims/<int:claim_id>")
class ClaimById(MethodView):
    @api_roles(Role.AGENCY, Role.BANK, Role.ADMIN)
    @blp.response(200, schemas.ClaimOut)
    def get(self, claim_id):
        """One claim: its amount, deadline, evidence, and once paid how the loss was shared."""
        return claims.get_claim(api_user(), claim_id)


@blp.route("/claims/<int:claim_id>/documents")
class ClaimDocuments(MethodView):
    @api_roles(Role.BANK)
    @blp.arguments(schemas.ClaimDocumentUpload, location="files")
    @blp.response(201, schemas.ClaimDocumentOut)
    def post(self, data, claim_id):
        """Attach evidence to a filed claim: a PDF, JPEG or PNG, at most CLAIM_FILE_MAX_BYTES (413 beyond it; 422 when
        the content is not what its type says)."""
        user = api_user()
        claim = claims.get_claim(user, claim_id)
        upload = data["file"]
        return claims.attach(claim, user, upload.filename, upload.mimetype,
                             upload.read(current_app.config["CLAIM_FILE_MAX_BYTES"] + 1))


@blp.route("/claims/<int:claim_id>/documents/<int:document_id>")
class ClaimDocumentById(MethodView):
    @api_roles(Role.AGENCY, Role.BANK, Role.ADMIN)
    @blp.response(200, description="The file, as attached.")
    def get(self, claim_id, document_id):
        """Download a piece of evidence (the claim's bank and agency, and the admin)."""
        return claims.send_document(claims.get_document(api_user(), claim_id, document_id))


@blp.route("/claims/<int:claim_id>/decision")
class ClaimDecision(MethodView):
    @api_roles(Role.AGENCY)
    @idempotent(blp)
    @blp.arguments(schemas.ClaimDecisionIn)
    @blp.response(200, schemas.ClaimOut)
    def post(self, data, claim_id):
        """Pay (posting exactly what an automatic default posts) or refuse with a reason. A claim not filed → 409."""
        user = api_user()
        claim = claims.get_claim(user, claim_id)
        return claims.decide(claim, user, data["decision"], data["reason"])


@blp.route("/loans/<int:loan_id>/claims")
class LoanClaims(MethodView):
    @api_roles(Role.BANK)
    @idempotent(blp)
    @blp.arguments(schemas.ClaimIn)
    @blp.response(201, schemas.ClaimOut)
    def post(self, data, loan_id):
        """File a claim again after a refusal (the default files the first). The loan must be defaulted (409)."""
        user = api_user()
        loan = financing.get_loan(user, loan_id)
        return file_claim(loan, user, data["amount"], data["note"])
