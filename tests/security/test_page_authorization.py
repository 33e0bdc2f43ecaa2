"""The web pages' authorization matrix (issue 7): every page route of the app's URL map (everything but /api/ and
/static/), with every method it answers, visited by every actor signed in through /login, answers what the table
below says. A new page fails `test_the_table_covers_every_page` until it has a row.

A cell is one of
- ``ok``: let through: a GET shows the page (200) or redirects elsewhere than /login?next=…; a POST, sent with
  the session's CSRF token and a valid form, redirects elsewhere than /login?next=… or shows the page (200);
  a valid form is never answered with its errors (422), so ``ok`` means the work was done;
- ``login``: an anonymous visitor is sent to /login?next=…;
- ``403`` the role may not open the page; ``404`` missing or another organisation's (the error page then says
  what it says for an id no object has).

Path parameters point at objects of the FIRST bank, agency and enterprise (tests/security/authz_world.py), and
no page a second tenant gets may carry words only the first tenants' objects hold (MatrixWorld.private_marks).
"""

from __future__ import annotations

import io
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from werkzeug.routing.converters import AnyConverter

from marketplace.bank_systems import sandbox
from marketplace.bank_systems.callbacks import sign
from marketplace.dates import business_today
from tests.pages import PASSWORD
from tests.security.authz_world import (
    ACTORS,
    SECOND_TENANTS,
    STRONG_PASSWORD,
    MatrixWorld,
    new_uscc,
    product_sheet,
    tier_list_csv,
)

OK, LOGIN = "ok", "login"
MISSING = 987654

