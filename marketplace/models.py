"""Every model module, imported once so the metadata (and Alembic's autogenerate) sees the whole schema."""

from guarantees.models import Agreement, Batch, Guarantee, RiskPool
from marketplace.auth.models import ApiToken, User
from marketplace.financing.models import Application, FinancingRequest, Loan, LoanEvent, Offer
from marketplace.idempotency import IdempotencyRecord
from marketplace.lpr.models import LprRate
from marketplace.orgs.models import Agency, Bank, Enterprise, Organization, TierCertification, TierImport
from products.models import Product, ProductRegion, ProductTier

__all__ = ["Agency", "Agreement", "ApiToken", "Application", "Bank", "Batch", "Enterprise", "FinancingRequest",
           "Guarantee", "IdempotencyRecord", "Loan", "LoanEvent", "LprRate", "Offer", "Organization", "Product",
           "ProductRegion", "ProductTier", "RiskPool", "TierCertification", "TierImport", "User"]
