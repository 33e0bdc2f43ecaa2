"""The double-entry ledger: accounts, journal entries and their postings, in exact fen, append-only."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.db import Base, utcnow
from marketplace.orgs.models import enum_column


class Party(enum.StrEnum):
    AGENCY = "agency"
    BANK = "bank"
    ENTERPRISE = "enterprise"
    RISK_POOL = "risk_pool"
    REGUARANTOR = "reguarantor"
    FISCAL_FUND = "fiscal_fund"


class Purpose(enum.StrEnum):
    """What an account records, from its owner's side: money received is a debit (+), money paid a credit (−)."""

    FEE = "fee"  # enterprise: guarantee fees paid
    FEE_INCOME = "fee_income"  # agency: fees received from enterprises
    FEE_SUBSIDY = "fee_subsidy"  # agency: 降费奖补 received; fiscal fund: paid
    POOL_FUNDING = "pool_funding"  # fiscal fund: deposits into risk pools
    CASH = "cash"  # risk pool: its cash, never below zero
    CLAIMS = "claims"  # risk pool: what it owes agencies and could not yet pay (a credit balance)
    CREDIT_LOSS = "credit_loss"  # bank: principal lost on defaults
    DEFAULTED_PRINCIPAL = "defaulted_principal"  # enterprise: principal it defaulted on, less recoveries
    COMPENSATION = "compensation"  # agency: 代偿 paid; bank: received
    REGUARANTEE = "reguarantee"  # re-guarantor: paid; agency: received
    POOL_REIMBURSEMENT = "pool_reimbursement"  # agency: received from risk pools
    POOL_CLAIM = "pool_claim"  # agency: what risk pools owe it
    RECOVERY = "recovery"  # 追偿 shared back: bank, agency, re-guarantor, risk pool


class Account(Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("party", "party_id", "purpose", name="uq_ledger_accounts_owner_purpose"),
        # A risk pool never goes negative, whatever the code above does.
        CheckConstraint("purpose <> 'cash' OR balance >= 0", name="cash_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "agency:3:fee_income", "risk_pool:1:cash", "fiscal_fund:0:fee_subsidy".
    code: Mapped[str] = mapped_column(String(80), unique=True)
    party: Mapped[Party] = mapped_column(enum_column(Party, "ledger_party"))
    #: The organisation or risk pool; 0 for the fiscal fund.
    party_id: Mapped[int]
    purpose: Mapped[Purpose] = mapped_column(enum_column(Purpose, "ledger_purpose", 30))
    #: The sum of the account's postings (debits positive), kept in the same transaction as the postings.
    balance: Mapped[Decimal] = mapped_column(default=Decimal("0.00"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class EntryKind(enum.StrEnum):
    FEE = "fee"
    POOL_DEPOSIT = "pool_deposit"
    DEFAULT = "default"
    CLAIM_PAYMENT = "claim_payment"
    RECOVERY = "recovery"
    REVERSAL = "reversal"


class JournalEntry(Base):
    __tablename__ = "journal_entries"
    __table_args__ = (Index("ix_journal_entries_occurred_on", "occurred_on", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Replaying an event by its key posts nothing.
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[EntryKind] = mapped_column(enum_column(EntryKind, "journal_entry_kind"))
    #: What the entry is about: "loan:42", "risk_pool:3", "agreement:7".
    ref: Mapped[str] = mapped_column(String(60), index=True)
    occurred_on: Mapped[dt.date] = mapped_column(Date)
    memo: Mapped[str] = mapped_column(String(500), default="")
    #: A correction reverses an entry; it never edits it.
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    postings: Mapped[list[Posting]] = relationship(order_by="Posting.id", lazy="selectin", viewonly=True)


class Posting(Base):
    __tablename__ = "postings"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="not_zero"),
        Index("ix_postings_account", "account_id", "entry_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    #: Debit positive, credit negative; an entry's postings sum to zero.
    amount: Mapped[Decimal]

    account: Mapped[Account] = relationship(lazy="joined", innerjoin=True, viewonly=True)
