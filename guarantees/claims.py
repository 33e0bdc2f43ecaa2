"""代偿申请: compensation claims under `review` agreements (DESIGN.md §Lifecycles: filed → paid | rejected).

A default files a claim for the loss; the bank attaches its evidence; the agency pays it, which posts exactly what an
automatic default posts (settlement.compensate), or refuses it with a reason, and the bank may file again. A claim is
locked before its status is read, so paying and refusing it at once has one effect. Financing owns the loan and calls
in holding the loan's lock (file, recovery); the agency's decision locks the claim alone (claim → agreement → pool)."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import filetype
from flask import Response, current_app, send_file
from flask_babel import gettext as _
from sqlalchemy import Select, select

from guarantees.models import (
    CLAIM_TRANSITIONS,
    Agreement,
    Claim,
    ClaimDocument,
    ClaimMode,
    ClaimStatus,
    Guarantee,
)
from guarantees.settlement import LoanFacts, book_default, compensate
from marketplace import db, states, timeline
from marketplace.auth.models import Role, User
from marketplace.dates import business_today, local_day, working_days_after
from marketplace.errors import Conflict, IllegalTransition, TooLarge, ValidationFailed, one_or_404
from marketplace.i18n import N_, yuan
from marketplace.notifications.services import notify

ZERO = Decimal("0.00")

#: Evidence a bank may attach, by the type its content shows (the declared type must agree).
DOCUMENT_TYPES = {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG"}


def reviewed(guarantee: Guarantee | None) -> bool:
    """Whether a default under this guarantee waits for a claim rather than settling at once."""
    return guarantee is not None and db.session.get(Agreement, guarantee.agreement_id).claim_mode is ClaimMode.REVIEW


def on_default(loan: LoanFacts, guarantee: Guarantee, loss: Decimal, day: dt.date, user: User) -> Claim:
    """The loan defaulted under a `review` agreement: the bank's loss is booked and a claim for it is filed."""
    book_default(loan, guarantee, loss, day)
    return _file(loan, guarantee, loss, day, user, note=None)


def file_again(loan: LoanFacts, guarantee: Guarantee | None, outstanding: Decimal, amount: Decimal,
               note: str | None, user: User) -> Claim:
    """The bank files another claim after a refusal, with more evidence to come. The caller holds the loan's lock
    and has checked that it defaulted."""
    if guarantee is None or not reviewed(guarantee):
        raise Conflict(_("Loan %(id)d has no guarantee under an agreement that reviews claims: its default was "
                         "settled at once.", id=loan.id))
    claims = db.session.scalars(select(Claim).where(Claim.loan_id == loan.id)).all()
    if any(claim.status is ClaimStatus.FILED for claim in claims):
        raise Conflict(_("A claim on loan %(id)d is already waiting for the agency's decision.", id=loan.id))
    if any(claim.status is ClaimStatus.PAID for claim in claims):
        raise Conflict(_("The claim on loan %(id)d was paid; a loan is compensated once.", id=loan.id))
    if amount > outstanding:
        raise ValidationFailed(errors={"amount": [_("At most the principal still owed may be claimed: %(amount)s.",
                                                    amount=f"{outstanding:,.2f}")]})
    return _file(loan, guarantee, amount, business_today(), user, note)


def _file(loan: LoanFacts, guarantee: Guarantee, amount: Decimal, day: dt.date, user: User,
          note: str | None) -> Claim:
    agreement = db.session.get(Agreement, guarantee.agreement_id)
    claim = Claim(loan_id=loan.id, agreement_id=agreement.id, guarantee_id=guarantee.id, bank_id=loan.bank_id,
                  amount=amount, note=note, filed_on=day, due_by=working_days_after(day, agreement.claim_review_days),
                  filed_by_id=user.id)
    db.session.add(claim)
    db.session.flush()
    timeline.record(timeline.CLAIM_FILED, by=user, application_id=guarantee.application_id, claim_id=claim.id,
                    amount=amount, due_by=claim.due_by)
    notify("claim.filed", agreement.agency_id, N_("Claim %(id)d filed on loan %(loan)d"),
           N_("The bank claims %(amount)s on defaulted loan %(loan)d under agreement %(code)s. Decide by %(day)s."),
           f"/agency/claims/{claim.id}", id=claim.id, loan=loan.id, amount=yuan(amount), code=agreement.code,
           day=claim.due_by.isoformat())
    return claim


