"""List pages: one way to filter, sort and page a query from the query string
(`?q=光电&status=open&sort=amount&order=desc&page=2`), with inline errors for values that make no sense.

A view declares its `Listing` (sort keys and filters, labels marked with N_ and translated where shown) and calls
`listing.read(query)`; the template shows `list_filters`, `sort_header` and `list_pager` from _macros.html. A
filter that cannot be read is not applied and says why beside its input; everything else still works.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from flask import request
from flask_babel import gettext as _
from sqlalchemy import Select, func, or_, select

from marketplace import db
from marketplace.dates import SHANGHAI

PAGE_SIZE = 50


@dataclass(frozen=True)
class Sort:
    label: str
    columns: tuple[Any, ...]
    #: Amounts and dates read best largest or newest first; names A to Z.
    descending_first: bool = False
    #: (table, on) joined when this order is chosen: sorting a large list by a joined column beats a subquery a row.
    join: tuple[Any, Any] | None = None


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of values (a status, a type): `column == value`."""
    name: str
    label: str
    column: Any
    choices: dict[str, str]
    #: Translated when shown: the choices' labels are usually already translated by the view.
    all_label: str = ""
    #: Applied when the page is opened without this filter (a bank's applications: those awaiting a decision);
    #: ALL then turns it off.
    default: str | None = None


#: The value of a filter with a default that shows everything.
ALL = "all"


@dataclass(frozen=True)
class Search:
    """Words anywhere in any of the columns, case-insensitive. A column may also be a function of the (lower-case)
    word returning a condition, such as `Product.bank_id.in_(banks named like it)`: one subquery, not one a row."""
    label: str
    columns: tuple[Any, ...]
    name: str = "q"


@dataclass(frozen=True)
class DateRange:
    """From and to (both included), as business days; a UTC timestamp column is read in Asia/Shanghai."""
    label_from: str
    label_to: str
    column: Any
    timestamp: bool = False
    name_from: str = "from"
    name_to: str = "to"


