"""The API's authorization matrix (issue 7): every operation of the app's own OpenAPI document, called by every
actor, answers what the table below says. A new operation fails `test_the_table_covers_the_openapi_document` until
it has a row.

A cell is one of
- ``ok``: the authorization layer let the request through, and the operation answered one of its documented 2xx
  statuses (each request carries a valid body, so the business rules accept it too);
- ``401`` not authenticated, ``403`` the role may not act, ``404`` missing or another organisation's (the answer is
  then checked to be the one a missing id gets, so it reveals nothing about the other tenant's object);
- ``422``: only where a body field names another organisation's object; the answer is the one a missing id gets.

Path parameters point at objects of the FIRST bank, agency and enterprise (tests/security/authz_world.py), so the
second tenant of each kind must get 404 where the first gets ``ok``. A list that answers ``ok`` to a non-admin
is also checked to hold only that actor's own data (SCOPED below), and no answer to a second tenant may carry
words only the first tenants' objects hold (MatrixWorld.private_marks).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from marketplace.bank_systems.callbacks import sign
from marketplace.dates import business_today
from tests.pages import PASSWORD
from tests.security.authz_world import (
    ACTORS,
    FEE_RULE,
    PLAIN_PRODUCT,
    REQUEST,
    SECOND_TENANTS,
    STRONG_PASSWORD,
    MatrixWorld,
    agreement_body,
    agreement_terms,
    new_uscc,
    product_sheet,
    tier_list_csv,
)

OK = "ok"
#: An id no object has: what a "404 for another tenant's object" must look like.
MISSING = 987654

# Columns: anonymous, admin, bank, bank2, agency, agency2, enterprise, enterprise2.
# A third element in a key names a variant: the same operation on another kind of object.
EXPECTED: dict[tuple[str, ...], str] = {
    #                                                                anon admin bank bank2 agcy agcy2 ent  ent2
    ("GET", "/healthz"):                                            "ok   ok    ok   ok    ok   ok    ok   ok",
    ("POST", "/api/v1/auth/token"):                                 "ok   ok    ok   ok    ok   ok    ok   ok",
    ("POST", "/api/v1/auth/token/revoke"):                          "401  ok    ok   ok    ok   ok    ok   ok",
    ("GET", "/api/v1/auth/me"):                                     "401  ok    ok   ok    ok   ok    ok   ok",
    ("GET", "/api/v1/users"):                                       "401  ok    403  403   403  403   403  403",
    ("POST", "/api/v1/users"):                                      "401  ok    403  403   403  403   403  403",
    # Accounts (issue 21): everyone changes their own password. A bank's or agency's administrator (every bank and
    # agency actor is one) manages its own organisation's users, another's is a 404; the admin any organisation's;
    # nobody else any (403). The rows name the first bank's organisation and users, the variants the agency's.
    ("POST", "/api/v1/auth/password"):                              "401  ok    ok   ok    ok   ok    ok   ok",
    ("GET", "/api/v1/organizations/{organization_id}/users"):       "401  ok    ok   404   404  404   403  403",
    ("GET", "/api/v1/organizations/{organization_id}/users", "agency's"):
                                                                    "401  ok    404  404   ok   404   403  403",
    # An enterprise has no administrator: only the admin manages its users.
    ("GET", "/api/v1/organizations/{organization_id}/users", "enterprise's"):
                                                                    "401  ok    404  404   404  404   403  403",
    ("POST", "/api/v1/organizations/{organization_id}/users"):      "401  ok    ok   404   404  404   403  403",
    ("POST", "/api/v1/organizations/{organization_id}/users", "agency's"):
                                                                    "401  ok    404  404   ok   404   403  403",
    ("POST", "/api/v1/users/{user_id}/disable"):                    "401  ok    ok   404   404  404   403  403",
    ("POST", "/api/v1/users/{user_id}/disable", "agency's"):        "401  ok    404  404   ok   404   403  403",
    ("POST", "/api/v1/users/{user_id}/enable"):                     "401  ok    ok   404   404  404   403  403",
    ("POST", "/api/v1/users/{user_id}/enable", "agency's"):         "401  ok    404  404   ok   404   403  403",
    ("POST", "/api/v1/users/{user_id}/reset-password"):             "401  ok    ok   404   404  404   403  403",
    ("POST", "/api/v1/users/{user_id}/reset-password", "agency's"): "401  ok    404  404   ok   404   403  403",
    ("GET", "/api/v1/banks"):                                       "401  ok    ok   ok    ok   ok    ok   ok",
    ("POST", "/api/v1/banks"):                                      "401  ok    403  403   403  403   403  403",
    ("GET", "/api/v1/agencies"):                                    "401  ok    ok   ok    ok   ok    ok   ok",
    ("POST", "/api/v1/agencies"):                                   "401  ok    403  403   403  403   403  403",
    ("POST", "/api/v1/enterprises/register"):                       "ok   ok    ok   ok    ok   ok    ok   ok",
    ("GET", "/api/v1/enterprises"):                                 "401  ok    403  403   403  403   403  403",
    ("GET", "/api/v1/enterprises/{enterprise_id}"):                 "401  ok    403  403   403  403   ok   404",
    ("PUT", "/api/v1/enterprises/{enterprise_id}/tier"):            "401  ok    403  403   403  403   403  403",
    ("GET", "/api/v1/lpr"):                                         "401  ok    ok   ok    ok   ok    ok   ok",
    ("PUT", "/api/v1/lpr"):                                         "401  ok    403  403   403  403   403  403",
    # Products: published ones are everyone's to read; drafts are their bank's.
    ("GET", "/api/v1/products"):                                    "401  ok    ok   ok    ok   ok    ok   ok",
    ("POST", "/api/v1/products"):                                   "401  403   ok   ok    403  403   403  403",
    ("GET", "/api/v1/products/{product_id}"):                       "401  ok    ok   ok    ok   ok    ok   ok",
    ("GET", "/api/v1/products/{product_id}", "draft"):              "401  ok    ok   404   404  404   404  404",
    ("PATCH", "/api/v1/products/{product_id}"):                     "401  403   ok   404   403  403   403  403",
    ("DELETE", "/api/v1/products/{product_id}"):                    "401  403   ok   404   403  403   403  403",
    ("POST", "/api/v1/products/{product_id}/publish"):              "401  403   ok   404   403  403   403  403",
    ("POST", "/api/v1/products/{product_id}/suspend"):              "401  403   ok   404   403  403   403  403",
    ("POST", "/api/v1/products/{product_id}/archive"):              "401  403   ok   404   403  403   403  403",
    ("GET", "/api/v1/products/export"):                             "401  ok    ok   ok    ok   ok    ok   ok",
    ("GET", "/api/v1/products/import-template"):                    "401  403   ok   ok    403  403   403  403",
    ("POST", "/api/v1/products/imports"):                           "401  403   ok   ok    403  403   403  403",
    # Pricing bounds (issue 22): every party reads each product type's bounds; only the admin sets them.
    ("GET", "/api/v1/pricing-bounds"):                              "401  ok    ok   ok    ok   ok    ok   ok",
    ("GET", "/api/v1/pricing-bounds/{product_type}"):               "401  ok    ok   ok    ok   ok    ok   ok",
    ("PUT", "/api/v1/pricing-bounds/{product_type}"):               "401  ok    403  403   403  403   403  403",
    # Financing requests (enterprise), applications (bank), loans (their bank and enterprise).
    ("GET", "/api/v1/financing-requests"):                          "401  ok    403  403   403  403   ok   ok",
    ("POST", "/api/v1/financing-requests"):                         "401  403   403  403   403  403   ok   ok",
    ("GET", "/api/v1/financing-requests/{request_id}"):             "401  ok    403  403   403  403   ok   404",
    ("POST", "/api/v1/financing-requests/{request_id}/select"):     "401  403   403  403   403  403   ok   404",
    ("POST", "/api/v1/financing-requests/{request_id}/withdraw"):   "401  403   403  403   403  403   ok   404",
    # Applications: their bank's, and the agency's it was asked to guarantee; the enterprise answers a counter-offer.
    ("GET", "/api/v1/applications"):                                "401  ok    ok   ok    ok   ok    403  403",
    ("GET", "/api/v1/applications/{application_id}"):               "401  ok    ok   404   404  404   403  403",
    ("GET", "/api/v1/applications/{application_id}", "guaranteed"): "401  ok    ok   404   ok   404   403  403",
    ("POST", "/api/v1/applications/{application_id}/decision"):     "401  403   ok   404   403  403   403  403",
    ("POST", "/api/v1/applications/{application_id}/counter-offer/accept"):
                                                                    "401  403   403  403   403  403   ok   404",
    ("POST", "/api/v1/applications/{application_id}/counter-offer/decline"):
                                                                    "401  403   403  403   403  403   ok   404",
    # Notifications: each user's own (the admin's too).
    ("GET", "/api/v1/notifications"):                               "401  ok    ok   ok    ok   ok    ok   ok",
    ("POST", "/api/v1/notifications/{notification_id}/read"):       "401  404   ok   404   404  404   404  404",
    ("POST", "/api/v1/notifications/read-all"):                     "401  ok    ok   ok    ok   ok    ok   ok",
    ("PATCH", "/api/v1/auth/me"):                                   "401  ok    ok   ok    ok   ok    ok   ok",
    ("GET", "/api/v1/loans/{loan_id}"):                             "401  ok    ok   404   403  403   ok   404",
    ("POST", "/api/v1/loans/{loan_id}/events"):                     "401  403   ok   404   403  403   403  403",
    ("GET", "/api/v1/loans/{loan_id}/schedule"):                    "401  ok    ok   404   403  403   ok   404",
    # Compensation claims (issue 20): the agreement's agency and bank, and the admin, read them; the bank attaches
    # evidence and files again after a refusal; the agency decides.
    ("GET", "/api/v1/claims"):                                      "401  ok    ok   ok    ok   ok    403  403",
    ("GET", "/api/v1/claims/{claim_id}"):                           "401  ok    ok   404   ok   404   403  403",
    ("POST", "/api/v1/claims/{claim_id}/documents"):                "401  403   ok   404   403  403   403  403",
    ("GET", "/api/v1/claims/{claim_id}/documents/{document_id}"):   "401  ok    ok   404   ok   404   403  403",
    ("POST", "/api/v1/claims/{claim_id}/decision"):                 "401  403   403  403   ok   404   403  403",
    ("POST", "/api/v1/loans/{loan_id}/claims"):                     "401  403   ok   404   403  403   403  403",
    # Agreements: the agency proposes, the named bank countersigns, the agency suspends and resumes.
    ("GET", "/api/v1/agreements"):                                  "401  ok    ok   ok    ok   ok    403  403",
    ("POST", "/api/v1/agreements"):                                 "401  403   403  403   ok   ok    403  403",
    ("GET", "/api/v1/agreements/{agreement_id}"):                   "401  ok    ok   404   ok   404   403  403",
    ("POST", "/api/v1/agreements/{agreement_id}/countersign"):      "401  403   ok   404   403  403   403  403",
    ("POST", "/api/v1/agreements/{agreement_id}/suspend"):          "401  403   403  403   ok   404   403  403",
    ("POST", "/api/v1/agreements/{agreement_id}/resume"):           "401  403   403  403   ok   404   403  403",
    ("POST", "/api/v1/agreements/{agreement_id}/return"):           "401  403   ok   404   403  403   403  403",
    ("POST", "/api/v1/agreements/{agreement_id}/resubmit"):         "401  403   403  403   ok   404   403  403",
    ("POST", "/api/v1/agreements/{agreement_id}/terminate"):        "401  403   403  403   ok   404   403  403",
    ("GET", "/api/v1/agreements/{agreement_id}/statement"):         "401  ok    ok   404   ok   404   403  403",
    ("GET", "/api/v1/agreements/{agreement_id}/statement/export"):  "401  ok    ok   404   ok   404   403  403",
    # Risk pools belong to the finance office; agencies and banks read them to name them in agreements.
    ("GET", "/api/v1/risk-pools"):                                  "401  ok    ok   ok    ok   ok    403  403",
    ("POST", "/api/v1/risk-pools"):                                 "401  ok    403  403   403  403   403  403",
    ("GET", "/api/v1/risk-pools/{pool_id}"):                        "401  ok    ok   ok    ok   ok    403  403",
    ("GET", "/api/v1/risk-pools/{pool_id}/deposits"):               "401  ok    403  403   403  403   403  403",
    ("POST", "/api/v1/risk-pools/{pool_id}/deposits"):              "401  ok    403  403   403  403   403  403",
    # Batches (agency).
    ("GET", "/api/v1/batches"):                                     "401  ok    403  403   ok   ok    403  403",
    ("GET", "/api/v1/batches/{batch_id}"):                          "401  ok    403  403   ok   404   403  403",
    ("GET", "/api/v1/batches/{batch_id}/export"):                   "401  ok    403  403   ok   404   403  403",
    ("POST", "/api/v1/batches/{batch_id}/submit"):                  "401  403   403  403   ok   404   403  403",
    ("POST", "/api/v1/batches/{batch_id}/decision"):                "401  403   403  403   ok   404   403  403",
    # The tier registry (admin).
    ("GET", "/api/v1/tier-registry/imports"):                       "401  ok    403  403   403  403   403  403",
    ("POST", "/api/v1/tier-registry/imports"):                      "401  ok    403  403   403  403   403  403",
    ("GET", "/api/v1/tier-registry/imports/{import_id}"):           "401  ok    403  403   403  403   403  403",
    # Fee rules: the admin keeps them, every party reads them; banks and agencies preview under their agreements
    # (another's agreement in the body is refused exactly as a missing one: 422 on agreement_id).
    ("GET", "/api/v1/fee-rules"):                                   "401  ok    ok   ok    ok   ok    ok   ok",
    ("POST", "/api/v1/fee-rules"):                                  "401  ok    403  403   403  403   403  403",
    ("GET", "/api/v1/fee-rules/{rule_id}"):                         "401  ok    ok   ok    ok   ok    ok   ok",
    ("PATCH", "/api/v1/fee-rules/{rule_id}"):                       "401  ok    403  403   403  403   403  403",
    ("POST", "/api/v1/fee-rules/preview"):                          "401  ok    ok   422   ok   422   403  403",
    # … and for their own customers only: enterprise2 never applied to the bank nor has a guarantee of the agency.
    ("POST", "/api/v1/fee-rules/preview", "a stranger"):            "401  ok    422  422   422  422   403  403",
    ("GET", "/api/v1/subsidy-settlements"):                         "401  ok    403  403   ok   ok    403  403",
    # The ledger: every party reads its own accounts and the entries that touch them; the admin corrects.
    ("GET", "/api/v1/ledger/trial-balance"):                        "401  ok    ok   ok    ok   ok    ok   ok",
    ("GET", "/api/v1/ledger/accounts/{account_id}/entries"):        "401  ok    404  404   ok   404   404  404",
    ("GET", "/api/v1/ledger/accounts/{account_id}/entries", "enterprise's"):
                                                                    "401  ok    404  404   404  404   ok   404",
    ("GET", "/api/v1/ledger/journal"):                              "401  ok    ok   ok    ok   ok    ok   ok",
    ("GET", "/api/v1/ledger/journal/export"):                       "401  ok    ok   ok    ok   ok    ok   ok",
    ("POST", "/api/v1/ledger/journal/{entry_id}/reverse"):          "401  ok    403  403   403  403   403  403",
    # Banks' systems: the outbox (admin), signed callbacks (HMAC, never a bearer token), the callback secret.
    ("GET", "/api/v1/outbox"):                                      "401  ok    403  403   403  403   403  403",
    ("GET", "/api/v1/outbox/{message_id}"):                         "401  ok    403  403   403  403   403  403",
    ("POST", "/api/v1/outbox/{message_id}/redrive"):                "401  ok    403  403   403  403   403  403",
    ("POST", "/api/v1/bank-callbacks/{bank_code}"):                 "401  401   401  401   401  401   401  401",
    ("POST", "/api/v1/bank-callbacks/{bank_code}", "signed"):       "ok   ok    ok   ok    ok   ok    ok   ok",
    ("POST", "/api/v1/banks/{bank_id}/callback-secret"):            "401  ok    ok   404   403  403   403  403",
    # The audit trail (admin).
    ("GET", "/api/v1/audit"):                                       "401  ok    403  403   403  403   403  403",
}

#: Routes under /api/ that are not operations of the document: the document itself and its viewer, public.
DOCUMENTATION = {"/api/v1/openapi.json": "/api/v1/openapi.json", "/api/v1/docs": "/api/v1/docs",
                 "/api/v1/docs/assets/<path:filename>": "/api/v1/docs/assets/swagger-ui.css"}


def _today() -> str:
    return business_today().isoformat()


def _signed_callback(w: MatrixWorld, signature: str | None = None) -> dict[str, Any]:
    """The bank declines its submitted application, as its system would report it."""
    body = json.dumps({"event_id": "matrix-1", "type": "application.declined", "application_id": w.application,
                       "reason": "Outside our appetite"}).encode()
    stamp = str(int(time.time()))
    return {"bank_code": w.bank_code, "data": body, "content_type": "application/json",
            "headers": {"X-Timestamp": stamp, "X-Signature": signature or sign(w.bank_secret, stamp, body)}}


Request = Callable[[MatrixWorld, str], dict[str, Any]]

#: What each cell sends: path parameters by name, and json / data / query_string / headers / content_type.
REQUESTS: dict[tuple[str, ...], Request] = {
    ("GET", "/healthz"): lambda w, who: {},
    ("POST", "/api/v1/auth/token"): lambda w, who: {"json": {
        "username": w.usernames["bank" if who == "anonymous" else who], "password": PASSWORD}},
    ("POST", "/api/v1/auth/token/revoke"): lambda w, who: {},
    ("GET", "/api/v1/auth/me"): lambda w, who: {},
    ("GET", "/api/v1/users"): lambda w, who: {},
    ("POST", "/api/v1/users"): lambda w, who: {"json": {
        "username": "matrix-new-officer", "password": STRONG_PASSWORD, "role": "bank",
        "organization_id": w.org["bank"]}},
    # Accounts (issue 21): the actor's own password, and users of the first bank and agency who are not actors.
    ("POST", "/api/v1/auth/password"): lambda w, who: {"json": {
        "current_password": PASSWORD, "new_password": STRONG_PASSWORD}},
    ("GET", "/api/v1/organizations/{organization_id}/users"): lambda w, who: {"organization_id": w.org["bank"]},
    ("GET", "/api/v1/organizations/{organization_id}/users", "agency's"): lambda w, who: {
        "organization_id": w.org["agency"]},
    ("GET", "/api/v1/organizations/{organization_id}/users", "enterprise's"): lambda w, who: {
        "organization_id": w.org["enterprise"]},
    ("POST", "/api/v1/organizations/{organization_id}/users"): lambda w, who: {
        "organization_id": w.org["bank"], "json": {"username": "matrix-added-officer", "password": STRONG_PASSWORD,
                                                   "email": "added-officer@bank-one.example"}},
    ("POST", "/api/v1/organizations/{organization_id}/users", "agency's"): lambda w, who: {
        "organization_id": w.org["agency"], "json": {"username": "matrix-added-officer",
                                                     "password": STRONG_PASSWORD, "org_admin": True}},
    ("POST", "/api/v1/users/{user_id}/disable"): lambda w, who: {"user_id": w.officer["bank"]},
    ("POST", "/api/v1/users/{user_id}/disable", "agency's"): lambda w, who: {"user_id": w.officer["agency"]},
    ("POST", "/api/v1/users/{user_id}/enable"): lambda w, who: {"user_id": w.former["bank"]},
    ("POST", "/api/v1/users/{user_id}/enable", "agency's"): lambda w, who: {"user_id": w.former["agency"]},
    ("POST", "/api/v1/users/{user_id}/reset-password"): lambda w, who: {"user_id": w.officer["bank"]},
    ("POST", "/api/v1/users/{user_id}/reset-password", "agency's"): lambda w, who: {"user_id": w.officer["agency"]},
    ("GET", "/api/v1/banks"): lambda w, who: {},
    ("POST", "/api/v1/banks"): lambda w, who: {"json": {"name": "Matrix Bank Three", "code": "MXBANK3"}},
    ("GET", "/api/v1/agencies"): lambda w, who: {},
    ("POST", "/api/v1/agencies"): lambda w, who: {"json": {"name": "Matrix Agency Three", "code": "MXAG3",
                                                           "kind": "local"}},
    ("POST", "/api/v1/enterprises/register"): lambda w, who: {"json": {
        "username": "matrix-new-owner", "password": STRONG_PASSWORD, "uscc": new_uscc(99), "name": "Matrix Newco",
        "region_code": "330106", "industry_code": "C3811", "size": "small", "annual_revenue": "42000000.00",
        "rd_expense": "3800000.00", "employees": 96}},
    ("GET", "/api/v1/enterprises"): lambda w, who: {},
    ("GET", "/api/v1/enterprises/{enterprise_id}"): lambda w, who: {"enterprise_id": w.org["enterprise"]},
    ("PUT", "/api/v1/enterprises/{enterprise_id}/tier"): lambda w, who: {
        "enterprise_id": w.org["enterprise"], "json": {"tier": "little_giant", "valid_until": "2099-12-31"}},
    ("GET", "/api/v1/lpr"): lambda w, who: {},
    ("PUT", "/api/v1/lpr"): lambda w, who: {"json": {"effective_on": _today(), "lpr_1y": "0.0310",
                                                     "lpr_5y": "0.0360"}},
    ("GET", "/api/v1/products"): lambda w, who: {},
    ("POST", "/api/v1/products"): lambda w, who: {"json": PLAIN_PRODUCT},
    ("GET", "/api/v1/products/{product_id}"): lambda w, who: {"product_id": w.product},
    ("GET", "/api/v1/products/{product_id}", "draft"): lambda w, who: {"product_id": w.draft},
    ("PATCH", "/api/v1/products/{product_id}"): lambda w, who: {"product_id": w.draft,
                                                                "json": {"name": "Matrix draft, renamed"}},
    ("POST", "/api/v1/products/{product_id}/publish"): lambda w, who: {"product_id": w.draft},
    ("DELETE", "/api/v1/products/{product_id}"): lambda w, who: {"product_id": w.draft},
    ("POST", "/api/v1/products/{product_id}/suspend"): lambda w, who: {"product_id": w.product},
    ("POST", "/api/v1/products/{product_id}/archive"): lambda w, who: {"product_id": w.product},
    ("GET", "/api/v1/products/export"): lambda w, who: {},
    ("GET", "/api/v1/products/import-template"): lambda w, who: {},
    ("POST", "/api/v1/products/imports"): lambda w, who: {
        "content_type": "multipart/form-data", "data": {"file": (io.BytesIO(product_sheet()), "products.xlsx")}},
    # The PUT sets the credit type's bounds to the defaults: every product of the world keeps within them.
    ("GET", "/api/v1/pricing-bounds"): lambda w, who: {},
    ("GET", "/api/v1/pricing-bounds/{product_type}"): lambda w, who: {"product_type": "credit"},
    ("PUT", "/api/v1/pricing-bounds/{product_type}"): lambda w, who: {"product_type": "credit", "json": {
        "spread_min_bp": -150, "spread_max_bp": 600, "amount_min": "10000.00", "amount_max": "500000000.00",
        "term_min_months": 1, "term_max_months": 120}},
    ("GET", "/api/v1/financing-requests"): lambda w, who: {},
    ("POST", "/api/v1/financing-requests"): lambda w, who: {"json": REQUEST},
    ("GET", "/api/v1/financing-requests/{request_id}"): lambda w, who: {"request_id": w.request},
    ("POST", "/api/v1/financing-requests/{request_id}/select"): lambda w, who: {
        "request_id": w.request, "json": {"offer_id": w.offer}},
    ("POST", "/api/v1/financing-requests/{request_id}/withdraw"): lambda w, who: {"request_id": w.request},
    ("GET", "/api/v1/applications"): lambda w, who: {},
    ("GET", "/api/v1/applications/{application_id}"): lambda w, who: {"application_id": w.application},
    ("GET", "/api/v1/applications/{application_id}", "guaranteed"): lambda w, who: {
        "application_id": w.guaranteed_application},
    ("POST", "/api/v1/applications/{application_id}/counter-offer/accept"): lambda w, who: {
        "application_id": w.countered},
    ("POST", "/api/v1/applications/{application_id}/counter-offer/decline"): lambda w, who: {
        "application_id": w.countered, "json": {"reason": "Matrix decline"}},
    ("GET", "/api/v1/notifications"): lambda w, who: {},
    ("POST", "/api/v1/notifications/{notification_id}/read"): lambda w, who: {"notification_id": w.notification},
    ("POST", "/api/v1/notifications/read-all"): lambda w, who: {},
    ("PATCH", "/api/v1/auth/me"): lambda w, who: {"json": {"email_notifications": False}},
    ("POST", "/api/v1/applications/{application_id}/decision"): lambda w, who: {
        "application_id": w.application, "json": {"decision": "approved"}},
    ("GET", "/api/v1/loans/{loan_id}"): lambda w, who: {"loan_id": w.loan},
    ("POST", "/api/v1/loans/{loan_id}/events"): lambda w, who: {
        "loan_id": w.loan, "json": {"type": "disbursed", "occurred_on": _today()}},
    ("GET", "/api/v1/loans/{loan_id}/schedule"): lambda w, who: {"loan_id": w.guaranteed_loan},
    ("GET", "/api/v1/claims"): lambda w, who: {},
    ("GET", "/api/v1/claims/{claim_id}"): lambda w, who: {"claim_id": w.claim},
    ("POST", "/api/v1/claims/{claim_id}/documents"): lambda w, who: {
        "claim_id": w.claim, "content_type": "multipart/form-data",
        "data": {"file": (io.BytesIO(b"%PDF-1.4\n%%EOF\n"), "matrix-more-evidence.pdf")}},
    ("GET", "/api/v1/claims/{claim_id}/documents/{document_id}"): lambda w, who: {
        "claim_id": w.claim, "document_id": w.claim_document},
    ("POST", "/api/v1/claims/{claim_id}/decision"): lambda w, who: {
        "claim_id": w.claim, "json": {"decision": "pay"}},
    ("POST", "/api/v1/loans/{loan_id}/claims"): lambda w, who: {
        "loan_id": w.refused_claim_loan, "json": {"amount": "1000000.00", "note": "Matrix: court filing attached"}},
    ("GET", "/api/v1/agreements"): lambda w, who: {},
    ("POST", "/api/v1/agreements"): lambda w, who: {"json": agreement_body("MX-NEW", w.org["bank"])},
    ("GET", "/api/v1/agreements/{agreement_id}"): lambda w, who: {"agreement_id": w.agreement},
    ("POST", "/api/v1/agreements/{agreement_id}/countersign"): lambda w, who: {"agreement_id": w.pending},
    ("POST", "/api/v1/agreements/{agreement_id}/suspend"): lambda w, who: {"agreement_id": w.agreement},
    ("POST", "/api/v1/agreements/{agreement_id}/resume"): lambda w, who: {"agreement_id": w.suspended},
    ("POST", "/api/v1/agreements/{agreement_id}/return"): lambda w, who: {
        "agreement_id": w.pending, "json": {"reason": "Matrix: the caps are too high"}},
    ("POST", "/api/v1/agreements/{agreement_id}/resubmit"): lambda w, who: {
        "agreement_id": w.returned, "json": agreement_terms(w.org["bank"])},
    ("POST", "/api/v1/agreements/{agreement_id}/terminate"): lambda w, who: {"agreement_id": w.returned},
    ("GET", "/api/v1/agreements/{agreement_id}/statement"): lambda w, who: {"agreement_id": w.agreement},
    ("GET", "/api/v1/agreements/{agreement_id}/statement/export"): lambda w, who: {"agreement_id": w.agreement},
    ("GET", "/api/v1/risk-pools"): lambda w, who: {},
    ("POST", "/api/v1/risk-pools"): lambda w, who: {"json": {"name": "Matrix pool two", "region_code": "32"}},
    ("GET", "/api/v1/risk-pools/{pool_id}"): lambda w, who: {"pool_id": w.pool},
    ("GET", "/api/v1/risk-pools/{pool_id}/deposits"): lambda w, who: {"pool_id": w.pool},
    ("POST", "/api/v1/risk-pools/{pool_id}/deposits"): lambda w, who: {"pool_id": w.pool,
                                                                       "json": {"amount": "1000.00"}},
    ("GET", "/api/v1/batches"): lambda w, who: {},
    ("GET", "/api/v1/batches/{batch_id}"): lambda w, who: {"batch_id": w.batch_decided},
    ("GET", "/api/v1/batches/{batch_id}/export"): lambda w, who: {"batch_id": w.batch_decided},
    ("POST", "/api/v1/batches/{batch_id}/submit"): lambda w, who: {"batch_id": w.batch_open},
    ("POST", "/api/v1/batches/{batch_id}/decision"): lambda w, who: {"batch_id": w.batch_submitted,
                                                                     "json": {"exclusions": []}},
    ("GET", "/api/v1/tier-registry/imports"): lambda w, who: {},
    ("POST", "/api/v1/tier-registry/imports"): lambda w, who: {
        "content_type": "multipart/form-data",
        "data": {"file": (io.BytesIO(tier_list_csv(w.enterprise_uscc)), "list.csv")}},
    ("GET", "/api/v1/tier-registry/imports/{import_id}"): lambda w, who: {"import_id": w.tier_import},
    ("GET", "/api/v1/fee-rules"): lambda w, who: {},
    ("POST", "/api/v1/fee-rules"): lambda w, who: {"json": {**FEE_RULE, "name": "Matrix second rule"}},
    ("GET", "/api/v1/fee-rules/{rule_id}"): lambda w, who: {"rule_id": w.rule},
    ("PATCH", "/api/v1/fee-rules/{rule_id}"): lambda w, who: {"rule_id": w.rule, "json": {"name": "Renamed"}},
    ("POST", "/api/v1/fee-rules/preview"): lambda w, who: {"json": {
        "enterprise_id": w.org["enterprise"], "agreement_id": w.agreement, "amount": "1000000.00",
        "term_months": 12}},
    ("POST", "/api/v1/fee-rules/preview", "a stranger"): lambda w, who: {"json": {
        "enterprise_id": w.org["enterprise2"], "agreement_id": w.agreement, "amount": "1000000.00",
        "term_months": 12}},
    ("GET", "/api/v1/subsidy-settlements"): lambda w, who: {},
    ("GET", "/api/v1/ledger/trial-balance"): lambda w, who: {},
    ("GET", "/api/v1/ledger/accounts/{account_id}/entries"): lambda w, who: {"account_id": w.agency_account},
    ("GET", "/api/v1/ledger/accounts/{account_id}/entries", "enterprise's"): lambda w, who: {
        "account_id": w.enterprise_account},
    ("GET", "/api/v1/ledger/journal"): lambda w, who: {},
    ("GET", "/api/v1/ledger/journal/export"): lambda w, who: {},
    ("POST", "/api/v1/ledger/journal/{entry_id}/reverse"): lambda w, who: {
        "entry_id": w.fee_entry, "json": {"occurred_on": _today(), "memo": "Matrix correction"}},
    ("GET", "/api/v1/outbox"): lambda w, who: {},
    ("GET", "/api/v1/outbox/{message_id}"): lambda w, who: {"message_id": w.message},
    ("POST", "/api/v1/outbox/{message_id}/redrive"): lambda w, who: {"message_id": w.message},
    ("POST", "/api/v1/bank-callbacks/{bank_code}"): lambda w, who: _signed_callback(w, signature="0" * 64),
    ("POST", "/api/v1/bank-callbacks/{bank_code}", "signed"): lambda w, who: _signed_callback(w),
    ("POST", "/api/v1/banks/{bank_id}/callback-secret"): lambda w, who: {"bank_id": w.org["bank"]},
    ("GET", "/api/v1/audit"): lambda w, who: {},
}

#: Body fields naming another organisation's object, in rows whose cells answer 422 for it.
REFERENCES: dict[tuple[str, ...], str] = {("POST", "/api/v1/fee-rules/preview"): "agreement_id",
                                          ("POST", "/api/v1/fee-rules/preview", "a stranger"): "enterprise_id"}


# What a non-admin's list may hold: each check returns the items that are not the actor's to see. -----------------

def _org(w: MatrixWorld, who: str) -> int:
    return w.org[who]


def _products(w: MatrixWorld, who: str, body: Any) -> list:
    own_bank = w.org.get(who) if who.startswith("bank") else None
    return [p for p in body if p["status"] != "published" and p["bank_id"] != own_bank]


def _requests(w: MatrixWorld, who: str, body: Any) -> list:
    return [r for r in body if r["enterprise_id"] != _org(w, who)]


def _applications(w: MatrixWorld, who: str, body: Any) -> list:
    if who.startswith("agency"):
        return [a for a in body if a["id"] not in w.applications_of.get(who, set())]
    return [a for a in body if a["bank_id"] != _org(w, who)]


def _notifications(w: MatrixWorld, who: str, body: Any) -> list:
    """Another user's notification would carry the first tenants' names; the bank's must be its own kinds."""
    return [n for n in body if who != "bank" and n["id"] == w.notification]


