"""Every model module, imported once so the metadata (and Alembic's autogenerate) sees the whole schema."""

from marketplace.auth.models import ApiToken, User
from marketplace.lpr.models import LprRate
from marketplace.orgs.models import Agency, Bank, Enterprise, Organization
from products.models import Product, ProductRegion, ProductTier

__all__ = ["Agency", "ApiToken", "Bank", "Enterprise", "LprRate", "Organization", "Product", "ProductRegion",
           "ProductTier", "User"]
