"""The product catalogue API: banks manage their products; everyone signed in reads what is published."""

from flask.views import MethodView
from flask_babel import gettext as _

from marketplace import spreadsheets
from marketplace.api import Blueprint, paginate
from marketplace.auth.access import api_roles, api_user
from marketplace.auth.models import Role
from marketplace.errors import NotFound
from marketplace.idempotency import idempotent
from products import bounds, schemas, services, sheets
from products.models import ProductStatus, ProductType
from products.schemas import ProductIn, ProductOut, ProductPatch, ProductQuery

blp = Blueprint("products_api", __name__, url_prefix="/api/v1/products", description="Bank credit products")
bounds_blp = Blueprint("pricing_bounds_api", __name__, url_prefix="/api/v1/pricing-bounds",
                       description="The admin's bounds on product pricing, amounts and terms, per product type")


@blp.route("")
class Products(MethodView):
    @api_roles()
    @blp.arguments(ProductQuery, location="query")
    @blp.response(200, ProductOut(many=True))
    @paginate(blp)
    def get(self, query, pagination_parameters):
        """List products: published ones, plus all of your own bank's (filters: type, tier, bank, status)."""
        products, total = services.list_products(api_user(), services.ProductFilter(**query),
                                                 pagination_parameters.first_item,
                                                 pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return products

    @api_roles(Role.BANK)
    @blp.arguments(ProductIn)
    @blp.response(201, ProductOut)
    def post(self, data):
        """Create a product as a draft, version 1."""
        product = services.create_product(api_user().organization_id, data)
        return services.with_indicative_rates([product])[0]


@blp.route("/export")
class ProductExport(MethodView):
    @api_roles()
    @blp.arguments(schemas.ExportQuery, location="query")
    @blp.response(200, content_type="text/csv")
    @blp.alt_response(200, content_type=spreadsheets.XLSX, description="With format=xlsx.", success=True)
    def get(self, query):
        """The products the list shows for these filters, all of them, as CSV (UTF-8 with BOM) or XLSX."""
        fmt = query.pop("format")
        products = services.catalogue_products(api_user(), services.ProductFilter(**query))
        return spreadsheets.download(sheets.products_table(products), fmt, "products")


@blp.route("/import-template")
class ProductImportTemplate(MethodView):
    @api_roles(Role.BANK)
    @blp.arguments(schemas.TemplateQuery, location="query")
    @blp.response(200, content_type=spreadsheets.XLSX)
    @blp.alt_response(200, content_type="text/csv", description="With format=csv.", success=True)
    def get(self, query):
        """The sheet to fill in for an import: its header row and one example product."""
        return spreadsheets.download(sheets.import_template(), query["format"], "products_template")


@blp.route("/imports")
class ProductImports(MethodView):
    @api_roles(Role.BANK)
    @idempotent(blp)
    @blp.arguments(schemas.ImportQuery, location="query")
    @blp.arguments(schemas.ImportUpload, location="files")
    @blp.response(200, schemas.ImportOut)
    def post(self, query, data):
        """List many products at once from a sheet (the template's columns): each good row becomes a draft (or a
        published product, with publish=true), checked as POST /products checks one; bad rows are listed."""
        upload = data["file"]
        result = sheets.import_products(api_user().organization_id, upload.filename, upload.read(),
                                          publish=query["publish"])
        return {"rows_total": result.rows_total, "rows_ok": len(result.product_ids), "rows_failed": len(result.errors),
                "product_ids": result.product_ids, "errors": result.errors}


@blp.route("/<int:product_id>")
class ProductById(MethodView):
    @api_roles()
    @blp.response(200, ProductOut)
    def get(self, product_id):
        """One product."""
        return services.get_visible(api_user(), product_id)

    @api_roles(Role.BANK)
    @blp.arguments(ProductPatch)
    @blp.response(200, ProductOut)
    def patch(self, changes, product_id):
        """Edit a draft; on a published or suspended product this returns a new draft version."""
        product = services.update_product(services.get_own(api_user(), product_id), changes)
        return services.with_indicative_rates([product])[0]

    @api_roles(Role.BANK)
    @blp.response(204)
    def delete(self, product_id):
        """Delete a draft that was never published (409 for any other status: archive it instead)."""
        services.delete_draft(api_user(), product_id)


def _transition_view(target: ProductStatus, summary: str):
    @api_roles(Role.BANK)
    @blp.response(200, ProductOut)
    def post(self, product_id):
        product = services.change_status(services.get_own(api_user(), product_id), target)
        return product

    post.__doc__ = summary
    return type(f"{target.value.title()}Product", (MethodView,), {"post": post})


blp.route("/<int:product_id>/publish")(_transition_view(
    ProductStatus.PUBLISHED, "Publish a draft (archiving the version it replaces), or resume a suspended product."))
blp.route("/<int:product_id>/suspend")(_transition_view(
    ProductStatus.SUSPENDED, "Suspend a published product: no new matches until it is published again."))
blp.route("/<int:product_id>/archive")(_transition_view(
    ProductStatus.ARCHIVED, "Retire a product (or discard a draft) for good."))


def _bounds_out(kind: ProductType, values: bounds.Bounds) -> dict:
    return {"product_type": kind, **vars(values)}


@bounds_blp.route("")
class PricingBoundsList(MethodView):
    @api_roles()
    @bounds_blp.response(200, schemas.PricingBoundsOut(many=True))
    def get(self):
        """Every product type's bounds (the defaults where the admin has set none): a product is saved and
        published only within them."""
        return [_bounds_out(kind, values) for kind, values in bounds.all_bounds().items()]


@bounds_blp.route("/<product_type>")
class PricingBoundsOfType(MethodView):
    @api_roles()
    @bounds_blp.response(200, schemas.PricingBoundsOut)
    def get(self, product_type):
        """One product type's bounds."""
        return _bounds_out(_kind(product_type), bounds.bounds_for(_kind(product_type)))

    @api_roles(Role.ADMIN)
    @bounds_blp.arguments(schemas.PricingBoundsIn)
    @bounds_blp.response(200, schemas.PricingBoundsOut)
    def put(self, data, product_type):
        """Set a product type's bounds (all six values). Products already published stay as they are until they are
        edited or published again."""
        kind = _kind(product_type)
        return _bounds_out(kind, bounds.set_bounds(kind, data))


def _kind(product_type: str) -> ProductType:
    try:
        return ProductType(product_type)
    except ValueError:
        raise NotFound(_("No product type %(type)s.", type=product_type[:40])) from None