def on_recovered(loan_id: int, amount: Decimal) -> None:
    """Money recovered before the claim is paid reduces it (the caller holds the loan's lock); recovered in full,
    nothing is left to claim and the claim is withdrawn."""
    claim = db.session.scalar(db.locking(select(Claim).where(Claim.loan_id == loan_id,
                                                             Claim.status == ClaimStatus.FILED)))
    if claim is None:
        return
    if amount >= claim.amount:
        states.move(claim, ClaimStatus.WITHDRAWN, CLAIM_TRANSITIONS)
        claim.reason = _("Recovered in full before payment: nothing is left to claim.")
        claim.decided_at = db.utcnow()
    else:
        claim.amount -= amount


def decide(claim: Claim, user: User, decision: str, reason: str | None) -> Claim:
    """The agency pays or refuses a filed claim. Paying shares the loss as an automatic default would."""
    db.lock(claim)
    if claim.status is not ClaimStatus.FILED:
        raise IllegalTransition(_("Claim %(id)d is %(status)s: only a filed claim can be decided.",
                                  id=claim.id, status=claim.status.value))
    if decision == "reject" and not (reason or "").strip():
        raise ValidationFailed(errors={"reason": [_("Say why the claim is refused: the bank reads it.")]})
    guarantee = db.session.get(Guarantee, claim.guarantee_id)
    day = business_today()
    if decision == "pay":
        facts = LoanFacts(id=claim.loan_id, bank_id=claim.bank_id, enterprise_id=guarantee.enterprise_id,
                          principal=guarantee.amount)
        claim.allocation = compensate(facts, guarantee, claim.amount, day, key=f"claim:{claim.id}:paid")
        states.move(claim, ClaimStatus.PAID, CLAIM_TRANSITIONS)
        title, words = N_("Claim %(id)d paid"), N_("The agency paid %(amount)s on claim %(id)d (loan %(loan)d).")
    else:
        states.move(claim, ClaimStatus.REJECTED, CLAIM_TRANSITIONS)
        claim.reason = reason.strip()
        title = N_("Claim %(id)d refused")
        words = (N_("The agency refused claim %(id)d (loan %(loan)d): %(reason)s"),
                 N_("You may file again with more evidence."))
    claim.decided_by_id, claim.decided_at = user.id, db.utcnow()
    db.session.flush()
    timeline.record(timeline.CLAIM_PAID if claim.status is ClaimStatus.PAID else timeline.CLAIM_REJECTED, by=user,
                    application_id=guarantee.application_id, claim_id=claim.id, amount=claim.amount,
                    reason=claim.reason)
    notify("claim.decided", claim.bank_id, title, words, f"/bank/loans/{claim.loan_id}", id=claim.id,
           loan=claim.loan_id, amount=yuan(claim.amount), reason=claim.reason or "")
    return claim


# Evidence ---------------------------------------------------------------------------------------------------------

def files_dir() -> Path:
    return Path(current_app.config["FILES_DIR"] or Path(current_app.instance_path) / "files")


def stored_path(document: ClaimDocument) -> Path:
    """Files are named by their SHA-256 under claims/: the same file uploaded twice is kept once."""
    return files_dir() / "claims" / document.sha256[:2] / document.sha256


def attach(claim: Claim, user: User, name: str, declared_type: str | None, content: bytes) -> ClaimDocument:
    """Keep a piece of evidence: within the size limit, and a PDF, JPEG or PNG whose content is what it says."""
    limit = current_app.config["CLAIM_FILE_MAX_BYTES"]
    if len(content) > limit:
        raise TooLarge(_("The file is %(size)s; at most %(limit)s may be attached.", size=_size(len(content)),
                         limit=_size(limit)))
    if not content:
        raise ValidationFailed(errors={"file": [_("The file is empty.")]})
    found = filetype.guess_mime(content)
    declared = (declared_type or "").split(";")[0].strip().lower()
    if found not in DOCUMENT_TYPES:
        raise ValidationFailed(errors={"file": [_("Attach a PDF, JPEG or PNG file.")]})
    if declared and declared not in ("application/octet-stream", found):
        raise ValidationFailed(errors={"file": [_("The file says it is %(declared)s but its content is %(found)s.",
                                                  declared=declared, found=DOCUMENT_TYPES[found])]})
    db.lock(claim)
    if claim.status is not ClaimStatus.FILED:
        raise IllegalTransition(_("Claim %(id)d is %(status)s: evidence is attached while it is filed.",
                                  id=claim.id, status=claim.status.value))
    digest = hashlib.sha256(content).hexdigest()
    document = ClaimDocument(claim_id=claim.id, name=_safe_name(name, found), content_type=found, size=len(content),
                             sha256=digest, uploaded_by_id=user.id)
    path = stored_path(document)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # A name of this writer's own: the same file may be uploaded to another claim at this very moment.
        partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}.part")
        partial.write_bytes(content)
        partial.replace(path)  # whole or not at all
    db.session.add(document)
    db.session.flush()
    return document


