"""The tier registry: the admin uploads the province's certified lists (梯度认定名单)."""

from flask.views import MethodView

from marketplace.api import Blueprint, page_of, paginate
from marketplace.auth.access import api_roles, api_user
from marketplace.auth.models import Role
from marketplace.registry import schemas, services

blp = Blueprint("registry_api", __name__, url_prefix="/api/v1/tier-registry",
                description="The province's certified tier lists, imported by USCC")


@blp.route("/imports")
class TierImports(MethodView):
    @api_roles(Role.ADMIN)
    @blp.response(200, schemas.TierImportOut(many=True))
    @paginate(blp)
    def get(self, pagination_parameters):
        """List the imports, newest first."""
        return page_of(services.imports_newest_first(), pagination_parameters)

    @api_roles(Role.ADMIN)
    @blp.arguments(schemas.TierImportUpload, location="files")
    @blp.response(202, schemas.TierImportDetailOut)
    def post(self, data):
        """Import a certified list (CSV or XLSX: uscc, tier, valid_until). Good rows apply; bad ones are listed."""
        upload = data["file"]
        tier_import = services.import_tier_list(upload.filename, upload.read(), by_user_id=api_user().id)
        return tier_import


@blp.route("/imports/<int:import_id>")
class TierImportById(MethodView):
    @api_roles(Role.ADMIN)
    @blp.response(200, schemas.TierImportDetailOut)
    def get(self, import_id):
        """One import with its per-row errors."""
        return services.get_import(import_id)
