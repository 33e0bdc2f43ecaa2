"""HTTP load under gunicorn (2 workers): a mix of catalogue reads, financing requests with selection and batch reads at
20 concurrent clients, against the throughput of GET /healthz measured in the same run.

Run from the repository root:

    python -m bench.http_load                      # 60 s per phase, 20 clients, writes bench/results.json ["http_load"]
    python -m bench.http_load --duration 20        # a shorter look
    python -m bench.http_load --help

A run makes a fresh PostgreSQL database (mkt_bench_<random>, dropped at the end whatever happens), builds the schema
with the Alembic migrations and generates a province into it (bench.common.province, the generator of
`flask demo generate`: banks without a system of their own, agencies, enterprises certified through the tier
registry, products, 总对总 agreements with three years of history, the LPR, the fee-reduction rules). It issues
bearer tokens directly for the users the driver plays (no scrypt under load), starts `gunicorn --workers 2 wsgi:app`
in the production profile, and drives it from separate processes (threads with one `requests.Session` each, no think
time) through three phases, each a warm-up then a timed window:

- healthz: every client calls GET /healthz (which runs SELECT 1): the baseline;
- mix: catalogue reads, financing requests each followed by the selection of its first offer, and batch reads, in
  the proportions of --mix; the latency percentiles and errors of the issue are this phase's;
- financing: every client files financing requests and selects the first offer: the financing-request throughput
  the acceptance ratio uses (completed request + select pairs per second, see bench/README.md).

Then it reads each gunicorn worker's memory (RSS, and PSS from /proc/<pid>/smaps_rollup), stops gunicorn, and
writes the figures. Speed targets are checked here, never in timed unit tests. See bench/README.md.
"""

# The driver runs as a separate process of this same module (`--drive`), which needs only the standard library and
# requests: everything that imports the application is imported inside the functions that run in the main process.

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests

from bench.common import (
    RESULTS,
    ROOT,
    cpu_seconds,
    database_url,
    free_port,
    load_average,
    machine,
    now_iso,
    percentile,
)

TARGET_FINANCING_RATIO = 0.35
TARGET_P99_MS = 250.0
TARGET_WORKER_MB = 250.0

#: Above this many CPUs used by other processes during a phase, its figures are flagged as skewed.
OTHER_WORK_WARNING_CPUS = 0.2
#: Relative weights of the actions in the mix phase.
DEFAULT_MIX = {"catalogue": 5, "financing": 3, "batches": 2}
PHASES = ("healthz", "mix", "financing")
#: What each phase's clients do (weights).
PHASE_ACTIONS = {"healthz": {"healthz": 1}, "financing": {"financing": 1}}

PRODUCT_TYPES = ["credit", "renewal", "revolving", "term", "ip_pledge", "park"]
TIERS = ["innovative", "srdi", "little_giant"]
REQUEST_TERMS = [3, 6, 12, 12, 12, 18, 24, 24, 36, 36, 48, 60, 84, 120]
#: Endpoints as the server log and the driver name them.
ENDPOINTS = [("GET", re.compile(r"^/healthz$"), "healthz"),
             ("GET", re.compile(r"^/api/v1/products$"), "products_list"),
             ("POST", re.compile(r"^/api/v1/financing-requests$"), "financing_request"),
             ("POST", re.compile(r"^/api/v1/financing-requests/\d+/select$"), "financing_select"),
             ("GET", re.compile(r"^/api/v1/batches$"), "batches_list"),
             ("GET", re.compile(r"^/api/v1/batches/\d+$"), "batch_detail")]
#: gunicorn's access log: the driver's phase tag, method, path, status, and the time the worker spent (µs).
ACCESS_LOG_FORMAT = '%({x-bench-phase}i)s %(m)s %(U)s %(s)s %(D)s'


# Driver (a separate process) -----------------------------------------------------------------------------------

@dataclass
class DriverConfig:
    base_url: str
    phase: str
    actions: dict[str, int]
    threads: int
    first_client: int
    clients: int  # in all driver processes
    start_at: float  # time.time() at which the clients start (warm-up)
    window_start: float  # time.time(): calls completed from here ...
    window_end: float  # ... to here are measured; clients stop issuing at window_end
    seed: int
    #: Bearer tokens of enterprise users, and of agency users with the ids of the batches each may read.
    enterprise_tokens: list[str]
    agency_tokens: list[tuple[str, list[int]]]
    bank_ids: list[int]
    product_pages: int
    think_ms: float = 0.0
    timeout_s: float = 60.0


@dataclass
class ClientRecord:
    #: [endpoint, status (0 = connection error or time-out), start (time.time()), latency ms]
    calls: list[list[Any]] = field(default_factory=list)
    #: financing flows: [start, end, ok, offers] (ok: the request answered 201 and, when it had an offer, the
    #: selection answered 200)
    flows: list[list[Any]] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)