@dataclass
class ListPage:
    endpoint: str
    listing: Listing
    items: list[Any]
    total: int
    page: int
    page_size: int
    sort: str
    descending: bool
    values: dict[str, str]
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def last_page(self) -> int:
        return max((self.total - 1) // self.page_size + 1, 1)

    @property
    def first_shown(self) -> int:
        return (self.page - 1) * self.page_size + 1 if self.total else 0

    @property
    def last_shown(self) -> int:
        return min(self.page * self.page_size, self.total)

    @property
    def filtered(self) -> bool:
        return bool(self.values)

    def args(self, **changes: Any) -> dict[str, Any]:
        """The page's query (filters, sort, page) and path parameters, with `changes`; None drops an argument."""
        path = request.view_args if request.endpoint == self.endpoint else None
        current: dict[str, Any] = {**(path or {}), **self.values}
        if self.sort != self.listing.default_sort or self.descending != self.listing.default_descending:
            current.update(sort=self.sort, order="desc" if self.descending else "asc")
        if self.page > 1:
            current["page"] = self.page
        current.update(changes)
        return {key: value for key, value in current.items() if value is not None}

    def sort_args(self, key: str) -> dict[str, Any]:
        """Where a column's header leads: sorted by it (the other way round when it already is)."""
        descending = not self.descending if key == self.sort else self.listing.sorts[key].descending_first
        return self.args(sort=key, order="desc" if descending else "asc", page=None)


@dataclass
class Listing:
    sorts: dict[str, Sort]
    default_sort: str
    default_descending: bool = False
    filters: list[Choice | Search | DateRange] = field(default_factory=list)
    page_size: int = PAGE_SIZE

    def read(self, query: Select, endpoint: str | None = None) -> ListPage:
        """Filter, count, sort and cut out the asked-for page of `query` (a select of one entity)."""
        query, sort, descending, values, errors = self._filtered(query)
        total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
        last_page = max((total - 1) // self.page_size + 1, 1)
        page = min(max(request.args.get("page", 1, type=int) or 1, 1), last_page)
        items = list(db.session.scalars(query.offset((page - 1) * self.page_size).limit(self.page_size)))
        return ListPage(endpoint or request.endpoint, self, items, total, page, self.page_size, sort, descending,
                        values, errors)

    def everything(self, query: Select, limit: int) -> list[Any]:
        """All of what the list shows, filtered and sorted as asked, up to `limit` rows (for a download)."""
        return list(db.session.scalars(self._filtered(query)[0].limit(limit)))

    def _filtered(self, query: Select) -> tuple[Select, str, bool, dict[str, str], dict[str, list[str]]]:
        args, values, errors = request.args, {}, {}
        for spec in self.filters:
            query = _apply(spec, query, args, values, errors)
        sort = args.get("sort", self.default_sort)
        if sort not in self.sorts:
            errors["sort"] = [_("There is no sorting by “%(value)s”.", value=sort)]
            sort = self.default_sort
        order = args.get("order")
        if order not in (None, "asc", "desc"):
            errors["sort"] = [_("The order is “asc” or “desc”.")]
            order = None
        descending = (order == "desc") if order else (
            self.default_descending if sort == self.default_sort else self.sorts[sort].descending_first)
        columns = self.sorts[sort].columns
        if self.sorts[sort].join is not None:
            query = query.join(*self.sorts[sort].join)
        ordered = query.order_by(None).order_by(
            *(c.desc().nulls_last() if descending else c.asc().nulls_last() for c in columns))
        return ordered, sort, descending, values, errors


def named_like(id_column: Any, model: Any, name_column: Any) -> Any:
    """A Search column: rows whose `id_column` points at a `model` whose name contains the word."""
    return lambda word: id_column.in_(select(model.id).where(func.lower(name_column).contains(word, autoescape=True)))


def _apply(spec: Choice | Search | DateRange, query: Select, args: Any, values: dict[str, str],
           errors: dict[str, list[str]]) -> Select:
    if isinstance(spec, Choice):
        value = args.get(spec.name, spec.default or "").strip()
        if spec.default is not None and value != spec.default:
            values[spec.name] = value or ALL
        if not value or value == ALL:
            return query
        if spec.default is None:
            values[spec.name] = value
        if value not in spec.choices:
            errors[spec.name] = [_("Choose one of the listed values.")]
            return query
        return query.where(spec.column == value)
    if isinstance(spec, Search):
        value = args.get(spec.name, "").strip()
        if not value:
            return query
        values[spec.name] = value
        if len(value) > 100:
            errors[spec.name] = [_("Search for at most 100 characters.")]
            return query
        return query.where(*(or_(*(c(word) if callable(c) else func.lower(c).contains(word, autoescape=True)
                                   for c in spec.columns))
                             for word in value.lower().split()))
    for name, bound in ((spec.name_from, "from"), (spec.name_to, "to")):
        value = args.get(name, "").strip()
        if not value:
            continue
        values[name] = value
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            errors[name] = [_("Enter a date as YYYY-MM-DD.")]
            continue
        if spec.timestamp:  # the business day's bounds, in UTC
            start = dt.datetime.combine(day if bound == "from" else day + dt.timedelta(days=1), dt.time(),
                                        SHANGHAI)
            query = query.where(spec.column >= start if bound == "from" else spec.column < start)
        else:
            query = query.where(spec.column >= day if bound == "from" else spec.column <= day)
    return query


#: Logs (the journal, the audit trail, the outbox) read in time order; either way round.
ORDERS = ("oldest", "newest")


def read_order(default: str) -> tuple[str, list[str]]:
    """The `order` a log page was asked for (oldest or newest first), and an error when it is neither."""
    value = request.args.get("order", default)
    if value in ORDERS:
        return value, []
    return default, [_("Choose oldest or newest first.")]
