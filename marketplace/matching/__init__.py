"""The matching core: pure Python on plain data (no ORM, no Flask). See DESIGN.md §Matching."""

from marketplace.matching.core import (
    AgreementFacts,
    Candidate,
    GuaranteeTerms,
    NearMiss,
    Need,
    OfferTerms,
    Rates,
    Reason,
    explain,
    guarantee_terms,
    rank_offers,
    why_not,
)

__all__ = ["AgreementFacts", "Candidate", "GuaranteeTerms", "NearMiss", "Need", "OfferTerms", "Rates", "Reason",
           "explain", "guarantee_terms", "rank_offers", "why_not"]