def _agreements(w: MatrixWorld, who: str, body: Any) -> list:
    if who.startswith("bank"):
        return [a for a in body if a["bank_id"] != _org(w, who)]
    return [a for a in body if _org(w, who) not in (a["agency_id"], a["reguarantor_id"])]


def _batches(w: MatrixWorld, who: str, body: Any) -> list:
    return [b for b in body if b["agreement_id"] not in w.agreements_of.get(who, set())]


def _claims(w: MatrixWorld, who: str, body: Any) -> list:
    side = "bank_id" if who.startswith("bank") else "agency_id"
    return [c for c in body if c[side] != _org(w, who)]


def _settlements(w: MatrixWorld, who: str, body: Any) -> list:
    return [s for s in body if s["agency_id"] != _org(w, who)]


def _accounts(w: MatrixWorld, who: str, body: Any) -> list:
    return [a for a in body["accounts"] if a["id"] not in w.accounts_of.get(who, set())]


def _entries(w: MatrixWorld, who: str, body: Any) -> list:
    own = w.accounts_of.get(who, set())
    return [e for e in body if not any(p["account_id"] in own for p in e["postings"])]


def _export_rows(w: MatrixWorld, who: str, body: Any) -> list:
    """The CSV export: every entry (its rows share entry_id) must post to one of the actor's accounts."""
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    own = w.account_codes_of.get(who, set())
    mine = {row["entry_id"] for row in rows if row["account"] in own}
    return [row for row in rows if row["entry_id"] not in mine]