# Columns: anonymous, admin, bank, bank2, agency, agency2, enterprise, enterprise2.
PAGES: dict[tuple[str, str], str] = {
    #                                                              anon   admin bank bank2 agcy agcy2 ent  ent2
    ("GET", "/"):                                                 "ok     ok    ok   ok    ok   ok    ok   ok",
    ("GET", "/favicon.ico"):                                      "ok     ok    ok   ok    ok   ok    ok   ok",
    ("GET", "/login"):                                            "ok     ok    ok   ok    ok   ok    ok   ok",
    ("POST", "/login"):                                           "ok     ok    ok   ok    ok   ok    ok   ok",
    ("POST", "/logout"):                                          "ok     ok    ok   ok    ok   ok    ok   ok",
    ("POST", "/language"):                                        "ok     ok    ok   ok    ok   ok    ok   ok",
    ("GET", "/enterprise/register"):                              "ok     ok    ok   ok    ok   ok    ok   ok",
    ("POST", "/enterprise/register"):                             "ok     ok    ok   ok    ok   ok    ok   ok",
    ("GET", "/products"):                                         "login  ok    ok   ok    ok   ok    ok   ok",
    ("GET", "/products/export.csv"):                              "login  ok    ok   ok    ok   ok    ok   ok",
    ("GET", "/products/export.xlsx"):                             "login  ok    ok   ok    ok   ok    ok   ok",
    ("GET", "/products/{product_id}"):                            "ok     ok    ok   ok    ok   ok    ok   ok",
    # The bank's pages.
    ("GET", "/bank/products"):                                    "login  403   ok   ok    403  403   403  403",
    ("GET", "/bank/products/new"):                                "login  403   ok   ok    403  403   403  403",
    ("POST", "/bank/products/new"):                               "login  403   ok   ok    403  403   403  403",
    ("GET", "/bank/products/{product_id}/edit"):                  "login  403   ok   404   403  403   403  403",
    ("POST", "/bank/products/{product_id}/edit"):                 "login  403   ok   404   403  403   403  403",
    ("POST", "/bank/products/{product_id}/publish"):              "login  403   ok   404   403  403   403  403",
    ("POST", "/bank/products/{product_id}/suspend"):              "login  403   ok   404   403  403   403  403",
    ("POST", "/bank/products/{product_id}/archive"):              "login  403   ok   404   403  403   403  403",
    ("POST", "/bank/products/{product_id}/delete"):               "login  403   ok   404   403  403   403  403",
    ("GET", "/bank/products/export.csv"):                         "login  403   ok   ok    403  403   403  403",
    ("GET", "/bank/products/export.xlsx"):                        "login  403   ok   ok    403  403   403  403",
    ("GET", "/bank/products/import-template.xlsx"):               "login  403   ok   ok    403  403   403  403",
    ("GET", "/bank/products/import"):                             "login  403   ok   ok    403  403   403  403",
    ("POST", "/bank/products/import"):                            "login  403   ok   ok    403  403   403  403",
    ("GET", "/bank/applications"):                                "login  403   ok   ok    403  403   403  403",
    ("GET", "/bank/dashboard"):                                   "login  403   ok   ok    403  403   403  403",
    ("POST", "/bank/applications/{application_id}/decision"):     "login  403   ok   404   403  403   403  403",
    ("GET", "/bank/applications/{application_id}"):               "login  403   ok   404   403  403   403  403",
    ("GET", "/agency/applications/{application_id}"):             "login  403   403  403   ok   404   403  403",
    ("GET", "/applications/{application_id}/version"):            "login  403   ok   404   ok   404   403  403",
    ("GET", "/bank/agreements"):                                  "login  403   ok   ok    403  403   403  403",
    ("POST", "/bank/agreements/{agreement_id}/countersign"):      "login  403   ok   404   403  403   403  403",
    ("GET", "/bank/agreements/{agreement_id}"):                   "login  403   ok   404   403  403   403  403",
    ("POST", "/bank/agreements/{agreement_id}/return"):           "login  403   ok   404   403  403   403  403",
    # The bank's loans after approval and its compensation claims (issue 20).
    ("GET", "/bank/loans"):                                       "login  403   ok   ok    403  403   403  403",
    ("GET", "/bank/loans/{loan_id}"):                             "login  403   ok   404   403  403   403  403",
    ("POST", "/bank/loans/{loan_id}/events"):                     "login  403   ok   404   403  403   403  403",
    ("POST", "/bank/loans/{loan_id}/claims"):                     "login  403   ok   404   403  403   403  403",
    ("POST", "/bank/claims/{claim_id}/documents"):                "login  403   ok   404   403  403   403  403",
    ("GET", "/bank/claims/{claim_id}/documents/{document_id}"):   "login  403   ok   404   403  403   403  403",
    # The enterprise's pages.
    ("GET", "/enterprise/requests"):                              "login  403   403  403   403  403   ok   ok",
    ("GET", "/enterprise/requests/new"):                          "login  403   403  403   403  403   ok   ok",
    ("POST", "/enterprise/requests/new"):                         "login  403   403  403   403  403   ok   ok",
    ("GET", "/enterprise/requests/{request_id}"):                 "login  403   403  403   403  403   ok   404",
    ("POST", "/enterprise/requests/{request_id}/select"):         "login  403   403  403   403  403   ok   404",
    ("POST", "/enterprise/requests/{request_id}/withdraw"):       "login  403   403  403   403  403   ok   404",
    ("GET", "/enterprise/requests/{request_id}/version"):         "login  403   403  403   403  403   ok   404",
    ("POST", "/enterprise/applications/{application_id}/counter-offer/accept"):
                                                                  "login  403   403  403   403  403   ok   404",
    ("POST", "/enterprise/applications/{application_id}/counter-offer/decline"):
                                                                  "login  403   403  403   403  403   ok   404",
    ("GET", "/enterprise/loans"):                                 "login  403   403  403   403  403   ok   ok",
    ("GET", "/enterprise/loans/{loan_id}"):                       "login  403   403  403   403  403   ok   404",
    ("GET", "/enterprise/loans/{loan_id}/schedule.xlsx"):         "login  403   403  403   403  403   ok   404",
    # Accounts (issue 21): everyone changes their own password; the admin lists the organisations. A bank's or
    # agency's administrator (every bank and agency actor is one) manages its own organisation's users, another's is
    # a 404; the admin any organisation's; nobody else any (403). The rows name the first bank and its users.
    ("GET", "/account/password"):                                 "login  ok    ok   ok    ok   ok    ok   ok",
    ("POST", "/account/password"):                                "login  ok    ok   ok    ok   ok    ok   ok",
    ("GET", "/admin/organizations"):                              "login  ok    403  403   403  403   403  403",
    ("GET", "/organizations/{organization_id}/users"):            "login  ok    ok   404   404  404   403  403",
    ("POST", "/organizations/{organization_id}/users"):           "login  ok    ok   404   404  404   403  403",
    ("POST", "/organizations/{organization_id}/users/{user_id}/disable"):
                                                                  "login  ok    ok   404   404  404   403  403",
    ("POST", "/organizations/{organization_id}/users/{user_id}/enable"):
                                                                  "login  ok    ok   404   404  404   403  403",
    ("POST", "/organizations/{organization_id}/users/{user_id}/reset-password"):
                                                                  "login  ok    ok   404   404  404   403  403",
    # Everyone's own message centre.
    ("GET", "/notifications"):                                    "login  ok    ok   ok    ok   ok    ok   ok",
    ("POST", "/notifications/{notification_id}/read"):            "login  404   ok   404   404  404   404  404",
    ("POST", "/notifications/read-all"):                          "login  ok    ok   ok    ok   ok    ok   ok",
    ("POST", "/notifications/settings"):                          "login  ok    ok   ok    ok   ok    ok   ok",
    # The agency's pages.
    ("GET", "/agency/agreements"):                                "login  403   403  403   ok   ok    403  403",
    ("GET", "/agency/agreements/new"):                            "login  403   403  403   ok   ok    403  403",
    ("POST", "/agency/agreements/new"):                           "login  403   403  403   ok   ok    403  403",
    ("POST", "/agency/agreements/{agreement_id}/suspend"):        "login  403   403  403   ok   404   403  403",
    ("POST", "/agency/agreements/{agreement_id}/resume"):         "login  403   403  403   ok   404   403  403",
    ("POST", "/agency/agreements/{agreement_id}/terminate"):      "login  403   403  403   ok   404   403  403",
    ("GET", "/agency/agreements/{agreement_id}/resubmit"):        "login  403   403  403   ok   404   403  403",
    ("POST", "/agency/agreements/{agreement_id}/resubmit"):       "login  403   403  403   ok   404   403  403",
    ("GET", "/agency/batches"):                                   "login  403   403  403   ok   ok    403  403",
    ("GET", "/agency/dashboard"):                                 "login  403   403  403   ok   ok    403  403",
    ("GET", "/agency/batches/{batch_id}"):                        "login  403   403  403   ok   404   403  403",
    ("GET", "/agency/batches/{batch_id}/export.csv"):             "login  403   403  403   ok   404   403  403",
    ("GET", "/agency/batches/{batch_id}/export.xlsx"):            "login  403   403  403   ok   404   403  403",
    ("POST", "/agency/batches/{batch_id}/submit"):                "login  403   403  403   ok   404   403  403",
    ("POST", "/agency/batches/{batch_id}/decision"):              "login  403   403  403   ok   404   403  403",
    # The agency's compensation claims (issue 20).
    ("GET", "/agency/claims"):                                    "login  403   403  403   ok   ok    403  403",
    ("GET", "/agency/claims/{claim_id}"):                         "login  403   403  403   ok   404   403  403",
    ("GET", "/agency/claims/{claim_id}/documents/{document_id}"): "login  403   403  403   ok   404   403  403",
    ("POST", "/agency/claims/{claim_id}/decision"):               "login  403   403  403   ok   404   403  403",
    # The finance office's pages.
    ("GET", "/admin/tier-registry"):                              "login  ok    403  403   403  403   403  403",
    ("POST", "/admin/tier-registry"):                             "login  ok    403  403   403  403   403  403",
    ("GET", "/admin/tier-registry/imports/{import_id}"):          "login  ok    403  403   403  403   403  403",
    ("GET", "/admin/fee-rules"):                                  "login  ok    403  403   403  403   403  403",
    ("POST", "/admin/fee-rules"):                                 "login  ok    403  403   403  403   403  403",
    ("GET", "/admin/fee-rules/{rule_id}/edit"):                   "login  ok    403  403   403  403   403  403",
    ("POST", "/admin/fee-rules/{rule_id}/edit"):                  "login  ok    403  403   403  403   403  403",
    ("GET", "/admin/fee-rules/preview"):                          "login  ok    403  403   403  403   403  403",
    ("GET", "/admin/pricing-bounds"):                             "login  ok    403  403   403  403   403  403",
    ("POST", "/admin/pricing-bounds/{product_type}"):             "login  ok    403  403   403  403   403  403",
    ("GET", "/admin/risk-pools"):                                 "login  ok    403  403   403  403   403  403",
    ("POST", "/admin/risk-pools"):                                "login  ok    403  403   403  403   403  403",
    ("POST", "/admin/risk-pools/{pool_id}/deposits"):             "login  ok    403  403   403  403   403  403",
    ("GET", "/admin/ledger"):                                     "login  ok    403  403   403  403   403  403",
    ("GET", "/admin/dashboard"):                                  "login  ok    403  403   403  403   403  403",
    ("POST", "/admin/ledger/verify"):                             "login  ok    403  403   403  403   403  403",
    ("GET", "/admin/ledger/journal.csv"):                         "login  ok    403  403   403  403   403  403",
    ("GET", "/admin/ledger/journal.xlsx"):                        "login  ok    403  403   403  403   403  403",
    ("GET", "/admin/ledger/agreements/{agreement_id}"):           "login  ok    403  403   403  403   403  403",
    ("GET", "/admin/ledger/agreements/{agreement_id}/statement.csv"): "login ok  403  403   403  403   403  403",
    ("GET", "/admin/ledger/agreements/{agreement_id}/statement.xlsx"): "login ok 403  403   403  403   403  403",
    ("GET", "/admin/outbox"):                                     "login  ok    403  403   403  403   403  403",
    ("POST", "/admin/outbox/{message_id}/redrive"):               "login  ok    403  403   403  403   403  403",
    ("GET", "/admin/jobs"):                                       "login  ok    403  403   403  403   403  403",
    ("GET", "/admin/audit"):                                      "login  ok    403  403   403  403   403  403",
    # The demo's sandbox bank: the marketplace's outbox calls it with signed JSON (no session, no CSRF), outside
    # production; the session plays no part (an unsigned call is a 401: tests/bank_systems/test_sandbox_bank.py).
    ("POST", "/sandbox-bank/applications"):                       "ok     ok    ok   ok    ok   ok    ok   ok",
}


