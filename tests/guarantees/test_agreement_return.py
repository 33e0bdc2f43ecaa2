"""The bank returns a pending 总对总 agreement to the agency with a reason instead of countersigning it; the agency
amends it and submits it again, or terminates it (issue 22)."""

import pytest
from sqlalchemy import select

from marketplace import db
from marketplace.audit.models import AuditEntry
from marketplace.notifications.models import Notification

REASON = "费率偏高，请将担保费率调整为 0.80% 后重新提交。"


def _terms(body, **changes):
    return {**{k: v for k, v in body.items() if k not in ("code", "bank_id")}, **changes}


def test_the_bank_returns_a_pending_agreement_with_its_reason_and_the_agency_is_told(app, as_role, pending, world):
    returned = as_role("bank").post(f"/api/v1/agreements/{pending['id']}/return", json={"reason": f"  {REASON} "})
    assert returned.status_code == 200, returned.json
    assert returned.json["status"] == "returned"
    assert returned.json["return_reason"] == REASON and returned.json["returned_at"] is not None
    seen = as_role("agency").get(f"/api/v1/agreements/{pending['id']}").json
    assert (seen["status"], seen["return_reason"]) == ("returned", REASON)
    with app.app_context():
        told = db.session.scalars(select(Notification).where(Notification.kind == "agreement.returned")).all()
        assert [n.user_id for n in told] == [world.agency_user.id]
        assert REASON in told[0].body and "ZJ-RET-1" in told[0].title
        assert db.session.scalar(select(AuditEntry.id).where(AuditEntry.action == "agreement.returned",
                                                             AuditEntry.object_id == pending["id"])) is not None


@pytest.mark.parametrize("sent", [{}, {"reason": ""}, {"reason": "   \n "}])
def test_a_return_without_a_reason_is_422_on_the_reason(as_role, pending, sent):
    response = as_role("bank").post(f"/api/v1/agreements/{pending['id']}/return", json=sent)
    assert response.status_code == 422
    assert list(response.json["errors"]) == ["reason"]
    assert as_role("bank").get(f"/api/v1/agreements/{pending['id']}").json["status"] == "pending_bank"


def test_only_a_pending_agreement_can_be_returned(as_role, pending):
    assert as_role("bank").post(f"/api/v1/agreements/{pending['id']}/countersign").status_code == 200
    response = as_role("bank").post(f"/api/v1/agreements/{pending['id']}/return", json={"reason": REASON})
    assert response.status_code == 409
    assert "Only an agreement awaiting your countersignature can be returned" in response.json["detail"]
    once = as_role("agency").post("/api/v1/agreements", json={**pending_body(pending), "code": "ZJ-RET-2"}).json
    bank = as_role("bank")
    assert bank.post(f"/api/v1/agreements/{once['id']}/return", json={"reason": REASON}).status_code == 200
    assert bank.post(f"/api/v1/agreements/{once['id']}/return", json={"reason": REASON}).status_code == 409
    assert bank.post(f"/api/v1/agreements/{once['id']}/countersign").status_code == 409


def pending_body(agreement):
    return {"bank_id": agreement["bank_id"], "valid_from": agreement["valid_from"], "valid_to": agreement["valid_to"],
            "total_quota": agreement["total_quota"], "per_enterprise_cap": agreement["per_enterprise_cap"],
            "per_loan_cap": agreement["per_loan_cap"], "fee_rate": agreement["fee_rate"],
            "shares": agreement["shares"], "eligible_tiers": agreement["eligible_tiers"],
            "eligible_product_types": agreement["eligible_product_types"]}


def test_only_the_named_bank_returns_and_only_the_agency_resubmits(as_role, pending, body):
    assert as_role("bank2").post(f"/api/v1/agreements/{pending['id']}/return",
                                 json={"reason": REASON}).status_code == 404
    assert as_role("agency").post(f"/api/v1/agreements/{pending['id']}/return",
                                  json={"reason": REASON}).status_code == 403
    as_role("bank").post(f"/api/v1/agreements/{pending['id']}/return", json={"reason": REASON})
    assert as_role("bank").post(f"/api/v1/agreements/{pending['id']}/resubmit",
                                json=_terms(body)).status_code == 403


def test_the_agency_resubmits_amended_terms_and_the_bank_countersigns_them(app, as_role, pending, body, world):
    as_role("bank").post(f"/api/v1/agreements/{pending['id']}/return", json={"reason": REASON})
    resubmitted = as_role("agency").post(f"/api/v1/agreements/{pending['id']}/resubmit",
                                         json=_terms(body, fee_rate="0.0080", per_loan_cap="3000000.00"))
    assert resubmitted.status_code == 200, resubmitted.json
    agreement = resubmitted.json
    assert (agreement["status"], agreement["fee_rate"], agreement["per_loan_cap"]) == (
        "pending_bank", "0.0080", "3000000.00")
    assert (agreement["code"], agreement["bank_id"], agreement["return_reason"]) == ("ZJ-RET-1", world.bank.id, REASON)
    with app.app_context():
        asked = db.session.scalars(select(Notification).where(
            Notification.kind == "agreement.awaiting_countersign", Notification.user_id == world.bank_user.id)
            .order_by(Notification.id)).all()
        assert len(asked) == 2 and "0.80%" in asked[-1].body
        assert asked[-1].link == f"/bank/agreements/{pending['id']}"
    signed = as_role("bank").post(f"/api/v1/agreements/{pending['id']}/countersign")
    assert signed.status_code == 200 and signed.json["status"] == "active"


def test_a_resubmission_is_checked_as_a_new_agreement_is(as_role, pending, body):
    as_role("bank").post(f"/api/v1/agreements/{pending['id']}/return", json={"reason": REASON})
    agency = as_role("agency")
    bad = agency.post(f"/api/v1/agreements/{pending['id']}/resubmit", json=_terms(
        body, shares={"agency": "0.90", "bank": "0.10", "reguarantee": "0", "risk_pool": "0"}, fee_rate="0.05"))
    assert bad.status_code == 422
    assert set(bad.json["errors"]) == {"shares.bank", "fee_rate"}
    assert agency.post(f"/api/v1/agreements/{pending['id']}/resubmit",
                       json={**_terms(body), "code": "OTHER"}).status_code == 422  # the code stays
    assert agency.get(f"/api/v1/agreements/{pending['id']}").json["status"] == "returned"


def test_only_a_returned_agreement_can_be_resubmitted(as_role, pending, body):
    response = as_role("agency").post(f"/api/v1/agreements/{pending['id']}/resubmit", json=_terms(body))
    assert response.status_code == 409
    assert "Only a returned agreement can be submitted again" in response.json["detail"]


def test_the_agency_terminates_a_returned_agreement_and_that_is_the_end_of_it(as_role, pending, body):
    agency = as_role("agency")
    assert agency.post(f"/api/v1/agreements/{pending['id']}/terminate").status_code == 409  # not returned yet
    as_role("bank").post(f"/api/v1/agreements/{pending['id']}/return", json={"reason": REASON})
    ended = agency.post(f"/api/v1/agreements/{pending['id']}/terminate")
    assert ended.status_code == 200 and ended.json["status"] == "terminated"
    assert agency.post(f"/api/v1/agreements/{pending['id']}/resubmit", json=_terms(body)).status_code == 409
    assert as_role("bank").post(f"/api/v1/agreements/{pending['id']}/countersign").status_code == 409
