"""flask-smorest wiring: the JSON parser, pagination, the problem schema, and the OpenAPI document's error
responses, documented once here for every operation."""

from __future__ import annotations

import http
import json
from copy import deepcopy
from decimal import Decimal
from functools import wraps
from typing import Any

import flask_smorest
import marshmallow as ma
from apispec import BasePlugin
from flask import request
from flask.json.provider import DefaultJSONProvider
from flask_smorest.pagination import PaginationParameters
from flask_smorest.utils import prepare_response, unpack_tuple_response
from sqlalchemy import Select, func, select
from webargs import core
from webargs.flaskparser import FlaskParser

from marketplace import db
from marketplace.errors import DomainError
from marketplace.i18n import N_

PROBLEM_JSON = "application/problem+json"
#: API.md: ?page=1&page_size=50, at most 500 a page. Pages past the millionth are refused rather than
#: turned into an OFFSET no database should be asked for.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_PAGE = 1_000_000


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number this API accepts")


class ExactJSONProvider(DefaultJSONProvider):
    """Reads JSON numbers with a fraction as Decimal (never float) and refuses NaN and Infinity."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        kwargs.setdefault("parse_float", Decimal)
        kwargs.setdefault("parse_constant", _reject_constant)
        try:
            return json.loads(s, **kwargs)
        except RecursionError as error:
            # Thousands of nested brackets fit in a small body; a malformed body (400), not a crash.
            raise ValueError("the JSON is nested too deeply") from error


class UnsupportedMediaType(DomainError):
    status = 415
    slug = "unsupported-media-type"
    title = N_("Unsupported media type")


class ExactParser(FlaskParser):
    """JSON bodies must say they are JSON, and uploads must be multipart/form-data; anything else is a 415."""

    def _raw_load_json(self, req: Any) -> Any:
        if not core.is_json(req.mimetype):
            if req.content_length or req.get_data(cache=True):
                raise UnsupportedMediaType(f"the body is {req.mimetype or 'untyped'}; send application/json")
            return core.missing
        return req.get_json(cache=True)

    def load_files(self, req: Any, schema: ma.Schema) -> Any:
        if req.mimetype != "multipart/form-data" and (req.content_length or req.get_data(cache=True)):
            raise UnsupportedMediaType(f"the body is {req.mimetype or 'untyped'}; upload the file as "
                                       "multipart/form-data")
        return super().load_files(req, schema)


class PageQuery(ma.Schema):
    """?page=&page_size= on every list."""

    class Meta:
        unknown = ma.EXCLUDE

    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=MAX_PAGE))
    page_size = ma.fields.Integer(load_default=DEFAULT_PAGE_SIZE,
                                  validate=ma.validate.Range(min=1, max=MAX_PAGE_SIZE))

    @ma.post_load
    def _parameters(self, data: dict[str, int], **kwargs: Any) -> PaginationParameters:
        return PaginationParameters(**data)


class Blueprint(flask_smorest.Blueprint):
    """Every API blueprint: exact JSON in, X-Total-Count on lists."""

    ARGUMENTS_PARSER = ExactParser()
    PAGINATION_HEADER_NAME = "X-Pagination"

    def _set_pagination_metadata(self, page_params: Any, result: Any, headers: Any) -> Any:
        result, headers = super()._set_pagination_metadata(page_params, result, headers)
        headers["X-Total-Count"] = str(page_params.item_count)
        return result, headers

    def _document_pagination_metadata(self, spec: Any, resp_doc: dict) -> None:
        resp_doc.setdefault("headers", {}).update({
            "X-Total-Count": {"description": "How many items the list has over all its pages.", "required": True,
                              "schema": {"type": "integer", "minimum": 0}},
            # JSON in a header: described as the string it is, not as an object in OpenAPI's header encoding.
            self.PAGINATION_HEADER_NAME: {
                "description": 'flask-smorest\'s pagination metadata as JSON: {"total", "total_pages", "first_page", '
                               '"last_page", "page", "previous_page", "next_page"}.',
                "schema": {"type": "string"}},
        })


def page_of(query: Select, pagination: Any, scalars: bool = True) -> list[Any]:
    """One page of `query` (ordered by the caller), setting the total for X-Total-Count; rows of several
    entities when not `scalars`."""
    pagination.item_count = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    page = query.offset(pagination.first_item).limit(pagination.page_size)
    return list(db.session.scalars(page) if scalars else db.session.execute(page))


def paginate(blp: Blueprint) -> Any:
    """Pagination as API.md says: ?page=1&page_size=50, at most 500 a page (and at most MAX_PAGE pages).

    flask-smorest's own decorator bounds neither the page nor, therefore, the OFFSET; this one is the same
    decorator with PageQuery as its parameters. The view sets `pagination_parameters.item_count`."""

    def decorator(view: Any) -> Any:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            page_params = blp.ARGUMENTS_PARSER.parse(PageQuery, request, location="query")
            result, status, headers = unpack_tuple_response(view(*args, pagination_parameters=page_params, **kwargs))
            if page_params.item_count is None:
                raise RuntimeError(f"{request.endpoint} did not set pagination_parameters.item_count")
            result, headers = blp._set_pagination_metadata(page_params, result, headers)
            return result, status, headers

        # What flask-smorest's Blueprint documents for a paginated view: the query parameters and their 422.
        wrapper._apidoc = deepcopy(getattr(wrapper, "_apidoc", {}))
        wrapper._apidoc["pagination"] = {"parameters": {"in": "query", "schema": PageQuery},
                                         "response": {422: http.HTTPStatus(422).name}}
        return wrapper

    return decorator


class ProblemSchema(ma.Schema):
    type = ma.fields.String()
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    errors = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()))


def problem_statuses(path: str, method: str, operation: dict) -> list[int]:
    """The error statuses an API operation can answer with, from its shape (API.md §Conventions)."""
    statuses = [400]  # a malformed body, or control characters in the address or a header
    has_body = "requestBody" in operation
    if operation.get("security") != []:  # public operations that check credentials document their own 401
        statuses.append(401)
    if operation.get("security") != []:
        statuses.append(403)
    if "{" in path:
        statuses.append(404)  # missing, another organisation's, or not an id at all
    if method != "get":
        statuses.append(409)  # a state conflict, a reused Idempotency-Key, or a lost race
    if has_body:
        statuses += [413, 415]
    if has_body or any(isinstance(p, dict) and p.get("in") == "query" for p in operation.get("parameters", [])):
        statuses.append(422)
    return statuses


class ProblemResponses(BasePlugin):
    """Documents every error an API operation can answer with as application/problem+json, so that the
    document lists each status code the API really uses (and nothing is left to a catch-all `default`)."""

    def operation_helper(self, path: str | None = None, operations: dict | None = None, **kwargs: Any) -> None:
        if not path or not path.startswith("/api/"):
            return
        for method, operation in (operations or {}).items():
            responses = operation.setdefault("responses", {})
            for code, response in list(responses.items()):
                # alt_response(401, description=...) documents a status without its body; the body is a problem.
                if isinstance(response, dict) and int(code) >= 400 and "content" not in response:
                    responses[code] = {**response, "content": {PROBLEM_JSON: {"schema": "Problem"}}}
            documented = {str(code) for code in responses}
            for status in problem_statuses(path, method, operation):
                if str(status) not in documented:
                    responses[status] = http.HTTPStatus(status).name


def _exact_number_properties(self: Any, field: ma.fields.Field, **kwargs: Any) -> dict[str, Any]:
    # Money and Rate are decimal strings (marketplace.fields says how); other fields have nothing to add.
    return dict(getattr(field, "OPENAPI", {}))


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ProblemSchema
    #: No catch-all: each operation lists the statuses it answers with (ProblemResponses).
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _init_spec(self, *, extra_plugins: Any = None, **kwargs: Any) -> None:
        super()._init_spec(extra_plugins=[*(extra_plugins or ()), ProblemResponses()], **kwargs)
        self.ma_plugin.converter.add_attribute_function(_exact_number_properties)

    def _register_responses(self) -> None:
        """The named responses flask-smorest refers to (UNPROCESSABLE_ENTITY, …); errors are problem+json."""
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            content_type = self.DEFAULT_RESPONSE_CONTENT_TYPE
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
                content_type = PROBLEM_JSON
            prepare_response(response, self.spec, content_type)
            self.spec.components.response(status.name, response, lazy=True)