def _today() -> str:
    return business_today().isoformat()


PRODUCT_FORM = {"name": "Matrix page loan", "product_type": "credit", "amount_min": "500000.00",
                "amount_max": "3000000.00", "term_min_months": "6", "term_max_months": "24", "rate_spread_bp": "25",
                "eligible_tiers": ["srdi", "little_giant"], "eligible_regions": "33", "guarantee": "none",
                "description": ""}
RULE_FORM = {"name": "Matrix page rule", "priority": "10", "stackable": ["false", "true"], "valid_from": "2025-01-01",
             "valid_to": "", "budget": "", "tiers": ["srdi"], "region_prefixes": "33", "product_types": ["credit"],
             "amount_max": "5000000.00", "effect_kind": "cap_fee_rate", "effect_value": "0.0050"}

#: The credit type's bounds, set to the defaults: every product of the world (and of the cells) keeps within them.
BOUNDS_FORM = {"spread_min_bp": "-150", "spread_max_bp": "600", "amount_min": "10000.00", "amount_max": "500000000.00",
               "term_min_months": "1", "term_max_months": "120"}



def _agreement_form(w: MatrixWorld) -> dict[str, Any]:
    return {"code": "MX-PAGE", "bank_id": str(w.org["bank"]), "valid_from": _today(), "valid_to": "2099-12-31",
            "total_quota": "100000000.00", "per_enterprise_cap": "10000000.00", "per_loan_cap": "5000000.00",
            "fee_rate": "0.0100", "compensation_cap_rate": "0.03", "share_agency": "0.80", "share_bank": "0.20",
            "share_reguarantee": "0", "share_risk_pool": "0", "reguarantor_id": "", "risk_pool_id": "",
            "eligible_tiers": ["srdi"], "eligible_product_types": ["credit"], "batch_max_size": "500",
            "review_sla_days": "5", "auto_approve_below": ""}


