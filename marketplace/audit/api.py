"""The audit trail for the provincial finance office."""

from flask.views import MethodView

from marketplace import db
from marketplace.api import Blueprint, page_of, paginate
from marketplace.audit import queries, schemas
from marketplace.auth.access import api_roles
from marketplace.auth.models import Role

blp = Blueprint("audit_api", __name__, url_prefix="/api/v1", description="Who changed what, when and from where")


@blp.route("/audit")
class Audit(MethodView):
    @api_roles(Role.ADMIN)
    @blp.arguments(schemas.AuditQuery, location="query")
    @blp.response(200, schemas.AuditEntryOut(many=True))
    @paginate(blp)
    @db.on_reports_replica
    def get(self, filters, pagination_parameters):
        """Every recorded change, newest first: the user and organisation that made it, the object, what changed,
        the request id and the address."""
        return page_of(queries.entries(filters), pagination_parameters)
