"""Matching latency at growing catalogue sizes, on a fresh PostgreSQL database made (and dropped) for the run.

Run from the repository root:

    python -m bench.matching                       # sizes 1000 10000, seed 7, writes bench/results.json
    python -m bench.matching --sizes 1000 10000 100000 --explain

"Matching latency" is the wall time of `marketplace.financing.services.create_request` for an enterprise user: the
SQL loads, the pure ranking, and the insert of the request and its offers. Each timed request runs in its own app
context and is rolled back afterwards (outside the timed region), so the measurements do not grow the database.
The enterprises asking are a generated province's (bench.common.province); on them the catalogue grows cumulatively
(1,000 products, measure, add 9,000 more, measure, ...), with VACUUM ANALYZE after each growth, as autovacuum would
leave a long-lived catalogue. Speed targets live here, never in timed unit tests.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy import event, insert

from bench.common import (
    RESULTS,
    Firm,
    Province,
    bench_app,
    load_average,
    machine,
    now_iso,
    percentile,
    province,
    show,
    vacuum_analyze,
    write_results,
)
from marketplace import db
from marketplace.auth.models import User
from marketplace.financing import matching as loader
from marketplace.financing.services import create_request
from marketplace.orgs.models import Tier
from products.models import GuaranteeNeed, Product, ProductRegion, ProductStatus, ProductTier, ProductType

TARGET_P50_MS_AT_10000 = 25.0
TARGET_P50_MS_AT_100000 = 60.0  # issue 8: a province's catalogue
TARGET_GROWTH_10X = 2.0
#: Server settings that change the plans; recorded with the figures.
PLANNER_SETTINGS = ("random_page_cost", "effective_cache_size", "shared_buffers", "work_mem")

# Catalogue shape ---------------------------------------------------------------------------------------------

BANKS = 8
#: Enterprises generated per enterprise asking: about a third of a generated province's enterprises are certified
#: and have a user.
GENERATED_PER_ASKER = 4
#: One asker in this many is uncertified or lapsed (and so can be offered nothing), as in a real mix.
UNCERTIFIED_EVERY = 10
#: Region prefix sets of products that have any (half have none: open everywhere).
REGION_SETS = [("33",), ("33",), ("33",), ("3301",), ("3301",), ("3302",), ("330106",), ("3301", "3302"),
               ("3303", "3304"), ("330106", "330108"), ("44",), ("4403",)]
TIER_SETS = [(Tier.INNOVATIVE, Tier.SRDI, Tier.LITTLE_GIANT)] * 4 + [(Tier.SRDI, Tier.LITTLE_GIANT)] * 4 + [
    (Tier.LITTLE_GIANT,)] * 2 + [(Tier.INNOVATIVE,), (Tier.INNOVATIVE, Tier.SRDI), (Tier.SRDI,)]
GUARANTEES = [GuaranteeNeed.NONE] * 6 + [GuaranteeNeed.OPTIONAL] * 3 + [GuaranteeNeed.REQUIRED]
TERM_MINS = [1, 3, 3, 6, 6, 12]
TERM_MAXES = [12, 12, 24, 36, 36, 60, 60, 84, 120, 180, 360]
REQUEST_TERMS = [3, 6, 12, 12, 12, 18, 24, 24, 36, 36, 48, 60, 84, 120]


def _log_uniform(rng: random.Random, low: float, high: float, step: int) -> Decimal:
    """An amount between low and high, uniform on a log scale, rounded to `step` yuan."""
    value = 10 ** rng.uniform(math.log10(low), math.log10(high))
    return Decimal(max(step, round(value / step) * step)).quantize(Decimal("0.01"))


def product_rows(rng: random.Random, bank_ids: list[int], start: int, count: int) -> list[dict[str, Any]]:
    """`count` published products, numbered from `start`, each with its tier and region sets under "_tiers" and
    "_regions"."""
    now = dt.datetime.now(dt.UTC)
    types = list(ProductType)
    rows = []
    for i in range(start, start + count):
        amount_min = _log_uniform(rng, 100_000, 5_000_000, 10_000)
        amount_max = max(amount_min, _log_uniform(rng, 1_000_000, 50_000_000, 100_000))
        term_min = rng.choice(TERM_MINS)
        term_max = max(term_min, rng.choice(TERM_MAXES))
        product_type = rng.choice(types)
        rows.append({
            "bank_id": rng.choice(bank_ids), "name": f"{product_type.value.replace('_', ' ').title()} loan {i}",
            "product_type": product_type, "amount_min": amount_min, "amount_max": amount_max,
            "term_min_months": term_min, "term_max_months": term_max, "rate_spread_bp": rng.randint(-30, 300),
            "guarantee": rng.choice(GUARANTEES), "description": "", "status": ProductStatus.PUBLISHED,
            "version": 1, "created_at": now, "updated_at": now, "published_at": now,
            "_tiers": rng.choice(TIER_SETS),
            "_regions": () if rng.random() < 0.5 else rng.choice(REGION_SETS),
        })
    return rows


def publish(rng: random.Random, bank_ids: list[int], start: int, count: int, chunk: int = 10_000) -> None:
    """Bulk-insert `count` published products with their tiers and regions (Core inserts, chunked)."""
    for offset in range(0, count, chunk):
        rows = product_rows(rng, bank_ids, start + offset, min(chunk, count - offset))
        columns = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
        ids = db.session.scalars(insert(Product).returning(Product.id, sort_by_parameter_order=True), columns).all()
        db.session.execute(insert(ProductTier), [{"product_id": pid, "tier": tier}
                                                 for pid, row in zip(ids, rows, strict=True) for tier in row["_tiers"]])
        regions = [{"product_id": pid, "region_prefix": prefix}
                   for pid, row in zip(ids, rows, strict=True) for prefix in row["_regions"]]
        if regions:
            db.session.execute(insert(ProductRegion), regions)
    # Version 1 of a product is its own family, as the product services would record it.
    db.session.execute(sa.text("UPDATE products SET family_id = id WHERE family_id IS NULL"))
    db.session.commit()


def choose_askers(rng: random.Random, generated: Province, count: int) -> list[Firm]:
    """`count` enterprise users of the generated province: certified ones, and one in ten uncertified or lapsed."""
    uncertified = count // UNCERTIFIED_EVERY
    certified = generated.certified()
    if len(certified) < count - uncertified or len(generated.uncertified()) < uncertified:
        raise RuntimeError(f"the generated province has too few enterprise users for {count} askers")
    return rng.sample(certified, count - uncertified) + rng.sample(generated.uncertified(), uncertified)


# Requests ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ask:
    user_id: int
    data: dict[str, Any]


def asks(rng: random.Random, user_ids: list[int], count: int) -> list[Ask]:
    """A deterministic mix: every enterprise in turn (in a shuffled order, so each asks equally often), amounts
    100k..60M (some above every product's maximum), terms 3..120 months, mostly any product type, mostly accepting
    a guarantee."""
    types = list(ProductType)
    askers = rng.sample(user_ids, len(user_ids))
    made = []
    for n in range(count):
        product_types = None if rng.random() < 0.8 else sorted(rng.sample(types, rng.randint(1, 2)))
        made.append(Ask(askers[n % len(askers)], {
            "amount": _log_uniform(rng, 100_000, 60_000_000, 10_000), "term_months": rng.choice(REQUEST_TERMS),
            "purpose": f"Bench request {n}", "accept_guarantee": rng.random() < 0.85, "product_types": product_types}))
    return made


def measure(app: Flask, requests: list[Ask]) -> list[tuple[float, int]]:
    """(milliseconds, offers) per request; each in its own app context, rolled back afterwards (untimed)."""
    results = []
    for ask in requests:
        with app.app_context():
            user = db.session.get(User, ask.user_id)
            started = time.perf_counter()
            request = create_request(user, ask.data)
            elapsed = time.perf_counter() - started
            offers = len(request.offers)
            db.session.rollback()
        results.append((elapsed * 1000, offers))
    return results


LOADERS = ("load_candidates", "load_near_misses", "amount_bounds")


@contextmanager
def loader_spans(on_call: Callable[[str, float], None],
                 on_enter: Callable[[str], None] = lambda _name: None) -> Iterator[None]:
    """Wrap the three SQL loaders so each call reports its name on entry and (name, seconds) on exit; restores
    them afterwards. The services module calls them through the module, so this sees every call."""
    originals = {name: getattr(loader, name) for name in LOADERS}

    def wrapped(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            on_enter(name)
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                on_call(name, time.perf_counter() - started)
        return call

    for name, function in originals.items():
        setattr(loader, name, wrapped(name, function))
    try:
        yield
    finally:
        for name, function in originals.items():
            setattr(loader, name, function)


def breakdown(app: Flask, requests: list[Ask]) -> dict[str, Any]:
    """A separate, instrumented pass: mean ms per loader, the rest, and SQL statements per request."""
    spans: dict[str, float] = {"load_candidates": 0.0, "load_near_misses": 0.0, "amount_bounds": 0.0}
    statements = 0

    def on_call(name: str, seconds: float) -> None:
        spans[name] += seconds

    total = 0.0
    engine = db.engine_of(app)
    counting = False

    def count(*_args: Any) -> None:
        nonlocal statements
        statements += counting

    event.listen(engine, "before_cursor_execute", count)
    try:
        with loader_spans(on_call):
            for ask in requests:
                with app.app_context():
                    user = db.session.get(User, ask.user_id)
                    counting = True
                    started = time.perf_counter()
                    create_request(user, ask.data)
                    total += time.perf_counter() - started
                    counting = False
                    db.session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    n = len(requests)
    result = {name: round(seconds * 1000 / n, 3) for name, seconds in spans.items()}
    result["rest"] = round((total - sum(spans.values())) * 1000 / n, 3)
    result["statements_per_request"] = round(statements / n, 2)
    return result


Captured = list[tuple[str, str, Any]]  # (loader, SQL as sent, parameters as sent)


def with_captured_sql(app: Flask, user_id: int, data: dict[str, Any],
                      use: Callable[[Any, User, sa.Connection, Captured], Any]) -> Any:
    """Run create_request capturing the SQL each loader sends, call use(request, user, connection, captured) in
    the same transaction, then roll back."""
    captured: Captured = []
    current = {"name": "other"}

    def enter(name: str) -> None:
        current["name"] = name

    def leave(_name: str, _seconds: float) -> None:
        current["name"] = "other"

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if current["name"] != "other":
            captured.append((current["name"], statement, parameters))

    engine = db.engine_of(app)
    with app.app_context():
        user = db.session.get(User, user_id)
        event.listen(engine, "before_cursor_execute", capture)
        try:
            with loader_spans(leave, enter):
                request = create_request(user, data)
        finally:
            event.remove(engine, "before_cursor_execute", capture)
        try:
            return use(request, user, db.session.connection(), captured)
        finally:
            db.session.rollback()


def explain(app: Flask, user_id: int, data: dict[str, Any], title: str) -> None:
    """Print EXPLAIN (ANALYZE, BUFFERS) of exactly the statements the three loaders send for one request."""
    def show(request: Any, user: User, connection: sa.Connection, captured: Captured) -> None:
        print(f"\n=== EXPLAIN {title}: amount {data['amount']:,} term {data['term_months']} tier "
              f"{request.tier_at_request.value} region {user.organization.region_code} → {len(request.offers)} offers")
        for name, statement, parameters in captured:
            print(f"\n--- {name}\n{statement}\n-- parameters: {parameters}")
            plan = connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).scalars().all()
            print("\n".join(plan))

    with_captured_sql(app, user_id, data, show)


def query_stats(app: Flask, requests: list[Ask]) -> dict[str, dict[str, float]]:
    """Per loader, the mean server execution time (EXPLAIN ANALYZE) and mean shared buffers touched, over the
    requests. Buffers do not depend on what else the machine is doing, so they show growth without the noise."""
    totals = {name: {"execution_ms": 0.0, "planning_ms": 0.0, "buffers": 0.0} for name in LOADERS}

    def add(_request: Any, _user: User, connection: sa.Connection, captured: Captured) -> None:
        for name, statement, parameters in captured:
            plan = connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement,
                                              parameters).scalar()
            top = (json.loads(plan) if isinstance(plan, str) else plan)[0]
            totals[name]["execution_ms"] += top["Execution Time"]
            totals[name]["planning_ms"] += top.get("Planning Time", 0.0)
            node = top["Plan"]
            totals[name]["buffers"] += node.get("Shared Hit Blocks", 0) + node.get("Shared Read Blocks", 0)

    for ask in requests:
        with_captured_sql(app, ask.user_id, ask.data, add)
    return {name: {key: round(value / len(requests), 3) for key, value in figures.items()}
            for name, figures in totals.items()}


# Figures ----------------------------------------------------------------------------------------------------

def summarise(products: int, results: list[tuple[float, int]]) -> dict[str, Any]:
    times = sorted(ms for ms, _ in results)
    offers = [n for _, n in results]
    return {
        "products": products, "requests": len(results),
        "p50_ms": round(percentile(times, 0.50), 3), "p95_ms": round(percentile(times, 0.95), 3),
        "p99_ms": round(percentile(times, 0.99), 3), "mean_ms": round(statistics.fmean(times), 3),
        "min_ms": round(times[0], 3), "max_ms": round(times[-1], 3),
        "offers_mean": round(statistics.fmean(offers), 2), "zero_offer_requests": sum(1 for n in offers if n == 0),
    }


def checks(sizes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    at_1000, at_10000, at_100000 = sizes.get("1000"), sizes.get("10000"), sizes.get("100000")
    ratio = round(at_10000["p50_ms"] / at_1000["p50_ms"], 3) if at_1000 and at_10000 else None
    result: dict[str, Any] = {
        "p50_at_10000_ok": at_10000["p50_ms"] <= TARGET_P50_MS_AT_10000 if at_10000 else None,
        "p50_at_100000_ok": at_100000["p50_ms"] <= TARGET_P50_MS_AT_100000 if at_100000 else None,
        "growth_ratio": ratio,
        "growth_ok": ratio <= TARGET_GROWTH_10X if ratio is not None else None,
    }
    # Every tenfold step measured (1000→10000, 10000→100000, ...), for when larger sizes are added.
    steps = {f"{small}->{int(small) * 10}": round(sizes[str(int(small) * 10)]["p50_ms"] / sizes[small]["p50_ms"], 3)
             for small in sizes if str(int(small) * 10) in sizes}
    result["growth_ratios_10x"] = steps
    result["growth_10x_all_ok"] = all(r <= TARGET_GROWTH_10X for r in steps.values()) if steps else None
    return result


def print_table(sizes: dict[str, dict[str, Any]]) -> None:
    header = (f"{'products':>9} {'p50':>8} {'p95':>8} {'p99':>8} {'mean':>8} {'min':>8} {'max':>8} "
              f"{'offers':>7} {'zero':>5}   candidates near_miss bounds rest (ms)  stmts")
    print("\nMatching latency (ms), create_request end to end:")
    print(header)
    for size in sizes.values():
        b = size.get("breakdown_ms", {})
        print(f"{size['products']:>9,} {size['p50_ms']:>8.2f} {size['p95_ms']:>8.2f} {size['p99_ms']:>8.2f} "
              f"{size['mean_ms']:>8.2f} {size['min_ms']:>8.2f} {size['max_ms']:>8.2f} {size['offers_mean']:>7.2f} "
              f"{size['zero_offer_requests']:>5}   {b.get('load_candidates', 0):>10.2f} "
              f"{b.get('load_near_misses', 0):>9.2f} {b.get('amount_bounds', 0):>6.2f} {b.get('rest', 0):>5.2f}"
              f"       {b.get('statements_per_request', 0):>5}")
    if any("query_stats" in size for size in sizes.values()):
        print("\nServer side per loader (EXPLAIN ANALYZE, mean per request): execution ms / shared buffers")
        print(f"{'products':>9} " + " ".join(f"{name:>24}" for name in LOADERS))
        for size in sizes.values():
            if "query_stats" in size:
                cells = [f"{stats['execution_ms']:>10.3f} ms {stats['buffers']:>7.0f} buf"
                         for stats in size["query_stats"].values()]
                print(f"{size['products']:>9,} " + " ".join(f"{cell:>24}" for cell in cells))


# Main -------------------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.matching", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000],
                        help="catalogue sizes (published products) to measure, grown cumulatively (default 1000 10000)")
    parser.add_argument("--seed", type=int, default=7, help="seed for the catalogue and the request mix (default 7)")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per size (default 300)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed warm-up requests per size (default 20)")
    parser.add_argument("--enterprises", type=int, default=50, help="enterprises asking (default 50)")
    parser.add_argument("--breakdown-requests", type=int, default=100,
                        help="requests in the separate instrumented pass per size (0 to skip; default 100)")
    parser.add_argument("--explain", action="store_true",
                        help="print EXPLAIN (ANALYZE, BUFFERS) of the loaders' queries at each size "
                             "(always done when a target is missed)")
    parser.add_argument("--query-stats", action="store_true",
                        help="also EXPLAIN ANALYZE every timed request's loader queries and record, per loader, mean "
                             "server time and shared buffers (deterministic work measure)")
    parser.add_argument("--experiment-sql", action="append", default=[], metavar="SQL",
                        help="EXPERIMENT: run this SQL (e.g. CREATE INDEX ...) after the migrations; results go to "
                             "the 'matching_experiment' key, the 'matching' figures are left alone (repeatable)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    args = parser.parse_args(argv)
    if any(size <= 0 for size in args.sizes) or args.requests <= 0:
        parser.error("sizes and --requests must be positive")
    args.sizes = sorted(set(args.sizes))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    started = time.perf_counter()
    load_at_start = load_average()
    with bench_app(args.experiment_sql) as (app, _url):
        postgres_version = show(app, ["server_version"])["server_version"]
        settings = show(app, PLANNER_SETTINGS)
        generated = province(app, args.seed, enterprises=args.enterprises * GENERATED_PER_ASKER, banks=BANKS,
                             agencies=1)
        bank_ids = [bank.id for bank in generated.banks]
        askers = choose_askers(rng, generated, args.enterprises)
        user_ids = [firm.user_id for firm in askers]
        request_rng = random.Random(f"{args.seed}:requests")
        warmup = asks(request_rng, user_ids, args.warmup)
        timed = asks(request_rng, user_ids, args.requests)
        sizes: dict[str, dict[str, Any]] = {}
        published = 0
        for size in args.sizes:
            grow = time.perf_counter()
            with app.app_context():
                publish(rng, bank_ids, published, size - published)
            published = size
            # The generator analyzed the rest of the database; the catalogue is what grows.
            vacuum_analyze(app, "products", "product_tiers", "product_regions")
            print(f"catalogue at {size:,} published products (grown in {time.perf_counter() - grow:.1f} s); "
                  f"measuring {args.requests} requests after {args.warmup} warm-up")
            measure(app, warmup)
            sizes[str(size)] = summarise(size, measure(app, timed))
            if args.breakdown_requests:
                sizes[str(size)]["breakdown_ms"] = breakdown(app, timed[:args.breakdown_requests])
            if args.query_stats:
                sizes[str(size)]["query_stats"] = query_stats(app, timed)
            if args.explain:
                explain_examples(app, askers, f"at {size:,} products")
        verdict = checks(sizes)
        missed = verdict["p50_at_10000_ok"] is False or verdict["p50_at_100000_ok"] is False \
            or verdict["growth_ok"] is False or verdict["growth_10x_all_ok"] is False
        if missed and not args.explain:
            print("\nA target was missed: the query plans at the largest size follow.")
            explain_examples(app, askers, f"at {args.sizes[-1]:,} products")

    figures = {
        "database": "postgresql", "postgres_version": postgres_version, "postgres_settings": settings,
        "machine": machine(load_at_start), "generated_at": now_iso(),
        "parameters": {"seed": args.seed, "requests": args.requests, "warmup": args.warmup,
                       "enterprises": args.enterprises,
                       "generated_enterprises": args.enterprises * GENERATED_PER_ASKER,
                       "candidate_limit": loader.CANDIDATE_LIMIT, "offer_limit": loader.OFFER_LIMIT},
        "sizes": sizes,
        "targets": {"p50_ms_at_10000_max": TARGET_P50_MS_AT_10000, "p50_ms_at_100000_max": TARGET_P50_MS_AT_100000,
                    "growth_10x_max_ratio": TARGET_GROWTH_10X},
        "checks": verdict,
    }
    key = "matching"
    if args.experiment_sql:
        key = "matching_experiment"
        figures["experiment_sql"] = args.experiment_sql
    write_results(key, figures, args.output)

    print_table(sizes)
    if verdict["p50_at_10000_ok"] is not None:
        p50 = sizes["10000"]["p50_ms"]
        print(("ok" if verdict["p50_at_10000_ok"] else "TARGET MISSED") +
              f": p50 at 10,000 products = {p50:.2f} ms (target ≤ {TARGET_P50_MS_AT_10000:g} ms)")
    if verdict["p50_at_100000_ok"] is not None:
        p50 = sizes["100000"]["p50_ms"]
        print(("ok" if verdict["p50_at_100000_ok"] else "TARGET MISSED") +
              f": p50 at 100,000 products = {p50:.2f} ms (target ≤ {TARGET_P50_MS_AT_100000:g} ms)")
    for step, ratio in verdict["growth_ratios_10x"].items():
        print(("ok" if ratio <= TARGET_GROWTH_10X else "TARGET MISSED") +
              f": p50 growth {step} products = {ratio:.2f}x (target ≤ {TARGET_GROWTH_10X:g}x)")
    if args.experiment_sql:
        print("EXPERIMENTAL RUN (" + "; ".join(args.experiment_sql) + ") — figures under 'matching_experiment'")
    print(f"wrote {args.output} ['{key}'] in {time.perf_counter() - started:.0f} s")
    return 0


def explain_examples(app: Flask, askers: list[Firm], when: str) -> None:
    """Two requests from one certified enterprise (SRDI in Hangzhou when there is one): a typical one that gets
    offers, and one above every maximum."""
    certified = [firm for firm in askers if firm.tier != "none"]
    firm = next((f for f in certified if f.tier == Tier.SRDI.value and f.region.startswith("3301")), certified[0])
    typical = {"amount": Decimal("2000000.00"), "term_months": 12, "purpose": "explain", "accept_guarantee": True,
               "product_types": None}
    explain(app, firm.user_id, typical, f"typical request {when}")
    explain(app, firm.user_id, {**typical, "amount": Decimal("60000000.00")}, f"request above every maximum {when}")


if __name__ == "__main__":
    sys.exit(main())