def _safe_name(name: str, content_type: str) -> str:
    """The name as the bank gave it, without any path, for showing and for the download."""
    base = Path((name or "").replace("\\", "/")).name.strip() or "evidence"
    extension = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}[content_type]
    return base[:200] if "." in base else (base[:196] + extension)


def _size(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{max(1, size // 1024)} KB"


# Who sees what ----------------------------------------------------------------------------------------------------

def visible_claims(user: User) -> Select[tuple[Claim]]:
    """A claim is the bank's and the agency's business (and the finance office's)."""
    query = select(Claim).join(Agreement, Agreement.id == Claim.agreement_id)
    if user.role is Role.BANK:
        return query.where(Claim.bank_id == user.organization_id)
    if user.role is Role.AGENCY:
        return query.where(Agreement.agency_id == user.organization_id)
    if user.role is Role.ADMIN:
        return query
    return query.where(False)


def get_claim(user: User, claim_id: int) -> Claim:
    return one_or_404(visible_claims(user).where(Claim.id == claim_id), _("No claim %(id)d.", id=claim_id))


def claims_of_loan(loan_id: int) -> list[Claim]:
    return list(db.session.scalars(select(Claim).where(Claim.loan_id == loan_id).order_by(Claim.id)))


def get_document(user: User, claim_id: int, document_id: int) -> ClaimDocument:
    claim = get_claim(user, claim_id)
    return one_or_404(select(ClaimDocument).where(ClaimDocument.claim_id == claim.id, ClaimDocument.id == document_id),
                      _("Claim %(id)d has no document %(document)d.", id=claim.id, document=document_id))


# Deadlines ----------------------------------------------------------------------------------------------------

def flag_overdue(today: dt.date) -> list[int]:
    """Claims still undecided past their deadline are flagged, and the agency and the bank told, once each."""
    late = db.session.scalars(db.locking(select(Claim).where(
        Claim.status == ClaimStatus.FILED, Claim.due_by < today, Claim.overdue_on.is_(None)).order_by(Claim.id))).all()
    for claim in late:
        claim.overdue_on = today
        words = {"id": claim.id, "loan": claim.loan_id, "amount": yuan(claim.amount), "day": claim.due_by.isoformat(),
                 "code": claim.agreement.code}
        body = N_("Claim %(id)d (loan %(loan)d, %(amount)s, agreement %(code)s) was due for a decision by %(day)s "
                  "and is still undecided.")
        notify("deadline.passed", claim.agreement.agency_id, N_("Claim %(id)d is past its deadline"), body,
               f"/agency/claims/{claim.id}", **words)
        notify("deadline.passed", claim.bank_id, N_("Claim %(id)d is past its deadline"), body,
               f"/bank/loans/{claim.loan_id}", **words)
    return [claim.id for claim in late]


@dataclass(frozen=True)
class OnTime:
    decided: int
    paid: int
    paid_on_time: int

    @property
    def share(self) -> Decimal | None:
        """Of the claims paid, the share paid by their deadline."""
        return None if not self.paid else (Decimal(self.paid_on_time) / Decimal(self.paid)).quantize(Decimal("0.0001"))


def paid_on_time(agreement_ids: list[int]) -> dict[int, OnTime]:
    """Per agreement: claims decided, paid, and paid by their deadline (by business date of the decision)."""
    rows = db.session.execute(
        select(Claim.agreement_id, Claim.decided_at, Claim.due_by, Claim.status)
        .where(db.among(Claim.agreement_id, agreement_ids), Claim.decided_at.is_not(None))).all()
    result: dict[int, list[int]] = {}
    for agreement_id, decided_at, due_by, status in rows:
        counts = result.setdefault(agreement_id, [0, 0, 0])
        counts[0] += 1
        if status is ClaimStatus.PAID:
            counts[1] += 1
            counts[2] += local_day(decided_at) <= due_by
    return {agreement_id: OnTime(*counts) for agreement_id, counts in result.items()}


def send_document(document: ClaimDocument) -> Response:
    """The file as a download, under the name the bank gave it, never shown inline."""
    return send_file(stored_path(document), mimetype=document.content_type, as_attachment=True,
                     download_name=document.name, max_age=0)
