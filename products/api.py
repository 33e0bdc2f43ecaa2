"""The product catalogue API: banks manage their products; everyone signed in reads what is published."""

from flask.views import MethodView

from marketplace import db
from marketplace.api import Blueprint, paginate
from marketplace.auth.access import api_roles, api_user
from marketplace.auth.models import Role
from products import services
from products.models import ProductStatus
from products.schemas import ProductIn, ProductOut, ProductPatch, ProductQuery

blp = Blueprint("products_api", __name__, url_prefix="/api/v1/products", description="Bank credit products")


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
        db.session.commit()
        return services.with_indicative_rates([product])[0]


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
        db.session.commit()
        return services.with_indicative_rates([product])[0]


def _transition_view(target: ProductStatus, summary: str):
    @api_roles(Role.BANK)
    @blp.response(200, ProductOut)
    def post(self, product_id):
        product = services.change_status(services.get_own(api_user(), product_id), target)
        db.session.commit()
        return product

    post.__doc__ = summary
    return type(f"{target.value.title()}Product", (MethodView,), {"post": post})


blp.route("/<int:product_id>/publish")(_transition_view(
    ProductStatus.PUBLISHED, "Publish a draft (archiving the version it replaces), or resume a suspended product."))
blp.route("/<int:product_id>/suspend")(_transition_view(
    ProductStatus.SUSPENDED, "Suspend a published product: no new matches until it is published again."))
blp.route("/<int:product_id>/archive")(_transition_view(
    ProductStatus.ARCHIVED, "Retire a product (or discard a draft) for good."))