def _registration() -> dict[str, Any]:
    return {"name": "Matrix Page Newco", "uscc": new_uscc(98), "region_code": "330106", "industry_code": "C3491",
            "size": "small", "annual_revenue": "42000000.00", "rd_expense": "3800000.00", "employees": "96",
            "username": "matrix-page-owner", "password": STRONG_PASSWORD}


Request = Callable[[MatrixWorld, str], dict[str, Any]]

def _signed_handoff(w: MatrixWorld) -> dict[str, Any]:
    """The sandbox intake's request as the outbox sends it: JSON signed under the sandbox bank's secret."""
    raw = json.dumps({"application_id": w.application}).encode()
    with w.app.app_context():
        secret = sandbox.sandbox_bank().callback_secret
    stamp = str(int(time.time()))
    return {"data": raw, "content_type": "application/json", "headers": {
        "Idempotency-Key": str(w.application), "X-Timestamp": stamp, "X-Signature": sign(secret, stamp, raw)}}


#: What each cell sends: path parameters by name, and the form (`data`), or a signed JSON body for the sandbox.
REQUESTS: dict[tuple[str, str], Request] = {
    ("GET", "/"): lambda w, who: {},
    ("GET", "/favicon.ico"): lambda w, who: {},
    ("GET", "/login"): lambda w, who: {},
    ("POST", "/login"): lambda w, who: {"data": {
        "username": w.usernames["bank" if who == "anonymous" else who], "password": PASSWORD}},
    ("POST", "/logout"): lambda w, who: {},
    ("POST", "/language"): lambda w, who: {"data": {"locale": "en", "next": "/products"}},
    ("GET", "/enterprise/register"): lambda w, who: {},
    ("POST", "/enterprise/register"): lambda w, who: {"data": _registration()},
    ("GET", "/products"): lambda w, who: {},
    ("GET", "/products/export.csv"): lambda w, who: {},
    ("GET", "/products/export.xlsx"): lambda w, who: {},
    ("GET", "/products/{product_id}"): lambda w, who: {"product_id": w.guaranteed_product},
    ("GET", "/bank/products"): lambda w, who: {},
    ("GET", "/bank/products/new"): lambda w, who: {},
    ("POST", "/bank/products/new"): lambda w, who: {"data": PRODUCT_FORM},
    ("GET", "/bank/products/{product_id}/edit"): lambda w, who: {"product_id": w.draft},
    ("POST", "/bank/products/{product_id}/edit"): lambda w, who: {"product_id": w.draft, "data": PRODUCT_FORM},
    ("POST", "/bank/products/{product_id}/publish"): lambda w, who: {"product_id": w.draft},
    ("POST", "/bank/products/{product_id}/delete"): lambda w, who: {"product_id": w.draft},
    ("POST", "/bank/products/{product_id}/suspend"): lambda w, who: {"product_id": w.product},
    ("POST", "/bank/products/{product_id}/archive"): lambda w, who: {"product_id": w.product},
    ("GET", "/bank/products/export.csv"): lambda w, who: {},
    ("GET", "/bank/products/export.xlsx"): lambda w, who: {},
    ("GET", "/bank/products/import-template.xlsx"): lambda w, who: {},
    ("GET", "/bank/products/import"): lambda w, who: {},
    ("POST", "/bank/products/import"): lambda w, who: {
        "data": {"file": (io.BytesIO(product_sheet()), "products.xlsx")}},
    ("GET", "/bank/applications"): lambda w, who: {},
    ("GET", "/bank/dashboard"): lambda w, who: {},
    ("POST", "/bank/applications/{application_id}/decision"): lambda w, who: {
        "application_id": w.application, "data": {"decision": "approved"}},
    ("GET", "/bank/applications/{application_id}"): lambda w, who: {"application_id": w.guaranteed_application},
    ("GET", "/agency/applications/{application_id}"): lambda w, who: {"application_id": w.guaranteed_application},
    ("GET", "/applications/{application_id}/version"): lambda w, who: {"application_id": w.guaranteed_application},
    ("GET", "/enterprise/requests/{request_id}/version"): lambda w, who: {"request_id": w.request},
    ("POST", "/enterprise/applications/{application_id}/counter-offer/accept"): lambda w, who: {
        "application_id": w.countered},
    ("POST", "/enterprise/applications/{application_id}/counter-offer/decline"): lambda w, who: {
        "application_id": w.countered, "data": {"reason": "Matrix decline"}},
    # Accounts (issue 21): the actor's own password; the first bank's users who are not actors, each action confirmed.
    ("GET", "/account/password"): lambda w, who: {},
    ("POST", "/account/password"): lambda w, who: {"data": {
        "current_password": PASSWORD, "new_password": STRONG_PASSWORD, "confirm_password": STRONG_PASSWORD}},
    ("GET", "/admin/organizations"): lambda w, who: {},
    ("GET", "/organizations/{organization_id}/users"): lambda w, who: {"organization_id": w.org["bank"]},
    ("POST", "/organizations/{organization_id}/users"): lambda w, who: {"organization_id": w.org["bank"], "data": {
        "username": "matrix-page-officer", "email": "", "password": STRONG_PASSWORD, "org_admin": "false"}},
    ("POST", "/organizations/{organization_id}/users/{user_id}/disable"): lambda w, who: {
        "organization_id": w.org["bank"], "user_id": w.officer["bank"], "data": {"confirm": "1"}},
    ("POST", "/organizations/{organization_id}/users/{user_id}/enable"): lambda w, who: {
        "organization_id": w.org["bank"], "user_id": w.former["bank"], "data": {"confirm": "1"}},
    ("POST", "/organizations/{organization_id}/users/{user_id}/reset-password"): lambda w, who: {
        "organization_id": w.org["bank"], "user_id": w.officer["bank"], "data": {"confirm": "1"}},
    ("GET", "/notifications"): lambda w, who: {},
    ("POST", "/notifications/{notification_id}/read"): lambda w, who: {"notification_id": w.notification},
    ("POST", "/notifications/read-all"): lambda w, who: {},
    ("POST", "/notifications/settings"): lambda w, who: {"data": {"email": "", "email_notifications": "true"}},
    ("GET", "/bank/agreements"): lambda w, who: {},
    ("POST", "/bank/agreements/{agreement_id}/countersign"): lambda w, who: {"agreement_id": w.pending},
    ("GET", "/bank/agreements/{agreement_id}"): lambda w, who: {"agreement_id": w.pending},
    ("POST", "/bank/agreements/{agreement_id}/return"): lambda w, who: {
        "agreement_id": w.pending, "data": {"reason": "Matrix: the caps are too high"}},
    # Loans after approval (issue 20): a repayment confirmed on the disbursed guaranteed loan; a claim filed again
    # after the agency's refusal; evidence attached to the filed claim.
    ("GET", "/bank/loans"): lambda w, who: {},
    ("GET", "/bank/loans/{loan_id}"): lambda w, who: {"loan_id": w.guaranteed_loan},
    ("POST", "/bank/loans/{loan_id}/events"): lambda w, who: {"loan_id": w.guaranteed_loan, "data": {
        "type": "repayment", "amount": "1000.00", "occurred_on": _today(), "key": uuid.uuid4().hex, "confirm": "1"}},
    ("POST", "/bank/loans/{loan_id}/claims"): lambda w, who: {"loan_id": w.refused_claim_loan, "data": {
        "amount": "1000000.00", "note": "Matrix: filed again"}},
    ("POST", "/bank/claims/{claim_id}/documents"): lambda w, who: {"claim_id": w.claim, "data": {
        "file": (io.BytesIO(b"%PDF-1.4\n%%EOF\n"), "matrix-more.pdf")}},
    ("GET", "/bank/claims/{claim_id}/documents/{document_id}"): lambda w, who: {
        "claim_id": w.claim, "document_id": w.claim_document},
    ("GET", "/enterprise/loans"): lambda w, who: {},
    ("GET", "/enterprise/loans/{loan_id}"): lambda w, who: {"loan_id": w.guaranteed_loan},
    ("GET", "/enterprise/loans/{loan_id}/schedule.xlsx"): lambda w, who: {"loan_id": w.guaranteed_loan},
    ("GET", "/enterprise/requests"): lambda w, who: {},
    ("GET", "/enterprise/requests/new"): lambda w, who: {},
    ("POST", "/enterprise/requests/new"): lambda w, who: {"data": {
        "amount": "1000000.00", "term_months": "12", "purpose": "Working capital", "accept_guarantee": "true"}},
    ("GET", "/enterprise/requests/{request_id}"): lambda w, who: {"request_id": w.request},
    ("POST", "/enterprise/requests/{request_id}/select"): lambda w, who: {
        "request_id": w.request, "data": {"offer_id": str(w.offer)}},
    ("POST", "/enterprise/requests/{request_id}/withdraw"): lambda w, who: {"request_id": w.request},
    ("GET", "/agency/agreements"): lambda w, who: {},
    ("GET", "/agency/agreements/new"): lambda w, who: {},
    ("POST", "/agency/agreements/new"): lambda w, who: {"data": _agreement_form(w)},
    ("POST", "/agency/agreements/{agreement_id}/suspend"): lambda w, who: {"agreement_id": w.agreement},
    ("POST", "/agency/agreements/{agreement_id}/terminate"): lambda w, who: {"agreement_id": w.returned},
    ("GET", "/agency/agreements/{agreement_id}/resubmit"): lambda w, who: {"agreement_id": w.returned},
    ("POST", "/agency/agreements/{agreement_id}/resubmit"): lambda w, who: {
        "agreement_id": w.returned, "data": _agreement_form(w)},
    ("POST", "/agency/agreements/{agreement_id}/resume"): lambda w, who: {"agreement_id": w.suspended},
    ("GET", "/agency/batches"): lambda w, who: {},
    ("GET", "/agency/dashboard"): lambda w, who: {},
    ("GET", "/agency/batches/{batch_id}"): lambda w, who: {"batch_id": w.batch_decided},
    ("GET", "/agency/batches/{batch_id}/export.csv"): lambda w, who: {"batch_id": w.batch_decided},
    ("GET", "/agency/batches/{batch_id}/export.xlsx"): lambda w, who: {"batch_id": w.batch_decided},
    ("POST", "/agency/batches/{batch_id}/submit"): lambda w, who: {"batch_id": w.batch_open},
    ("POST", "/agency/batches/{batch_id}/decision"): lambda w, who: {"batch_id": w.batch_submitted},
    # The agency's compensation claims (issue 20): the claim is paid, confirmed.
    ("GET", "/agency/claims"): lambda w, who: {"query_string": {"status": "all"}},
    ("GET", "/agency/claims/{claim_id}"): lambda w, who: {"claim_id": w.claim},
    ("GET", "/agency/claims/{claim_id}/documents/{document_id}"): lambda w, who: {
        "claim_id": w.claim, "document_id": w.claim_document},
    ("POST", "/agency/claims/{claim_id}/decision"): lambda w, who: {
        "claim_id": w.claim, "data": {"decision": "pay", "confirm": "1"}},
    ("GET", "/admin/tier-registry"): lambda w, who: {},
    ("POST", "/admin/tier-registry"): lambda w, who: {
        "data": {"file": (io.BytesIO(tier_list_csv(w.enterprise_uscc)), "list.csv")}},
    ("GET", "/admin/tier-registry/imports/{import_id}"): lambda w, who: {"import_id": w.tier_import},
    ("GET", "/admin/fee-rules"): lambda w, who: {},
    ("POST", "/admin/fee-rules"): lambda w, who: {"data": RULE_FORM},
    ("GET", "/admin/fee-rules/{rule_id}/edit"): lambda w, who: {"rule_id": w.rule},
    ("POST", "/admin/fee-rules/{rule_id}/edit"): lambda w, who: {"rule_id": w.rule, "data": RULE_FORM},
    ("GET", "/admin/fee-rules/preview"): lambda w, who: {"query_string": {
        "enterprise_id": w.org["enterprise"], "agreement_id": w.agreement, "amount": "1000000.00",
        "term_months": "12"}},
    ("GET", "/admin/pricing-bounds"): lambda w, who: {},
    ("POST", "/admin/pricing-bounds/{product_type}"): lambda w, who: {"product_type": "credit", "data": BOUNDS_FORM},
    ("GET", "/admin/risk-pools"): lambda w, who: {},
    ("POST", "/admin/risk-pools"): lambda w, who: {"data": {"name": "Matrix page pool", "region_code": "32"}},
    ("POST", "/admin/risk-pools/{pool_id}/deposits"): lambda w, who: {"pool_id": w.pool, "data": {
        "key": uuid.uuid4().hex, "amount": "1000.00", "deposited_on": _today()}},
    ("GET", "/admin/ledger"): lambda w, who: {},
    ("GET", "/admin/dashboard"): lambda w, who: {},
    ("POST", "/admin/ledger/verify"): lambda w, who: {},
    ("GET", "/admin/ledger/journal.csv"): lambda w, who: {},
    ("GET", "/admin/ledger/journal.xlsx"): lambda w, who: {},
    ("GET", "/admin/ledger/agreements/{agreement_id}"): lambda w, who: {"agreement_id": w.agreement},
    ("GET", "/admin/ledger/agreements/{agreement_id}/statement.csv"): lambda w, who: {"agreement_id": w.agreement},
    ("GET", "/admin/ledger/agreements/{agreement_id}/statement.xlsx"): lambda w, who: {"agreement_id": w.agreement},
    ("GET", "/admin/outbox"): lambda w, who: {},
    ("POST", "/admin/outbox/{message_id}/redrive"): lambda w, who: {"message_id": w.message},
    ("GET", "/admin/jobs"): lambda w, who: {},
    ("GET", "/admin/audit"): lambda w, who: {},
    ("POST", "/sandbox-bank/applications"): lambda w, who: _signed_handoff(w),
}


