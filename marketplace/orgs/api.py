"""Banks and agencies (admin creates; anyone signed in can list them)."""

from flask.views import MethodView
from sqlalchemy import select

from marketplace import db
from marketplace.api import Blueprint, page_of, paginate
from marketplace.auth.access import api_roles, api_user
from marketplace.auth.models import Role
from marketplace.orgs import schemas, services
from marketplace.orgs.models import Agency, Bank

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
        db.session.commit()
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
        db.session.commit()
        return agency
