"""What a request must be before any view (or CSRF check) reads it.

- A body of at most 1 MiB, or 10 MiB where spreadsheets or a claim's evidence are uploaded; larger → 413, whether
  or not the view would have read the body.
- No control characters in the address or in a header value, and no NUL anywhere (a query or form value, a raw
  body) → else 400: PostgreSQL refuses NUL outright, so it could only ever end as a server error, and no
  well-behaved client sends one. (Other control characters in values are the schemas' to refuse, field by field.)
- `<int:…>` route segments are ids the database can hold (1 to MAX_ID): a longer number matches no route (404)
  instead of overflowing the database's integer.
"""

from __future__ import annotations

import re

from flask import Flask, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.routing import IntegerConverter

from marketplace.fields import MAX_ID

MIB = 1024 * 1024
MAX_BODY = 1 * MIB
MAX_UPLOAD = 10 * MIB
#: The endpoints that take files: spreadsheets (CSV or XLSX) of certified tier lists and products, and a claim's
#: evidence (at most CLAIM_FILE_MAX_BYTES, checked by the view), by the API and on pages.
UPLOAD_ENDPOINTS = frozenset({"registry_api.TierImports", "registry.tier_registry", "products_api.ProductImports",
                              "products.import_products", "guarantees_api.ClaimDocuments",
                              "servicing.attach_evidence"})
_FORMS = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})

#: In the (decoded) path: C0, DEL and C1 control characters.
_CONTROL_IN_PATH = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: In a header value (its raw bytes, read as Latin-1, so UTF-8 text is not mistaken for C1): C0 but tab, and DEL.
_CONTROL_IN_HEADER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class IdConverter(IntegerConverter):
    """`<int:…>` in every route: a positive id no larger than MAX_ID."""

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def body_limit() -> int:
    return MAX_UPLOAD if request.endpoint in UPLOAD_ENDPOINTS else MAX_BODY


def check_request() -> None:
    """Refuse an oversized body (413), control characters in the path or headers, or a NUL anywhere (400)."""
    limit = body_limit()
    request.max_content_length = limit  # also bounds a chunked body, which announces no length
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(f"The body is {request.content_length:,} bytes; at most {limit // MIB} MiB "
                                    "is accepted here.")
    if _CONTROL_IN_PATH.search(request.path):
        raise BadRequest("The address contains control characters.")
    for name, value in request.headers.items():
        if _CONTROL_IN_HEADER.search(value):
            raise BadRequest(f"The {name} header contains control characters.")
    if _has_nul():
        raise BadRequest("The request contains a NUL character.")


def _has_nul() -> bool:
    values = list(request.args.items(multi=True))
    if request.mimetype in _FORMS:
        values += request.form.items(multi=True)
    elif (request.content_length or request.headers.get("Transfer-Encoding")) and b"\x00" in request.get_data(
            cache=True):
        # JSON never holds a raw NUL (it must be escaped, and an escaped one is the schemas' to refuse); a body
        # read raw, like a bank's callback, which is kept whatever it says, would carry it to the database.
        return True
    return any("\x00" in (key or "") or "\x00" in (value or "") for key, value in values)  # a part may lack a name


def init_app(app: Flask) -> None:
    # Before any blueprint is registered, so that every <int:…> in a route uses it.
    app.url_map.converters["int"] = IdConverter
    # First of all before-request functions: CSRF protection reads the form, and must meet the limit already.
    app.before_request_funcs.setdefault(None, []).insert(0, check_request)
