"""What every benchmark shares: where results go, the database made (and dropped) for a run, the one way a run is
seeded, and the figures' helpers.

Seeding: every benchmark starts from `province(...)`, the generator of `flask demo generate`
(`marketplace.demo.generate.generate`), asked for what it needs — a whole province with its history (bench.http_load)
or only its parties (banks, agencies, enterprises certified through the tier registry, their users, the LPR) on which
a benchmark builds the shape it measures (a catalogue of an exact size, a 10,000-item batch, small quotas).

The application is imported inside the functions: bench.http_load's driver processes import their module, and with
it this one, with the standard library and requests only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import socket
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
#: Every benchmark's figures, one key per benchmark; `BENCH_RESULTS` writes them elsewhere (a trial run).
RESULTS = Path(os.environ.get("BENCH_RESULTS") or Path(__file__).resolve().parent / "results.json")
DEFAULT_BASE_URL = "postgresql://postgres@127.0.0.1:5432"


def database_url() -> str:
    """The server the benchmarks make their databases on: `BENCH_DATABASE_URL`."""
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_BASE_URL)


# The database of a run ------------------------------------------------------------------------------------------

@contextmanager
def fresh_database(base_url: str) -> Iterator[str]:
    """CREATE a database named mkt_bench_<random>, yield its URL, and DROP it (WITH (FORCE)) whatever happens."""
    import sqlalchemy as sa

    base = sa.make_url(base_url)
    admin_url = base.set(drivername="postgresql+psycopg", database=base.database or "test")
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"mkt_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        print(f"dropped database {name}")


@contextmanager
def bench_app(experiment_sql: Sequence[str] = ()) -> Iterator[tuple[Flask, str]]:
    """A fresh database on `BENCH_DATABASE_URL`, its schema built by the Alembic migrations, then `experiment_sql`
    run; yields the app (test profile) and the database's URL, and drops the database whatever happens."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from marketplace import create_app, db

    with fresh_database(database_url()) as url:
        app = create_app({"PROFILE": "test", "DATABASE_URL": url, "SECRET_KEY": "bench"})
        try:
            with app.app_context():
                upgrade()
                for sql in experiment_sql:
                    print(f"EXPERIMENT: {sql}")
                    db.session.execute(sa.text(sql))
                db.session.commit()
            db.engine_of(app).dispose()  # new connections, so per-database settings from an experiment apply
            yield app, url
        finally:
            db.engine_of(app).dispose()


def vacuum_analyze(app: Flask, *tables: str) -> float:
    """VACUUM (ANALYZE) the tables named, or the whole database; returns the seconds it took."""
    import time

    import sqlalchemy as sa

    from marketplace import db

    started = time.perf_counter()
    with db.engine_of(app).connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text("VACUUM (ANALYZE)" + (" " + ", ".join(tables) if tables else "")))
    return time.perf_counter() - started


def show(app: Flask, names: Iterable[str]) -> dict[str, str]:
    """The server's settings (SHOW name), e.g. server_version, recorded with the figures."""
    import sqlalchemy as sa

    from marketplace import db

    with app.app_context():
        return {name: db.session.scalar(sa.text(f"SHOW {name}")) for name in names}


# Seeding --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Party:
    """A generated bank or agency, with its user."""

    id: int
    code: str
    user_id: int


@dataclass(frozen=True)
class Firm:
    """A generated enterprise that has a user."""

    id: int
    user_id: int
    region: str
    #: The tier in force today: none when uncertified or lapsed.
    tier: str


@dataclass(frozen=True)
class Province:
    """What the generator made: its counts, and the parties a benchmark builds on."""

    counts: dict[str, int]
    banks: list[Party]
    agencies: list[Party]
    #: Enterprises with a user, by id.
    firms: list[Firm]

    def certified(self) -> list[Firm]:
        return [firm for firm in self.firms if firm.tier != "none"]

    def uncertified(self) -> list[Firm]:
        return [firm for firm in self.firms if firm.tier == "none"]


def province(app: Flask, seed: int, *, enterprises: int, banks: int = 60, agencies: int = 40, products: int = 0,
             agreements: int = 0, postings: int = 0, requests: int | None = 0,
             report: Callable[[str], None] = lambda _line: None) -> Province:
    """Fill the app's empty, migrated database with `marketplace.demo.generate.generate` (the generator commits and
    ends with VACUUM (ANALYZE)). By default only the parties: no products, agreements, history or postings;
    `requests=None` asks for the generator's history (one request per enterprise)."""
    from sqlalchemy import select

    from marketplace import db
    from marketplace.auth.models import Role, User
    from marketplace.dates import business_today
    from marketplace.demo.generate import generate
    from marketplace.orgs.models import Agency, Bank, Enterprise, TierCertification

    with app.app_context():
        counts = generate(seed, enterprises, products, agreements, postings, banks=banks, agencies=agencies,
                          requests=requests, report=report)
    with app.app_context():
        def parties(model: Any, role: Role) -> list[Party]:
            return [Party(*row) for row in db.session.execute(
                select(model.id, model.code, User.id).join(User, User.organization_id == model.id)
                .where(User.role == role).order_by(model.id))]

        today = business_today()
        firms = [Firm(eid, uid, region, "none" if tier is None or (until is not None and until < today)
                      else tier.value)
                 for eid, uid, region, tier, until in db.session.execute(
                     select(Enterprise.id, User.id, Enterprise.region_code, TierCertification.tier,
                            TierCertification.valid_until)
                     .join(User, User.organization_id == Enterprise.id)
                     .outerjoin(TierCertification, TierCertification.uscc == Enterprise.uscc)
                     .where(User.role == Role.ENTERPRISE).order_by(Enterprise.id))]
        made = Province(counts, parties(Bank, Role.BANK), parties(Agency, Role.AGENCY), firms)
        db.session.commit()
    return made


# Figures ----------------------------------------------------------------------------------------------------------

def percentile(values: Iterable[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def load_average() -> float:
    """The 1-minute load average: other work on the machine skews the figures."""
    return round(os.getloadavg()[0], 2)


def machine(load_at_start: float) -> dict[str, Any]:
    """The machine the figures were taken on, with the load average at the start of the run and now."""
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "load_average_1m": {"start": load_at_start, "end": load_average()}}


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def write_results(key: str, figures: dict[str, Any], path: Path) -> None:
    """Replace `key` in the results file, keeping the other benchmarks' keys."""
    existing: dict[str, Any] = {}
    if path.exists():
        try:
            existing = json.loads(path.read_text())
        except json.JSONDecodeError:
            print(f"warning: {path} was not valid JSON; rewriting it", file=sys.stderr)
    existing[key] = figures
    path.write_text(json.dumps(existing, indent=2, ensure_ascii=False, default=str) + "\n")


# Processes ----------------------------------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process so far, from /proc (None once it is gone, or when it runs on another machine)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
