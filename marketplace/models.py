"""Every model module, imported once so the metadata (and Alembic's autogenerate) sees the whole schema."""

from guarantees.models import (
    Agreement,
    Batch,
    Guarantee,
    LossAllocation,
    PoolClaim,
    PoolDeposit,
    RecoveryAllocation,
    RiskPool,
)
from marketplace.audit.models import AuditEntry
from marketplace.auth.models import ApiToken, User, WebSession
from marketplace.bank_systems.models import BankCallback, SandboxCase
from marketplace.fees.models import FeeRule, SubsidySettlement
from marketplace.financing.models import Application, CounterOffer, FinancingRequest, Loan, LoanEvent, Offer
from marketplace.idempotency import IdempotencyRecord
from marketplace.ledger.models import Account, JournalEntry, Posting
from marketplace.lpr.models import LprRate
from marketplace.notifications.models import Notification
from marketplace.orgs.models import Agency, Bank, Enterprise, Organization, TierCertification, TierImport
from marketplace.outbox import OutboxAttempt, OutboxMessage
from marketplace.scheduler.models import JobRun
from marketplace.timeline import TimelineEvent
from products.models import Product, ProductRegion, ProductTier

__all__ = [
    "Account", "Agency", "Agreement", "ApiToken", "Application", "AuditEntry", "Bank", "BankCallback", "Batch",
    "CounterOffer", "Notification", "TimelineEvent",
    "Enterprise", "FeeRule", "FinancingRequest", "Guarantee", "IdempotencyRecord", "JobRun", "JournalEntry", "Loan",
    "LoanEvent", "LossAllocation", "LprRate", "Offer", "Organization", "OutboxAttempt", "OutboxMessage", "PoolClaim",
    "PoolDeposit", "Posting", "Product", "ProductRegion", "ProductTier", "RecoveryAllocation", "RiskPool",
    "SandboxCase", "SubsidySettlement", "TierCertification", "TierImport", "User", "WebSession",
]