def _banks(w: MatrixWorld, who: str, body: Any) -> list:
    return [b for b in body if {"api_base_url", "callback_secret"} & set(b)]


def _users(w: MatrixWorld, who: str, body: Any) -> list:
    """An organisation's users, to its administrator: only that organisation's."""
    return [u for u in body if u["organization_id"] != _org(w, who)]


def _product_rows(w: MatrixWorld, who: str, body: Any) -> list:
    """The catalogue export: other banks' rows must be published."""
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    return _products(w, who, [{"status": row["status"], "bank_id": int(row["bank_id"])} for row in rows])



SCOPED: dict[tuple[str, ...], Callable[[MatrixWorld, str, Any], list]] = {
    ("GET", "/api/v1/products"): _products,
    ("GET", "/api/v1/financing-requests"): _requests,
    ("GET", "/api/v1/applications"): _applications,
    ("GET", "/api/v1/notifications"): _notifications,
    ("GET", "/api/v1/agreements"): _agreements,
    ("GET", "/api/v1/batches"): _batches,
    ("GET", "/api/v1/subsidy-settlements"): _settlements,
    ("GET", "/api/v1/claims"): _claims,
    ("GET", "/api/v1/ledger/trial-balance"): _accounts,
    ("GET", "/api/v1/ledger/journal"): _entries,
    ("GET", "/api/v1/ledger/journal/export"): _export_rows,
    ("GET", "/api/v1/products/export"): _product_rows,
    ("GET", "/api/v1/banks"): _banks,
    ("GET", "/api/v1/organizations/{organization_id}/users"): _users,
    ("GET", "/api/v1/organizations/{organization_id}/users", "agency's"): _users,
}


