"""Matching issues a small constant number of SQL statements, however many products are published."""

import contextlib
import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import event, insert

from marketplace import db
from marketplace.auth.models import User
from marketplace.financing.services import create_request
from marketplace.orgs.models import Tier
from products.models import Product, ProductRegion, ProductStatus, ProductTier, ProductType


@contextlib.contextmanager
def counted_statements(engine):
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if "INSERT INTO audit_entries" not in statement:  # one per flush, whatever the size: not matching's cost
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def publish_many(app, bank_id, count, start=0):
    now = dt.datetime.now(dt.UTC)
    with app.app_context():
        rows = [{"bank_id": bank_id, "name": f"P{i}", "product_type": list(ProductType)[i % 6],
                 "amount_min": Decimal("100000.00"), "amount_max": Decimal("10000000.00") if i % 3 else
                 Decimal("500000.00"), "term_min_months": 6, "term_max_months": 36, "rate_spread_bp": i % 90,
                 "guarantee": "none", "description": "", "status": ProductStatus.PUBLISHED, "version": 1,
                 "created_at": now, "updated_at": now, "published_at": now} for i in range(start, start + count)]
        ids = db.session.scalars(insert(Product).returning(Product.id), rows).all()
        db.session.execute(insert(ProductTier), [{"product_id": pid, "tier": t} for pid in ids
                                                 for t in (Tier.SRDI, Tier.LITTLE_GIANT)])
        db.session.execute(insert(ProductRegion), [{"product_id": pid, "region_prefix": "33"} for pid in ids[::2]])
        db.session.commit()


@pytest.mark.parametrize("products", [20, 200])
def test_matching_issues_a_constant_number_of_queries(app, world, products):
    publish_many(app, world.bank.id, products)
    with app.app_context():
        user = db.session.get(User, world.enterprise_user.id)
        with counted_statements(db.engine_of(app)) as statements:
            request = create_request(user, {"amount": Decimal("2000000.00"), "term_months": 12, "purpose": "x",
                                            "accept_guarantee": True, "product_types": None})
        # Two in three products fit (the others lend at most 500,000); at most 20 offers are kept.
        assert len(request.offers) == min(20, products * 2 // 3) and request.unmatched_reasons
        assert len(statements) <= 10, "\n".join(statements)
        test_matching_issues_a_constant_number_of_queries.counts[products] = len(statements)
    if len(test_matching_issues_a_constant_number_of_queries.counts) == 2:
        small, large = test_matching_issues_a_constant_number_of_queries.counts.values()
        assert small == large


test_matching_issues_a_constant_number_of_queries.counts = {}