class Client:
    """One simulated user session: its own requests.Session, its own random stream, its own records."""

    def __init__(self, config: DriverConfig, number: int) -> None:
        self.config = config
        self.number = number
        self.rng = random.Random(f"{config.seed}:{config.phase}:{number}")
        self.session = requests.Session()
        # Each client plays its own share of the enterprises (dealt by client number), so no two clients act for
        # the same enterprise at once.
        tokens = config.enterprise_tokens
        self.enterprises = tokens[number % len(tokens)::config.clients] or tokens
        self.record = ClientRecord()
        self.actions = list(config.actions)
        self.weights = [config.actions[a] for a in self.actions]

    def call(self, method: str, path: str, endpoint: str, token: str | None = None,
             **kwargs: Any) -> requests.Response | None:
        headers = {"X-Bench-Phase": self.config.phase + (":m" if time.time() >= self.config.window_start else ":w")}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        headers.update(kwargs.pop("headers", {}))
        started_wall, started = time.time(), time.perf_counter()
        response = None
        try:
            response = self.session.request(method, self.config.base_url + path, headers=headers,
                                            timeout=(5, self.config.timeout_s), **kwargs)
            status = response.status_code
        except requests.RequestException as error:
            status = 0
            self._sample(f"{endpoint}: {type(error).__name__}: {error}"[:300])
        latency_ms = (time.perf_counter() - started) * 1000
        if self._measured(started_wall + latency_ms / 1000):
            self.record.calls.append([endpoint, status, started_wall, round(latency_ms, 3)])
            if status and not 200 <= status < 300:
                self._sample(f"{endpoint} {method} {path} → {status}: {response.text[:200]}")
        return response

    def _measured(self, ended: float) -> bool:
        return self.config.window_start <= ended <= self.config.window_end

    def _sample(self, text: str) -> None:
        if len(self.record.error_samples) < 20:
            self.record.error_samples.append(text)

    # Actions -----------------------------------------------------------------------------------------------

    def healthz(self) -> None:
        self.call("GET", "/healthz", "healthz")

    def catalogue(self) -> None:
        """A page of the published catalogue as an enterprise, sometimes filtered by type, tier or bank."""
        params: dict[str, Any] = {"page": self.rng.randint(1, self.config.product_pages), "page_size": 50}
        draw = self.rng.random()
        if draw < 0.3:
            params["product_type"] = self.rng.choice(PRODUCT_TYPES)
        elif draw < 0.5:
            params["tier"] = self.rng.choice(TIERS)
        elif draw < 0.6 and self.config.bank_ids:
            params["bank_id"] = self.rng.choice(self.config.bank_ids)
        if len(params) > 2:
            params["page"] = self.rng.randint(1, max(1, self.config.product_pages // 4))
        self.call("GET", "/api/v1/products", "products_list", self.rng.choice(self.enterprises), params=params)

    def financing(self) -> None:
        """File a request (with an Idempotency-Key, as a portal would) and select its first offer."""
        token = self.rng.choice(self.enterprises)
        amount = round(10 ** self.rng.uniform(math.log10(200_000), math.log10(8_000_000)) / 10_000) * 10_000
        body: dict[str, Any] = {"amount": f"{amount}.00", "term_months": self.rng.choice(REQUEST_TERMS),
                                "purpose": "Working capital (HTTP load)",
                                "accept_guarantee": self.rng.random() < 0.85}
        if self.rng.random() < 0.2:
            body["product_types"] = sorted(self.rng.sample(PRODUCT_TYPES, self.rng.randint(1, 2)))
        started = time.time()
        response = self.call("POST", "/api/v1/financing-requests", "financing_request", token, json=body,
                             headers={"Idempotency-Key": uuid.uuid4().hex})
        ok, offers = False, 0
        if response is not None and response.status_code == 201:
            created = response.json()
            offers = len(created.get("offers", []))
            ok = True
            if offers:
                selected = self.call("POST", f"/api/v1/financing-requests/{created['id']}/select", "financing_select",
                                     token, json={"offer_id": created["offers"][0]["id"]})
                ok = selected is not None and selected.status_code == 200
        ended = time.time()
        # Only flows wholly inside the window: one begun in the warm-up may hold calls that were not measured.
        if self.config.window_start <= started and self._measured(ended):
            self.record.flows.append([started, ended, ok, offers])

    def batches(self) -> None:
        """An agency reads its batches: the list (sometimes only open ones), or one batch with its items."""
        token, batch_ids = self.rng.choice(self.config.agency_tokens)
        if batch_ids and self.rng.random() < 0.6:
            self.call("GET", f"/api/v1/batches/{self.rng.choice(batch_ids)}", "batch_detail", token)
        else:
            params = {"status": "open"} if self.rng.random() < 0.3 else {}
            self.call("GET", "/api/v1/batches", "batches_list", token, params=params)

    def run(self) -> None:
        time.sleep(max(0.0, self.config.start_at - time.time()))
        while time.time() < self.config.window_end:
            action = self.rng.choices(self.actions, self.weights)[0]
            getattr(self, action)()
            if self.config.think_ms:
                time.sleep(self.config.think_ms / 1000)


def drive(config_path: Path, output_path: Path) -> int:
    """The driver process: config.threads clients until the window ends; their records as JSON to output_path."""
    raw = json.loads(config_path.read_text())
    raw["agency_tokens"] = [tuple(pair) for pair in raw["agency_tokens"]]
    config = DriverConfig(**raw)
    clients = [Client(config, config.first_client + n) for n in range(config.threads)]
    threads = [threading.Thread(target=client.run, name=f"client-{client.number}", daemon=True) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(1.0, config.window_end - time.time()) + config.timeout_s + 10)
    merged = ClientRecord()
    for client in clients:
        merged.calls += client.record.calls
        merged.flows += client.record.flows
        merged.error_samples += client.record.error_samples
    output_path.write_text(json.dumps({**asdict(merged), "cpu_s": time.process_time(),
                                       "stuck_threads": sum(t.is_alive() for t in threads)}))
    return 0


# Figures --------------------------------------------------------------------------------------------------------

def latency_figures(latencies: list[float], seconds: float, errors: int) -> dict[str, Any]:
    ordered = sorted(latencies)
    if not ordered:
        return {"count": 0, "per_s": 0.0, "errors": errors}
    return {"count": len(ordered), "per_s": round(len(ordered) / seconds, 2),
            "p50_ms": round(percentile(ordered, 0.50), 2), "p95_ms": round(percentile(ordered, 0.95), 2),
            "p99_ms": round(percentile(ordered, 0.99), 2), "mean_ms": round(statistics.fmean(ordered), 2),
            "max_ms": round(ordered[-1], 2), "errors": errors}


def summarise_calls(calls: list[list[Any]], seconds: float) -> dict[str, Any]:
    """Per endpoint and overall: count, throughput, p50/p95/p99, errors (non-2xx or no answer) and statuses."""
    by_endpoint: dict[str, list[list[Any]]] = defaultdict(list)
    for call in calls:
        by_endpoint[call[0]].append(call)

    def figures(group: list[list[Any]]) -> dict[str, Any]:
        errors = sum(1 for _e, status, _s, _ms in group if not 200 <= status < 300)
        result = latency_figures([ms for *_rest, ms in group], seconds, errors)
        result["statuses"] = dict(sorted(Counter(str(status) for _e, status, _s, _ms in group).items()))
        return result

    return {"endpoints": {name: figures(group) for name, group in sorted(by_endpoint.items())},
            "overall": figures(calls)}


def summarise_flows(flows: list[list[Any]], seconds: float) -> dict[str, Any]:
    """Financing flows (request + selection of the first offer): completed pairs per second and their latency."""
    if not flows:
        return {"count": 0, "pairs_per_s": 0.0}
    ok = [f for f in flows if f[2]]
    selected = [f for f in ok if f[3] > 0]
    result = latency_figures([(end - start) * 1000 for start, end, _ok, _offers in ok], seconds,
                             len(flows) - len(ok))
    result.update({
        "flows": len(flows), "completed": len(ok),
        # The acceptance ratio's numerator: a request answered 201 whose first offer was then selected (200).
        "pairs": len(selected), "pairs_per_s": round(len(selected) / seconds, 2),
        "requests_without_offers": sum(1 for f in ok if f[3] == 0),
        "offers_mean": round(statistics.fmean(f[3] for f in ok), 2) if ok else None})
    return result


def endpoint_of(method: str, path: str) -> str:
    for expected, pattern, name in ENDPOINTS:
        if method == expected and pattern.match(path):
            return name
    return f"{method} {path}"


def server_times(access_log: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """From gunicorn's access log: per phase and endpoint, the time the worker spent on the measured requests (the
    client's latency minus this is time queued for a free worker, or spent in the network and the driver)."""
    found: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    if not access_log.exists():
        return {}
    for line in access_log.read_text().splitlines():
        parts = line.split()
        if len(parts) != 5 or not parts[0].endswith(":m"):
            continue
        phase, method, path, _status, micros = parts
        found[phase.removesuffix(":m")][endpoint_of(method, path)].append(int(micros) / 1000)
    result = {}
    for phase, endpoints in found.items():
        result[phase] = {}
        for name, values in sorted(endpoints.items()):
            ordered = sorted(values)
            result[phase][name] = {"count": len(ordered), "mean_ms": round(statistics.fmean(ordered), 2),
                                   "p50_ms": round(percentile(ordered, 0.5), 2),
                                   "p95_ms": round(percentile(ordered, 0.95), 2),
                                   "p99_ms": round(percentile(ordered, 0.99), 2)}
    return result


# Processes: CPU and memory from /proc ---------------------------------------------------------------------------

def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(values[:8])  # user nice system idle iowait irq softirq steal (guest is inside user)
    idle = values[3] + values[4]
    return (total - idle) / os.sysconf("SC_CLK_TCK"), total / os.sysconf("SC_CLK_TCK")


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                found.append(int(entry.name))
    return sorted(found)


def memory_mb(pid: int) -> dict[str, Any]:
    """RSS (and PSS where /proc/<pid>/smaps_rollup is readable) of one process, in MB (2^20 bytes)."""
    result: dict[str, Any] = {"pid": pid}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                result["rss_mb" if line.startswith("VmRSS") else "peak_rss_mb"] = round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return result
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                result["pss_mb"] = round(int(line.split()[1]) / 1024, 1)
            elif line.startswith(("Private_Clean:", "Private_Dirty:")):
                result["uss_mb"] = round(result.get("uss_mb", 0.0) + int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return result


# The world to load ------------------------------------------------------------------------------------------------

TOKEN_TTL_S = 4 * 3600


@dataclass
class Cast:
    """Who the driver plays, and what there is to read: bearer tokens made before the run."""

    enterprise_tokens: list[str]
    agency_tokens: list[tuple[str, list[int]]]
    bank_ids: list[int]
    published_products: int


def make_cast(app: Any, args: argparse.Namespace, rng: random.Random) -> Cast:
    """Bearer tokens for the users the driver plays, issued directly (no password check, so no scrypt under
    load): certified enterprises (an uncertified one gets no offers to select), and every agency user with the
    batches it may read."""
    from sqlalchemy import func, or_, select

    from guarantees.models import Agreement, Batch
    from marketplace import db
    from marketplace.auth.models import Role, User
    from marketplace.auth.services import issue_token
    from marketplace.dates import business_today
    from marketplace.orgs.models import Bank, Enterprise, Tier, TierCertification
    from products.models import Product, ProductStatus

    with app.app_context():
        today = business_today()
        enterprise_users = list(db.session.scalars(
            select(User).join(Enterprise, Enterprise.id == User.organization_id)
            .join(TierCertification, TierCertification.uscc == Enterprise.uscc)
            .where(User.role == Role.ENTERPRISE, User.active, TierCertification.tier != Tier.NONE,
                   or_(TierCertification.valid_until.is_(None), TierCertification.valid_until >= today))
            .order_by(User.id)))
        chosen = rng.sample(enterprise_users, min(args.token_users, len(enterprise_users)))
        enterprise_tokens = [issue_token(user, TOKEN_TTL_S)[0] for user in chosen]
        agency_tokens = []
        for user in db.session.scalars(select(User).where(User.role == Role.AGENCY, User.active).order_by(User.id)):
            batch_ids = list(db.session.scalars(select(Batch.id).join(Agreement, Agreement.id == Batch.agreement_id)
                                                .where(Agreement.agency_id == user.organization_id)
                                                .order_by(Batch.id)))
            if batch_ids:
                agency_tokens.append((issue_token(user, TOKEN_TTL_S)[0], batch_ids))
        bank_ids = list(db.session.scalars(select(Bank.id).order_by(Bank.id)))
        published = db.session.scalar(select(func.count()).select_from(Product)
                                      .where(Product.status == ProductStatus.PUBLISHED))
        db.session.commit()
    if not enterprise_tokens or not agency_tokens:
        raise RuntimeError("the generated world has no certified enterprise user or no agency with batches")
    return Cast(enterprise_tokens, agency_tokens, bank_ids, published)


# gunicorn -----------------------------------------------------------------------------------------------------------

@dataclass
class Server:
    process: subprocess.Popen
    base_url: str
    logs: Path
    command: list[str]

    def workers(self) -> list[int]:
        return children_of(self.process.pid)

    def error_tail(self, lines: int = 30) -> str:
        log = self.logs / "error.log"
        return "\n".join(log.read_text().splitlines()[-lines:]) if log.exists() else ""


def start_gunicorn(url: str, args: argparse.Namespace, logs: Path) -> Server:
    """gunicorn in the production profile on a free port; returns once GET /healthz answers 200."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKETPLACE_")}
    # Production refuses to start without a secret key and a database URL (README); no sandbox bank is registered.
    env.update({"MARKETPLACE_PROFILE": "production", "MARKETPLACE_SECRET_KEY": uuid.uuid4().hex + uuid.uuid4().hex,
                "MARKETPLACE_DATABASE_URL": url})
    command = [str(Path(sys.executable).parent / "gunicorn"), "--workers", str(args.workers),
               "--bind", f"127.0.0.1:{port}", "--access-logfile", str(logs / "access.log"),
               "--access-logformat", ACCESS_LOG_FORMAT, "--error-logfile", str(logs / "error.log"),
               *args.gunicorn_arg, "wsgi:app"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Server(process, f"http://127.0.0.1:{port}", logs, command)
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{server.error_tail()}")
        try:
            if requests.get(server.base_url + "/healthz", timeout=2).status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.3)
    stop_gunicorn(server)
    raise RuntimeError(f"gunicorn did not answer /healthz within 60 s:\n{server.error_tail()}")


def stop_gunicorn(server: Server) -> None:
    """SIGTERM to the master (it stops its workers gracefully); SIGKILL to it and its workers if it lingers."""
    workers = server.workers()
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)
    for pid in workers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# Phases -------------------------------------------------------------------------------------------------------------

def database_backends(admin_url: str, database: str) -> list[int]:
    """Server processes connected to the bench database (to read their CPU time from /proc)."""
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            return list(connection.scalars(sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :name"),
                                           {"name": database}))
    finally:
        engine.dispose()


def sample(server: Server, drivers: list[int], backends: list[int]) -> dict[str, Any]:
    busy, total = machine_cpu()
    return {"at": time.time(), "busy": busy, "total": total, "load_1m": os.getloadavg()[0],
            "workers": {pid: cpu_seconds(pid) for pid in server.workers()},
            "backends": {pid: cpu_seconds(pid) for pid in backends},
            "drivers": {pid: cpu_seconds(pid) for pid in drivers}}


def cpu_used(before: dict[str, Any], after: dict[str, Any], key: str) -> float:
    return sum((after[key].get(pid) or 0.0) - (seconds or 0.0) for pid, seconds in before[key].items()
               if after[key].get(pid) is not None)


def run_phase(phase: str, actions: dict[str, int], args: argparse.Namespace, server: Server, cast: Cast,
              admin_url: str, database: str, work: Path) -> dict[str, Any]:
    """One phase: the driver processes, a warm-up, the timed window; its figures."""
    processes = min(args.driver_processes, args.clients)
    start_at = time.time() + 1.5  # the driver processes' start-up
    window_start = start_at + args.warmup
    window_end = window_start + args.duration
    drivers, outputs = [], []
    first = 0
    for n in range(processes):
        threads = args.clients // processes + (1 if n < args.clients % processes else 0)
        config = DriverConfig(
            base_url=server.base_url, phase=phase, actions=actions, threads=threads, first_client=first,
            clients=args.clients, start_at=start_at, window_start=window_start, window_end=window_end,
            seed=args.seed, enterprise_tokens=cast.enterprise_tokens, agency_tokens=cast.agency_tokens,
            bank_ids=cast.bank_ids, product_pages=max(1, math.ceil(cast.published_products / 50)),
            think_ms=args.think_ms)
        first += threads
        config_path, output = work / f"{phase}-{n}.config.json", work / f"{phase}-{n}.out.json"
        config_path.write_text(json.dumps(asdict(config)))
        outputs.append(output)
        drivers.append(subprocess.Popen([sys.executable, "-m", "bench.http_load", "--drive", str(config_path),
                                         "--drive-output", str(output)], cwd=ROOT))
    try:
        time.sleep(max(0.0, window_start - time.time()))
        backends = database_backends(admin_url, database)
        before = sample(server, [d.pid for d in drivers], backends)
        time.sleep(max(0.0, window_end - time.time()))
        after = sample(server, [d.pid for d in drivers], backends)
        for driver in drivers:
            driver.wait(timeout=args.duration + 120)
    finally:
        for driver in drivers:  # only when interrupted: they end by themselves after the window
            if driver.poll() is None:
                driver.kill()
                driver.wait()
    calls, flows, samples, stuck = [], [], [], 0
    for output in outputs:
        found = json.loads(output.read_text())
        calls += found["calls"]
        flows += found["flows"]
        samples += found["error_samples"]
        stuck += found["stuck_threads"]
    seconds = after["at"] - before["at"]
    figures = summarise_calls(calls, args.duration)
    machine = after["total"] - before["total"]
    workers_s, backends_s, drivers_s = (cpu_used(before, after, k) for k in ("workers", "backends", "drivers"))
    busy = after["busy"] - before["busy"]
    count = figures["overall"]["count"] or 1
    figures["cpu"] = {
        "window_s": round(seconds, 2), "machine_cpus_busy": round(busy / seconds, 2),
        "gunicorn_workers_s": round(workers_s, 2), "postgres_backends_s": round(backends_s, 2),
        "drivers_s": round(drivers_s, 2), "other_work_s": round(busy - workers_s - backends_s - drivers_s, 2),
        "machine_capacity_s": round(machine, 2),
        # Unlike the rates, these hardly move with other work on the machine.
        "worker_cpu_ms_per_call": round(workers_s * 1000 / count, 3),
        "postgres_cpu_ms_per_call": round(backends_s * 1000 / count, 3),
        "driver_cpu_ms_per_call": round(drivers_s * 1000 / count, 3),
        "load_average_1m": {"start": round(before["load_1m"], 2), "end": round(after["load_1m"], 2)}}
    if figures["cpu"]["other_work_s"] > OTHER_WORK_WARNING_CPUS * seconds:
        print(f"WARNING: other work on the machine used {figures['cpu']['other_work_s'] / seconds:.2f} CPUs during the "
              f"{phase} phase: its figures are skewed; rerun when the machine is quieter")
    if flows:
        figures["financing_flows"] = summarise_flows(flows, args.duration)
    figures["errors"] = figures["overall"]["errors"] + (
        figures.get("financing_flows", {}).get("errors", 0) if "financing_flows" in figures else 0)
    figures["stuck_clients"] = stuck
    # The slowest calls and when they started in the window: a tail bunched in time points at something outside the
    # app (another process's burst, a checkpoint), a tail spread evenly at the app.
    figures["slowest_calls"] = [{"endpoint": e, "status": status, "at_s": round(start - window_start, 2), "ms": ms}
                                for e, status, start, ms in sorted(calls, key=lambda c: -c[3])[:5]]
    if samples:
        figures["error_samples"] = samples[:10]
    figures["actions"] = actions
    return figures


# In-process breakdown and profile -----------------------------------------------------------------------------------

def breakdown(url: str, cast: Cast, args: argparse.Namespace) -> dict[str, Any]:
    """The same calls through Flask's test client in this process (no gunicorn, no network, no queueing): per
    endpoint, wall ms, SQL statements and their client-side ms, pool checkouts, and
    the rest (Python: Flask, smorest, marshmallow, SQLAlchemy ORM, the matching). With --profile, cProfile's top."""
    import cProfile
    import io
    import pstats

    from sqlalchemy import event

    from marketplace import create_app, db

    app = create_app({"PROFILE": "production", "DATABASE_URL": url, "SECRET_KEY": "bench-breakdown"})
    engine = db.engine_of(app)
    state = {"on": False, "statements": 0, "sql_s": 0.0, "checkouts": 0, "started": 0.0}

    def before(*_a: Any) -> None:
        if state["on"]:
            state["statements"] += 1
            state["started"] = time.perf_counter()

    def after(*_a: Any) -> None:
        if state["on"]:
            state["sql_s"] += time.perf_counter() - state["started"]

    def checkout(*_a: Any) -> None:
        if state["on"]:
            state["checkouts"] += 1

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine.pool, "checkout", checkout)
    client = app.test_client()
    rng = random.Random(f"{args.seed}:breakdown")
    per: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    profilers: dict[str, cProfile.Profile] = defaultdict(cProfile.Profile)

    def timed(name: str, method: str, path: str, token: str | None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kwargs.pop("headers", {}))
        state.update(on=True, statements=0, sql_s=0.0, checkouts=0)
        profiler = profilers[name] if args.profile else None
        if profiler:
            profiler.enable()
        started = time.perf_counter()
        response = client.open(path, method=method, headers=headers, **kwargs)
        wall = time.perf_counter() - started
        if profiler:
            profiler.disable()
        state["on"] = False
        figures = per[name]
        figures["calls"] += 1
        figures["wall_ms"] += wall * 1000
        figures["sql_ms"] += state["sql_s"] * 1000
        figures["statements"] += state["statements"]
        figures["checkouts"] += state["checkouts"]
        figures["errors"] += not 200 <= response.status_code < 300
        return response

    try:
        for n in range(args.breakdown + 10):
            if n == 10:  # the first ten of each are a warm-up
                per.clear()
                profilers.clear()
            token = rng.choice(cast.enterprise_tokens)
            timed("healthz", "GET", "/healthz", None)
            timed("products_list", "GET", "/api/v1/products", token,
                  query_string={"page": rng.randint(1, max(1, cast.published_products // 50)), "page_size": 50})
            amount = round(10 ** rng.uniform(math.log10(200_000), math.log10(8_000_000)) / 10_000) * 10_000
            created = timed("financing_request", "POST", "/api/v1/financing-requests", token,
                            json={"amount": f"{amount}.00", "term_months": rng.choice(REQUEST_TERMS),
                                  "purpose": "Working capital (breakdown)", "accept_guarantee": rng.random() < 0.85},
                            headers={"Idempotency-Key": uuid.uuid4().hex})
            offers = created.get_json().get("offers", []) if created.status_code == 201 else []
            if offers:
                timed("financing_select", "POST", f"/api/v1/financing-requests/{created.get_json()['id']}/select",
                      token, json={"offer_id": offers[0]["id"]})
            agency, batch_ids = rng.choice(cast.agency_tokens)
            timed("batches_list", "GET", "/api/v1/batches", agency)
            timed("batch_detail", "GET", f"/api/v1/batches/{rng.choice(batch_ids)}", agency)
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
        event.remove(engine.pool, "checkout", checkout)
        engine.dispose()

    result: dict[str, Any] = {}
    for name, figures in per.items():
        calls = figures["calls"]
        result[name] = {"calls": int(calls), "wall_ms": round(figures["wall_ms"] / calls, 2),
                        "sql_ms": round(figures["sql_ms"] / calls, 2),
                        "rest_ms": round((figures["wall_ms"] - figures["sql_ms"]) / calls, 2),
                        "statements": round(figures["statements"] / calls, 2),
                        "pool_checkouts": round(figures["checkouts"] / calls, 2), "errors": int(figures["errors"])}
    for name, profiler in profilers.items():
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(args.profile_lines)
        stats.sort_stats("tottime").print_stats(args.profile_lines)
        print(f"\n=== cProfile of {name} ({int(per[name]['calls'])} calls; cumulative, then own time) ===\n"
              + out.getvalue())
    return result


# Main -----------------------------------------------------------------------------------------------------------------

def parse_mix(text: str) -> dict[str, int]:
    mix = {}
    for part in text.split(","):
        name, _sep, weight = part.partition("=")
        if name.strip() not in DEFAULT_MIX or not weight.strip().isdigit():
            raise argparse.ArgumentTypeError(f"--mix wants catalogue=N,financing=N,batches=N, not {text!r}")
        mix[name.strip()] = int(weight)
    if not any(mix.values()):
        raise argparse.ArgumentTypeError("--mix needs a positive weight")
    return mix


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.http_load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="timed seconds per phase (default 60)")
    parser.add_argument("--warmup", type=float, default=5.0, help="untimed seconds before each phase (default 5)")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES),
                        help="phases to run, in this order (default: healthz mix financing)")
    parser.add_argument("--mix", type=parse_mix, default=DEFAULT_MIX,
                        help="weights of the mix phase (default catalogue=5,financing=3,batches=2)")
    parser.add_argument("--think-ms", type=float, default=0.0,
                        help="pause of each client between actions (default 0: closed loop, as fast as answered)")
    parser.add_argument("--driver-processes", type=int, default=2,
                        help="driver processes the clients are spread over (threads in each; default 2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2; other values are "
                                                                  "experiments)")
    parser.add_argument("--gunicorn-arg", action="append", default=[], metavar="ARG",
                        help="EXPERIMENT: extra gunicorn argument (repeatable, e.g. --gunicorn-arg=--threads=4); "
                             "figures then go to the 'http_load_experiment' key")
    parser.add_argument("--enterprises", type=int, default=3000, help="enterprises generated (default 3000)")
    parser.add_argument("--products", type=int, default=3000, help="product versions generated (default 3000)")
    parser.add_argument("--agreements", type=int, default=12, help="总对总 agreements (default 12)")
    parser.add_argument("--postings", type=int, default=0, help="ledger postings to reach (default 0)")
    parser.add_argument("--token-users", type=int, default=400,
                        help="certified enterprise users the driver plays (default 400)")
    parser.add_argument("--breakdown", type=int, default=40,
                        help="calls per endpoint in the in-process breakdown after the load (0 to skip; default 40)")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the breakdown's calls, per endpoint, and print the top of each")
    parser.add_argument("--profile-lines", type=int, default=35, help="lines of each profile printed (default 35)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the world and the clients (default 7)")
    parser.add_argument("--keep-logs", action="store_true", help="keep gunicorn's logs (the path is printed)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    parser.add_argument("--drive", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--drive-output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.drive:
        return args
    if args.duration <= 0 or args.warmup < 0 or args.clients <= 0 or args.driver_processes <= 0 or args.workers <= 0:
        parser.error("--duration, --clients, --driver-processes and --workers must be positive, --warmup >= 0")
    if min(args.enterprises, args.products, args.agreements) <= 0 or args.postings < 0:
        parser.error("--enterprises, --products and --agreements must be positive, --postings >= 0")
    return args


def headline(phases: dict[str, Any], memory: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The figures the issue names, and the checks against its targets."""
    healthz = phases.get("healthz", {}).get("overall", {})
    mix = phases.get("mix", {})
    financing = phases.get("financing", {})
    pairs = financing.get("financing_flows", {}).get("pairs_per_s")
    healthz_rate = healthz.get("per_s")
    ratio = round(pairs / healthz_rate, 3) if pairs is not None and healthz_rate else None
    errors = sum(p["errors"] + p["stuck_clients"] for p in phases.values())
    rss = [m["rss_mb"] for m in memory if "rss_mb" in m]
    pss = [m["pss_mb"] for m in memory if "pss_mb" in m]
    figures = {
        "healthz_per_s": healthz_rate,
        "financing_pairs_per_s": pairs,
        "financing_requests_per_s": financing.get("endpoints", {}).get("financing_request", {}).get("per_s"),
        "financing_selects_per_s": financing.get("endpoints", {}).get("financing_select", {}).get("per_s"),
        "financing_ratio": ratio,
        "mix_per_s": mix.get("overall", {}).get("per_s"),
        "mix_ratio_to_healthz": round(mix["overall"]["per_s"] / healthz_rate, 3) if mix and healthz_rate else None,
        "mix_p50_ms": mix.get("overall", {}).get("p50_ms"), "mix_p95_ms": mix.get("overall", {}).get("p95_ms"),
        "mix_p99_ms": mix.get("overall", {}).get("p99_ms"),
        "mix_financing_pairs_per_s": mix.get("financing_flows", {}).get("pairs_per_s"),
        "financing_phase_p99_ms": financing.get("overall", {}).get("p99_ms"),
        "errors": errors,
        "worker_rss_mb_max": max(rss) if rss else None, "worker_pss_mb_max": max(pss) if pss else None,
    }
    checks = {
        "financing_ratio_ok": ratio >= TARGET_FINANCING_RATIO if ratio is not None else None,
        "p99_ok": figures["mix_p99_ms"] <= TARGET_P99_MS if figures["mix_p99_ms"] is not None else None,
        "p99_every_endpoint_ok": (all(e.get("p99_ms", 0) <= TARGET_P99_MS for e in mix["endpoints"].values())
                                  if mix else None),
        "errors_ok": errors == 0,
        "memory_ok": max(rss) <= TARGET_WORKER_MB if rss else None,
    }
    return figures, checks


def print_report(phases: dict[str, Any], figures: dict[str, Any], checks: dict[str, Any],
                 memory: list[dict[str, Any]], details: dict[str, Any]) -> None:
    print(f"\n{'phase':<10} {'endpoint':<18} {'count':>7} {'per s':>8} {'p50':>8} {'p95':>8} {'p99':>8} "
          f"{'max':>8} {'errors':>6}   server mean/p95 ms")
    for phase, result in phases.items():
        server = details.get("server_ms", {}).get(phase, {})
        for name, e in [*result["endpoints"].items(), ("(all)", result["overall"])]:
            s = server.get(name)
            tail = f"   {s['mean_ms']:>6.1f} / {s['p95_ms']:>6.1f}" if s else ""
            print(f"{phase:<10} {name:<18} {e['count']:>7} {e['per_s']:>8.1f} {e.get('p50_ms', 0):>8.1f} "
                  f"{e.get('p95_ms', 0):>8.1f} {e.get('p99_ms', 0):>8.1f} {e.get('max_ms', 0):>8.1f} "
                  f"{e['errors']:>6}{tail}")
        if "financing_flows" in result:
            f = result["financing_flows"]
            print(f"{phase:<10} {'request+select':<18} {f['pairs']:>7} {f['pairs_per_s']:>8.1f} "
                  f"{f.get('p50_ms', 0):>8.1f} {f.get('p95_ms', 0):>8.1f} {f.get('p99_ms', 0):>8.1f} "
                  f"{f.get('max_ms', 0):>8.1f} {f['errors']:>6}   ({f['requests_without_offers']} requests had no "
                  f"offer; {f.get('offers_mean')} offers on average)")
        c = result["cpu"]
        print(f"{phase:<10} CPU in the window: {c['machine_cpus_busy']:.2f} of {os.cpu_count()} CPUs busy; per call "
              f"workers {c['worker_cpu_ms_per_call']:.2f} ms, PostgreSQL {c['postgres_cpu_ms_per_call']:.2f} ms, "
              f"driver {c['driver_cpu_ms_per_call']:.2f} ms; other work {c['other_work_s']:.1f} s; load "
              f"{c['load_average_1m']['start']} → {c['load_average_1m']['end']}")
    for m in memory:
        print(f"worker {m['pid']}: RSS {m.get('rss_mb')} MB, PSS {m.get('pss_mb')} MB, USS {m.get('uss_mb')} MB "
              f"(peak RSS {m.get('peak_rss_mb')} MB)")
    if "breakdown_ms" in details:
        print("\nIn-process breakdown (test client, no gunicorn), mean per call:")
        print(f"{'endpoint':<18} {'wall ms':>8} {'sql ms':>8} {'rest ms':>8} {'stmts':>6} {'checkouts':>9}")
        for name, b in details["breakdown_ms"].items():
            print(f"{name:<18} {b['wall_ms']:>8.2f} {b['sql_ms']:>8.2f} {b['rest_ms']:>8.2f} {b['statements']:>6} "
                  f"{b['pool_checkouts']:>9}")
    print()
    verdicts = [
        ("financing_ratio_ok", f"financing-request throughput {figures['financing_pairs_per_s']} request+select "
                               f"pairs/s = {figures['financing_ratio']} × /healthz {figures['healthz_per_s']}/s "
                               f"(target ≥ {TARGET_FINANCING_RATIO})"),
        ("p99_ok", f"mix p99 {figures['mix_p99_ms']} ms at {details['clients']} clients (target ≤ "
                   f"{TARGET_P99_MS:g} ms; p50 {figures['mix_p50_ms']}, p95 {figures['mix_p95_ms']})"),
        ("errors_ok", f"errors {figures['errors']} (target 0)"),
        ("memory_ok", f"worker RSS max {figures['worker_rss_mb_max']} MB (PSS {figures['worker_pss_mb_max']} MB; "
                      f"target ≤ {TARGET_WORKER_MB:g} MB)"),
    ]
    for key, text in verdicts:
        if checks[key] is not None:
            print(("ok" if checks[key] else "TARGET MISSED") + ": " + text)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.drive:
        return drive(args.drive, args.drive_output)

    import sqlalchemy as sa

    from bench.common import bench_app, province, show, write_results
    from marketplace import db

    base_url = database_url()
    admin_url = sa.make_url(base_url).set(database=sa.make_url(base_url).database or "test") \
        .render_as_string(hide_password=False)
    started = time.perf_counter()
    load_at_start = load_average()
    rng = random.Random(args.seed)
    logs = Path(tempfile.mkdtemp(prefix="http_load_"))
    phases: dict[str, Any] = {}
    memory: list[dict[str, Any]] = []
    details: dict[str, Any] = {"clients": args.clients}
    with bench_app() as (app, url):
        database = sa.make_url(url).database
        server = None
        try:
            postgres_version = show(app, ["server_version"])["server_version"]
            settings = show(app, ("shared_buffers", "synchronous_commit", "max_connections"))
            seeding = time.perf_counter()
            sizes = {"enterprises": args.enterprises, "products": args.products, "agreements": args.agreements,
                     "postings": args.postings}
            print("generating: " + ", ".join(f"{name} {size:,}" for name, size in sizes.items()))
            # The generator's banks have no system of their own (no api_base_url): no hand-off leaves the run.
            generated = province(app, args.seed, **sizes, requests=None, report=lambda line: print("  " + line))
            cast = make_cast(app, args, rng)
            seeded = {"method": "flask demo generate (bench.common.province)",
                      "command": "demo generate " + " ".join(f"--{name} {size}" for name, size in sizes.items())
                                 + f" --seed {args.seed}",
                      "counts": {name: count for name, count in generated.counts.items() if name != "seconds"},
                      "seconds": round(time.perf_counter() - seeding, 1)}
            db.engine_of(app).dispose()
            print(f"seeded in {seeded['seconds']} s")
            server = start_gunicorn(url, args, logs)
            print(f"gunicorn {' '.join(server.command[1:])} (pid {server.process.pid}, workers {server.workers()})")
            for phase in args.phases:
                actions = PHASE_ACTIONS.get(phase, args.mix)
                print(f"phase {phase}: {args.clients} clients, {args.warmup:g} s warm-up, {args.duration:g} s timed, "
                      f"actions {actions}")
                phases[phase] = run_phase(phase, actions, args, server, cast, admin_url, database, logs)
            memory = [memory_mb(pid) for pid in server.workers()]
            details["master_memory"] = memory_mb(server.process.pid)
        finally:
            if server is not None:
                stop_gunicorn(server)
            db.engine_of(app).dispose()
        details["server_ms"] = server_times(logs / "access.log")
        if args.breakdown:
            print(f"in-process breakdown: {args.breakdown} calls per endpoint")
            details["breakdown_ms"] = breakdown(url, cast, args)

    figures, checks = headline(phases, memory)
    results = {
        "headline": figures,
        "targets": {"financing_ratio_min": TARGET_FINANCING_RATIO, "p99_ms_max": TARGET_P99_MS,
                    "errors": 0, "worker_memory_mb_max": TARGET_WORKER_MB},
        "checks": checks,
        "definitions": {
            "financing_pairs_per_s": "financing phase (every client files a request and selects its first offer): "
                                     "requests answered 201 whose first offer was then selected (200), per second "
                                     "of the timed window; the acceptance ratio uses this over healthz_per_s",
            "financing_requests_per_s": "the same phase's POST /api/v1/financing-requests answered, per second",
            "mix_p99_ms": "99th percentile latency over every HTTP call of the mix phase, as the client saw it "
                          "(queueing for one of the 2 sync workers included)",
            "errors": "calls answered other than 2xx, calls with no answer, financing flows that failed, and stuck "
                      "clients, over all phases",
            "worker_memory": "RSS of each gunicorn worker after the last phase (PSS and USS alongside); the check "
                             "uses the largest RSS"},
        "phases": phases,
        "server_ms": details["server_ms"],
        "memory": {"workers": memory, "master": details.get("master_memory")},
        "configuration": {
            "clients": args.clients, "driver_processes": args.driver_processes, "duration_s": args.duration,
            "warmup_s": args.warmup, "think_ms": args.think_ms, "phases": args.phases, "mix_weights": args.mix,
            "idempotency_key_on_requests": True, "gunicorn": " ".join(["gunicorn", *server_args(args)]),
            "profile": "production", "seed": args.seed, "token_users": len(cast.enterprise_tokens),
            "agency_users": len(cast.agency_tokens), "seeded": seeded},
        "database": "postgresql", "postgres_version": postgres_version, "postgres_settings": settings,
        "machine": machine(load_at_start), "generated_at": now_iso(),
        "bench_seconds": round(time.perf_counter() - started, 1),
    }
    if "breakdown_ms" in details:
        results["breakdown_ms"] = details["breakdown_ms"]
    key = "http_load_experiment" if args.gunicorn_arg or args.workers != 2 else "http_load"
    write_results(key, results, args.output)
    print_report(phases, figures, checks, memory, details)
    if key != "http_load":
        print("EXPERIMENTAL RUN (" + " ".join(server_args(args)) + ") — figures under 'http_load_experiment'")
    if args.keep_logs:
        print(f"gunicorn logs kept in {logs}")
    else:
        for path in logs.iterdir():
            path.unlink()
        logs.rmdir()
    print(f"wrote {args.output} ['{key}'] in {time.perf_counter() - started:.0f} s")
    return 0


def server_args(args: argparse.Namespace) -> list[str]:
    return ["--workers", str(args.workers), *args.gunicorn_arg, "wsgi:app"]


if __name__ == "__main__":
    sys.exit(main())