# The tests ----------------------------------------------------------------------------------------------------

@functools.cache
def _document(app: Flask) -> dict[str, Any]:
    return app.test_client().get("/api/v1/openapi.json").json


def _operations(app: Flask) -> set[tuple[str, str]]:
    document = _document(app)
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item
            if method in ("get", "put", "post", "patch", "delete")}


def _success_codes(app: Flask, method: str, path: str) -> set[int]:
    responses = _document(app)["paths"][path][method.lower()]["responses"]
    return {int(code) for code in responses if code.isdigit() and 200 <= int(code) < 300}


def _call(w: MatrixWorld, key: tuple[str, ...], who: str, missing: bool = False):
    """The cell's request; with `missing`, the same request naming an id no object has."""
    method, template = key[:2]
    spec = REQUESTS[key](w, who)
    if missing and key in REFERENCES:
        spec["json"] = {**spec["json"], REFERENCES[key]: MISSING}
    path = template
    for name in re.findall(r"{(\w+)}", template):
        value = spec.pop(name)
        path = path.replace(f"{{{name}}}", str(MISSING if missing and isinstance(value, int) else value))
    headers = {**spec.pop("headers", {})}
    if who != "anonymous":
        headers["Authorization"] = f"Bearer {w.tokens[who]}"
    return w.client().open(path, method=method, headers=headers, **spec)


