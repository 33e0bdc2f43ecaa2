"""flask-smorest wiring: the JSON parser, X-Total-Count pagination and the problem schema."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import flask_smorest
import marshmallow as ma
from flask.json.provider import DefaultJSONProvider
from sqlalchemy import Select, func, select
from webargs import core
from webargs.flaskparser import FlaskParser

from marketplace import db
from marketplace.errors import DomainError


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number this API accepts")


class ExactJSONProvider(DefaultJSONProvider):
    """Reads JSON numbers with a fraction as Decimal (never float) and refuses NaN and Infinity."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        kwargs.setdefault("parse_float", Decimal)
        kwargs.setdefault("parse_constant", _reject_constant)
        return json.loads(s, **kwargs)


class UnsupportedMediaType(DomainError):
    status = 415
    slug = "unsupported-media-type"
    title = "Send the body as application/json"


class ExactParser(FlaskParser):
    def _raw_load_json(self, req: Any) -> Any:
        if not core.is_json(req.mimetype):
            if req.content_length or req.get_data(cache=True):
                raise UnsupportedMediaType(f"the body is {req.mimetype or 'untyped'}; send application/json")
            return core.missing
        return req.get_json(cache=True)


class Blueprint(flask_smorest.Blueprint):
    """Every API blueprint: exact JSON in, X-Total-Count on lists."""

    ARGUMENTS_PARSER = ExactParser()
    PAGINATION_HEADER_NAME = "X-Pagination"

    def _set_pagination_metadata(self, page_params: Any, result: Any, headers: Any) -> Any:
        result, headers = super()._set_pagination_metadata(page_params, result, headers)
        headers["X-Total-Count"] = str(page_params.item_count)
        return result, headers


class ProblemSchema(ma.Schema):
    type = ma.fields.String()
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    errors = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()))


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ProblemSchema


def page_of(query: Select, pagination: Any, scalars: bool = True) -> list[Any]:
    """One page of `query` (ordered by the caller), setting the total for X-Total-Count; rows of several
    entities when not `scalars`."""
    pagination.item_count = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    page = query.offset(pagination.first_item).limit(pagination.page_size)
    return list(db.session.scalars(page) if scalars else db.session.execute(page))


def paginate(blp: Blueprint) -> Any:
    """Pagination as API.md says: ?page=1&page_size=50, at most 500 a page."""
    return blp.paginate(page=1, page_size=50, max_page_size=500)
