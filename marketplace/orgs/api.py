"""Banks and agencies (admin creates; anyone signed in lists them) and enterprises (register; admin certifies)."""

from flask.views import MethodView
from flask_babel import gettext as _
from sqlalchemy import select

from marketplace import db
from marketplace.api import Blueprint, page_of, paginate
from marketplace.auth.access import api_roles, api_user
from marketplace.auth.models import Role
from marketplace.errors import NotFound
from marketplace.orgs import schemas, services
from marketplace.orgs.models import Agency, Bank, Enterprise

blp = Blueprint("orgs", __name__, url_prefix="/api/v1", description="Banks and guarantee agencies")


@blp.route("/banks")
class Banks(MethodView):
    @api_roles()
    @blp.response(200, schemas.BankAdminOut(many=True))
    @paginate(blp)
    def get(self, pagination_parameters):
        """List banks (their systems' addresses are shown to the admin only)."""
        banks = page_of(select(Bank).order_by(Bank.id), pagination_parameters)
        if api_user().role is Role.ADMIN:
            return banks
        return schemas.BankOut(many=True).dump(banks)

    @api_roles(Role.ADMIN)
    @blp.arguments(schemas.BankIn)
    @blp.response(201, schemas.BankCreatedOut)
    def post(self, data):
        """Register a bank; the callback secret is in this response only."""
        bank = services.create_bank(**data)
        return bank


@blp.route("/agencies")
class Agencies(MethodView):
    @api_roles()
    @blp.response(200, schemas.AgencyOut(many=True))
    @paginate(blp)
    def get(self, pagination_parameters):
        """List guarantee agencies."""
        return page_of(select(Agency).order_by(Agency.id), pagination_parameters)

    @api_roles(Role.ADMIN)
    @blp.arguments(schemas.AgencyIn)
    @blp.response(201, schemas.AgencyOut)
    def post(self, data):
        """Register a guarantee agency (`provincial` ones can act as re-guarantors)."""
        agency = services.create_agency(**data)
        return agency


@blp.route("/enterprises/register")
class EnterpriseRegistration(MethodView):
    @blp.doc(security=[])
    @blp.arguments(schemas.RegistrationIn)
    @blp.response(201, schemas.RegistrationOut)
    def post(self, data):
        """Register an enterprise and its first user. The tier comes from the province's registry, never from here."""
        enterprise, user = services.register_enterprise(data)
        return {"id": enterprise.id, "uscc": enterprise.uscc, "name": enterprise.name, "tier": enterprise.tier,
                "user_id": user.id}


@blp.route("/enterprises")
class Enterprises(MethodView):
    @api_roles(Role.ADMIN)
    @blp.response(200, schemas.EnterpriseOut(many=True))
    @paginate(blp)
    def get(self, pagination_parameters):
        """List registered enterprises with the tier in force."""
        return page_of(select(Enterprise).order_by(Enterprise.id), pagination_parameters)


@blp.route("/enterprises/<int:enterprise_id>")
class EnterpriseById(MethodView):
    @api_roles(Role.ADMIN, Role.ENTERPRISE)
    @blp.response(200, schemas.EnterpriseOut)
    def get(self, enterprise_id):
        """One enterprise (the admin, or the enterprise itself)."""
        return _visible_enterprise(enterprise_id)


@blp.route("/enterprises/<int:enterprise_id>/tier")
class EnterpriseTier(MethodView):
    @api_roles(Role.ADMIN)
    @blp.arguments(schemas.TierIn)
    @blp.response(200, schemas.EnterpriseOut)
    def put(self, data, enterprise_id):
        """Set an enterprise's certified tier (梯度) and how long it is valid."""
        enterprise = _visible_enterprise(enterprise_id)
        services.certify(enterprise.uscc, data["tier"], data["valid_until"], by_user_id=api_user().id)
        db.session.refresh(enterprise)
        return enterprise


def _visible_enterprise(enterprise_id: int) -> Enterprise:
    user = api_user()
    enterprise = db.session.get(Enterprise, enterprise_id)
    if enterprise is None or (user.role is Role.ENTERPRISE and user.organization_id != enterprise_id):
        raise NotFound(_("No enterprise %(id)d.", id=enterprise_id))
    return enterprise