def _same_but_the_ids(text: str | None) -> str:
    return re.sub(r"\d+", "N", text or "")


def test_the_table_covers_the_openapi_document(matrix):
    documented = _operations(matrix.app)
    tabled = {key[:2] for key in EXPECTED}
    assert documented - tabled == set(), "operations with no row in EXPECTED: add them"
    assert tabled - documented == set(), "rows in EXPECTED for operations the document does not have"
    assert set(REQUESTS) == set(EXPECTED), "every row needs its request, and every request its row"
    assert all(len(row.split()) == len(ACTORS) for row in EXPECTED.values())


def test_every_other_api_route_is_the_public_documentation(matrix):
    documented = {path for _method, path in _operations(matrix.app)}
    others = {rule.rule for rule in matrix.app.url_map.iter_rules() if rule.rule.startswith("/api/")
              and re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule) not in documented}
    assert others == set(DOCUMENTATION)
    for path in DOCUMENTATION.values():
        assert matrix.client().get(path).status_code == 200, path


def _cells():
    for key, row in EXPECTED.items():
        for who, expected in zip(ACTORS, row.split(), strict=True):
            label = f"{key[0]} {key[1]}" + (f" ({key[2]})" if len(key) > 2 else "")
            yield pytest.param(key, who, expected, id=f"{label} as {who}")


