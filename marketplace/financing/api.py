"""Financing requests and offers (enterprise), applications (bank) and loans."""

from flask import request
from flask.views import MethodView

from marketplace.api import Blueprint, page_of, paginate
from marketplace.auth.access import api_roles, api_user
from marketplace.auth.models import Role
from marketplace.dates import business_today
from marketplace.errors import NotFound
from marketplace.financing import schemas, services
from marketplace.financing.loans import Details, record_event, schedule_of
from marketplace.financing.models import Application, FinancingRequest
from marketplace.idempotency import HEADER, idempotent

blp = Blueprint("financing_api", __name__, url_prefix="/api/v1",
                description="Financing requests, offers, applications and loans")


@blp.route("/financing-requests")
class FinancingRequests(MethodView):
    @api_roles(Role.ENTERPRISE, Role.ADMIN)
    @blp.response(200, schemas.FinancingRequestOut(many=True))
    @paginate(blp)
    def get(self, pagination_parameters):
        """Your enterprise's requests, newest first (the admin sees all)."""
        query = services.visible_requests(api_user()).order_by(FinancingRequest.id.desc())
        return page_of(query, pagination_parameters)

    @api_roles(Role.ENTERPRISE)
    @idempotent(blp)
    @blp.arguments(schemas.FinancingRequestIn)
    @blp.response(201, schemas.FinancingRequestOut)
    def post(self, data):
        """File a financing request and get ranked offers with their all-in cost, and why others were left out."""
        request = services.create_request(api_user(), data)
        return request


@blp.route("/financing-requests/<int:request_id>")
class FinancingRequestById(MethodView):
    @api_roles(Role.ENTERPRISE, Role.ADMIN)
    @blp.response(200, schemas.FinancingRequestOut)
    def get(self, request_id):
        """One request with its offers and, once routed, its application."""
        return services.get_request(api_user(), request_id)


@blp.route("/financing-requests/<int:request_id>/select")
class SelectOffer(MethodView):
    @api_roles(Role.ENTERPRISE)
    @blp.arguments(schemas.SelectIn)
    @blp.response(200, schemas.FinancingRequestOut)
    def post(self, data, request_id):
        """Choose an offer: the request is routed to that bank as an application."""
        request = services.get_request(api_user(), request_id, for_change=True)
        services.select_offer(request, data["offer_id"], api_user())
        return request


@blp.route("/financing-requests/<int:request_id>/withdraw")
class WithdrawRequest(MethodView):
    @api_roles(Role.ENTERPRISE)
    @blp.response(200, schemas.FinancingRequestOut)
    def post(self, request_id):
        """Withdraw a request before the bank decides."""
        request = services.withdraw(services.get_request(api_user(), request_id, for_change=True), user=api_user())
        return request


@blp.route("/applications")
class Applications(MethodView):
    @api_roles(Role.BANK, Role.AGENCY, Role.ADMIN)
    @blp.arguments(schemas.ApplicationQuery, location="query")
    @blp.response(200, schemas.ApplicationOut(many=True))
    @paginate(blp)
    def get(self, query, pagination_parameters):
        """Your bank's applications (an agency: those it guarantees), oldest first (filter by status)."""
        select_ = services.visible_applications(api_user()).order_by(Application.id)
        if "status" in query:
            select_ = select_.where(Application.status == query["status"])
        return page_of(select_, pagination_parameters)


@blp.route("/applications/<int:application_id>")
class ApplicationById(MethodView):
    @api_roles(Role.BANK, Role.AGENCY, Role.ADMIN)
    @blp.response(200, schemas.ApplicationDetailOut)
    def get(self, application_id):
        """One application with its timeline, to its bank, the agency guaranteeing it, and the admin."""
        return services.get_application(api_user(), application_id)


@blp.route("/applications/<int:application_id>/counter-offer/accept")
class AcceptCounter(MethodView):
    @api_roles(Role.ENTERPRISE)
    @blp.response(200, schemas.DecisionOut)
    def post(self, application_id):
        """Accept the bank's counter-offer: the application goes on as an approval at its terms would (a loan, or a
        guarantee placed with quota reserved; 409 when the agreement can no longer take it)."""
        user = api_user()
        return services.accept_counter(services.get_own_application(user, application_id), user)


@blp.route("/applications/<int:application_id>/counter-offer/decline")
class DeclineCounter(MethodView):
    @api_roles(Role.ENTERPRISE)
    @blp.arguments(schemas.CounterDeclineIn)
    @blp.response(200, schemas.DecisionOut)
    def post(self, data, application_id):
        """Decline the bank's counter-offer; another offer of the request may then be chosen while valid."""
        user = api_user()
        return services.decline_counter(services.get_own_application(user, application_id), user, data["reason"])


@blp.route("/applications/<int:application_id>/decision")
class Decision(MethodView):
    @api_roles(Role.BANK)
    @blp.arguments(schemas.DecisionIn)
    @blp.response(200, schemas.DecisionOut)
    def post(self, data, application_id):
        """Approve (creating the loan, for offers without a guarantee) or decline with a reason."""
        return services.decide(services.get_application(api_user(), application_id), api_user(), data)


@blp.route("/loans/<int:loan_id>")
class LoanById(MethodView):
    @api_roles(Role.BANK, Role.ENTERPRISE, Role.ADMIN)
    @blp.response(200, schemas.LoanOut)
    def get(self, loan_id):
        """A loan, to its bank, its enterprise and the admin."""
        return services.get_loan(api_user(), loan_id)


@blp.route("/loans/<int:loan_id>/events")
class LoanEvents(MethodView):
    @api_roles(Role.BANK)
    @idempotent(blp)
    @blp.arguments(schemas.LoanEventIn)
    @blp.response(201, schemas.LoanEventOut)
    def post(self, data, loan_id):
        """Report what happened to the loan: `disbursed` (the guarantee fee is posted and reserved quota becomes
        outstanding), `repayment` (releases quota), `overdue`, `default` (the loss is shared as the agreement
        says, up to its compensation cap) or `recovery` (shared back as the loss was borne)."""
        user = api_user()
        loan = services.get_loan(user, loan_id)
        if loan.bank_id != user.organization_id:
            raise NotFound()
        details = Details(contract_no=data["contract_no"], repayment_method=data["repayment_method"],
                          new_loan_id=data["new_loan_id"])
        return record_event(loan, user, data["type"], data["amount"], data["occurred_on"],
                            key=request.headers.get(HEADER), details=details)


@blp.route("/loans/<int:loan_id>/schedule")
class LoanSchedule(MethodView):
    @api_roles(Role.BANK, Role.ENTERPRISE, Role.ADMIN)
    @blp.response(200, schemas.ScheduleOut)
    def get(self, loan_id):
        """The repayment schedule from disbursement: monthly periods (rate ÷ 12; a revolving line's interest by day,
        ÷ 360, on the drawn balance), each with what has been paid of it and where it stands."""
        return schedule_of(services.get_loan(api_user(), loan_id), business_today())