def _visit(w: MatrixWorld, key: tuple[str, str], who: str, missing: bool = False):
    """The cell's visit, in a fresh browser holding the actor's session; with `missing`, naming an id no object has."""
    method, template = key
    spec = REQUESTS[key](w, who)
    path = template
    for name in re.findall(r"{(\w+)}", template):
        value = spec.pop(name)
        path = path.replace(f"{{{name}}}", str(MISSING if missing else value))
    browser = w.client()
    session = w.browsers[who]
    browser.set_cookie("session", session.cookie)
    if method == "POST" and "content_type" not in spec:
        spec["data"] = {**spec.get("data", {}), "csrf_token": session.csrf}
    return browser.open(path, method=method, **spec)


def _error(html: str) -> str:
    """The error page's heading and sentence, with the ids taken out."""
    found = re.search(r"<h1>(.*?)</h1>\s*<p>(.*?)</p>", html, re.S)
    return re.sub(r"\d+", "N", " | ".join(found.groups())) if found else html


def _page_rules(app) -> set[tuple[str, str, tuple[str, ...]]]:
    """(method, rule, the values of its `any(…)` parts) for every page the app serves: every route but the API's
    (under /api/, and GET /healthz, an operation of the OpenAPI document) and the static files."""
    operations = set(app.test_client().get("/api/v1/openapi.json").json["paths"])
    rules = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/", "/static/")) or rule.rule in operations:
            continue
        choices: list[tuple[str, ...]] = [()]
        for converter in rule._converters.values():
            if isinstance(converter, AnyConverter):
                choices = [(*made, item) for made in choices for item in sorted(converter.items)]
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            rules.update((method, rule.rule, choice) for choice in choices)
    return rules