@pytest.mark.parametrize(("key", "who", "expected"), list(_cells()))
def test_api_cell(matrix, key, who, expected):
    response = _call(matrix, key, who)
    got = response.status_code
    body = response.get_json(silent=True)
    detail = body.get("detail") if isinstance(body, dict) else response.get_data()[:300].decode(errors="replace")
    if who in SECOND_TENANTS:
        leaked = [mark for mark in matrix.private_marks() if mark.encode() in response.get_data()]
        assert leaked == [], f"{who} reads the first tenants' {leaked}"
    if expected == OK:
        assert got in _success_codes(matrix.app, *key[:2]), f"{who} was refused or failed: {got} {detail}"
        if who not in ("anonymous", "admin") and key in SCOPED:
            shown = response.json if response.is_json else response.get_data(as_text=True)
            assert SCOPED[key](matrix, who, shown) == [], f"{who} sees another organisation's data"
        return
    assert got == int(expected), f"expected {expected}, got {got}: {detail}"
    if got >= 400 and key[1].startswith("/api/"):
        assert response.mimetype == "application/problem+json"
    if got in (404, 422):
        missing = _call(matrix, key, who, missing=True)
        assert _same_but_the_ids(json.dumps(missing.json, sort_keys=True)) == _same_but_the_ids(
            json.dumps(response.json, sort_keys=True)), "the answer differs from a missing id's"
