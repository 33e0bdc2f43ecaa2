from flask.views import MethodView

from marketplace.api import Blueprint
from marketplace.auth.access import api_roles
from marketplace.auth.models import Role
from marketplace.lpr import schemas, services

blp = Blueprint("lpr", __name__, url_prefix="/api/v1", description="Loan prime rates (LPR)")


@blp.route("/lpr")
class Lpr(MethodView):
    @api_roles()
    @blp.arguments(schemas.LprQuery, location="query")
    @blp.response(200, schemas.LprOut)
    @blp.alt_response(404, description="No LPR is recorded for that date yet.")
    def get(self, query):
        """The rates in force today (or on `on`)."""
        return services.rates_in_force(query["on"])

    @api_roles(Role.ADMIN)
    @blp.arguments(schemas.LprIn)
    @blp.response(200, schemas.LprOut)
    def put(self, data):
        """Record the LPR effective from a date."""
        rates = services.set_rates(**data)
        return rates