def test_the_table_covers_every_page(matrix):
    adapter = matrix.app.url_map.bind("localhost")
    tabled = set()
    for method, template in PAGES:
        rule, args = adapter.match(re.sub(r"{\w+}", "1", template), method=method, return_rule=True)
        choices = tuple(value for name, value in args.items() if isinstance(rule._converters[name], AnyConverter))
        tabled.add((method, rule.rule, choices))
    served = _page_rules(matrix.app)
    assert served - tabled == set(), "pages with no row in PAGES: add them"
    assert tabled - served == set(), "rows in PAGES for pages the app does not serve"
    assert set(REQUESTS) == set(PAGES), "every row needs its request, and every request its row"
    assert all(len(row.split()) == len(ACTORS) for row in PAGES.values())


def _cells():
    for key, row in PAGES.items():
        for who, expected in zip(ACTORS, row.split(), strict=True):
            yield pytest.param(key, who, expected, id=f"{key[0]} {key[1]} as {who}")


@pytest.mark.parametrize(("key", "who", "expected"), list(_cells()))
def test_page_cell(matrix, key, who, expected):
    response = _visit(matrix, key, who)
    got, location = response.status_code, response.headers.get("Location", "")
    html = response.get_data(as_text=True) if response.mimetype == "text/html" else ""
    said = f"{got} {location or _error(html)[:300]}"
    to_login = got in (302, 303) and location.startswith("/login?next=")
    if who in SECOND_TENANTS:
        leaked = [mark for mark in matrix.private_marks() if mark.encode() in response.get_data()]
        assert leaked == [], f"{who} reads the first tenants' {leaked}"
    if expected == OK:
        assert got == 200 or (got in (201, 302, 303) and not to_login), f"{who} was refused or failed: {said}"
    elif expected == LOGIN:
        assert to_login, f"expected a redirect to /login, got {said}"
    else:
        assert got == int(expected), f"expected {expected}, got {said}"
        if got == 404:
            missing = _visit(matrix, key, who, missing=True)
            assert (missing.status_code, _error(missing.get_data(as_text=True))) == (404, _error(html)), \
                "the answer differs from a missing id's"
