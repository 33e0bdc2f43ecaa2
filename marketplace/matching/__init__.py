"""The matching core: pure Python on plain data (no ORM, no Flask). See DESIGN.md §Matching."""

from marketplace.matching.core import (
    Candidate,
    GuaranteeTerms,
    NearMiss,
    Need,
    OfferTerms,
    Rates,
    Reason,
    explain,
    rank_offers,
    why_not,
)

__all__ = ["Candidate", "GuaranteeTerms", "NearMiss", "Need", "OfferTerms", "Rates", "Reason", "explain", "rank_offers",
           "why_not"]
