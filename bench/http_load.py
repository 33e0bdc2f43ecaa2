"""HTTP load under gunicorn (2 workers): a mix of catalogue reads, financing requests with selection and batch reads at
20 concurrent clients, against the throughput of GET /healthz measured in the same run.

Run from the repository root:

    python -m bench.http_load                      # 60 s per phase, 20 clients, writes bench/results.json ["http_load"]
    python -m bench.http_load --duration 20        # a shorter look
    python -m bench.http_load --help

A run makes a fresh PostgreSQL database (mkt_bench_<random>, dropped at the end whatever happens), builds the schema
with the Alembic migrations and seeds a marketplace (banks without a system of their own, agencies, certified
enterprises with a user each, published products, active 总对总 agreements with open and decided batches, the LPR,
the fee-reduction rules). It issues bearer tokens directly for the users the driver plays (no scrypt under load),
starts `gunicorn --workers 2 wsgi:app` in the production profile, and drives it from separate processes (threads
with one `requests.Session` each, no think time) through three phases, each a warm-up then a timed window:

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
import datetime as dt
import json
import math
import os
import platform
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results.json"
DEFAULT_BASE_URL = "postgresql://postgres@127.0.0.1:5432"

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

def percentile(sorted_values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), as bench.matching computes it."""
    position = (len(sorted_values) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


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

def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process so far (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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

BANKS = [("Bank of Hangzhou", "HZB"), ("Bank of Ningbo", "NBB"), ("Zhejiang Tailong Commercial Bank", "TLB"),
         ("Zhejiang Chouzhou Commercial Bank", "CZB"), ("ICBC Zhejiang", "ICBCZJ"), ("CCB Zhejiang", "CCBZJ"),
         ("Agricultural Bank Zhejiang", "ABCZJ"), ("China Merchants Bank Hangzhou", "CMBHZ")]
PROVINCIAL_AGENCY = ("Zhejiang Provincial Financing Guarantee", "ZJPFG")
LOCAL_AGENCIES = [("Hangzhou High-Tech Financing Guarantee", "HZHTG"), ("Ningbo Science Guarantee", "NBSG"),
                  ("Wenzhou Credit Guarantee", "WZCG"), ("Shaoxing Industrial Guarantee", "SXIG")]
LPR_ON = dt.date(2025, 9, 22)
LPR_1Y, LPR_5Y = Decimal("0.0300"), Decimal("0.0350")
TOKEN_TTL_S = 4 * 3600
#: Tables ANALYZEd after seeding is the whole database (VACUUM (ANALYZE) with no table list).


@dataclass
class Cast:
    """Who the driver plays, and what there is to read: bearer tokens made before the run."""

    enterprise_tokens: list[str]
    agency_tokens: list[tuple[str, list[int]]]
    bank_ids: list[int]
    published_products: int


def generator_available() -> bool:
    """Whether the marketplace has `flask demo generate` (marketplace/generate.py, being written elsewhere)."""
    return (ROOT / "marketplace" / "generate.py").exists()


def generate_with_cli(url: str, args: argparse.Namespace) -> dict[str, Any] | None:
    """Seed with `flask demo generate`; None (the reason printed) when it is missing or fails."""
    if not generator_available():
        return None
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKETPLACE_")}
    env.update({"MARKETPLACE_PROFILE": "test", "MARKETPLACE_DATABASE_URL": url, "MARKETPLACE_SECRET_KEY": "bench"})
    command = [str(Path(sys.executable).parent / "flask"), "--app", "wsgi", "demo", "generate",
               "--enterprises", str(args.enterprises), "--products", str(args.products),
               "--agreements", str(args.agreements), "--postings", str(args.postings)]
    print("seeding with: flask " + " ".join(command[1:]))
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        print(f"flask demo generate failed (exit {done.returncode}); seeding with bulk inserts instead:\n"
              + (done.stderr or done.stdout)[-2000:])
        return None
    return {"method": "flask demo generate", "command": " ".join(command[1:]), "output": done.stdout[-1000:]}


def seed_bulk(rng: random.Random, args: argparse.Namespace) -> dict[str, Any]:
    """The marketplace with bulk Core inserts (the per-request services would take minutes); commits."""
    from sqlalchemy import insert
    from stdnum.cn import uscc

    from bench.batches import _ids, _organizations
    from bench.matching import ENTERPRISE_REGIONS, ENTERPRISE_TIERS, publish
    from marketplace import db
    from marketplace.auth.models import Role, User
    from marketplace.auth.services import hash_password
    from marketplace.dates import business_today
    from marketplace.demo import FEE_RULES
    from marketplace.fees.services import create_rule
    from marketplace.lpr.services import set_rates
    from marketplace.orgs.models import AgencyKind, Enterprise, EnterpriseSize, OrgKind, Tier, TierCertification
    from marketplace.orgs.services import create_agency, create_bank

    now, today = db.utcnow(), business_today()
    session = db.session
    set_rates(LPR_ON, LPR_1Y, LPR_5Y)
    # No api_base_url: a selection then writes no outbox message, and no HTTP leaves the run.
    bank_ids = [create_bank(name, code).id for name, code in BANKS]
    provincial = create_agency(*PROVINCIAL_AGENCY, AgencyKind.PROVINCIAL).id
    local_ids = [create_agency(name, code, AgencyKind.LOCAL).id for name, code in LOCAL_AGENCIES]
    for rule in FEE_RULES:
        create_rule(rule)

    # One scrypt hash for every user: thousands would take minutes, and the driver uses tokens, never passwords.
    password_hash = hash_password("http-load-bench-password")
    tiers = [ENTERPRISE_TIERS[n % len(ENTERPRISE_TIERS)] for n in range(args.enterprises)]
    rng.shuffle(tiers)
    enterprise_ids = _organizations(OrgKind.ENTERPRISE, [f"Load enterprise {n}" for n in range(1, len(tiers) + 1)])
    rows, certifications, tier_of = [], [], {}
    for n, (eid, tier) in enumerate(zip(enterprise_ids, tiers, strict=True), start=1):
        region = rng.choice(ENTERPRISE_REGIONS)
        base = f"91{region}MA{n:07d}"
        code = base + uscc.calc_check_digit(base)
        rows.append({"id": eid, "uscc": code, "region_code": region,
                     "industry_code": rng.choice(["C3811", "C3979", "I6513", "C2710", "M7320"]),
                     "size": rng.choice(list(EnterpriseSize)), "annual_revenue": Decimal(rng.randint(5, 400) * 10**6),
                     "rd_expense": Decimal(rng.randint(1, 40) * 100_000), "employees": rng.randint(10, 900)})
        if tier == "expired":
            certifications.append({"uscc": code, "tier": Tier.SRDI, "updated_at": now,
                                   "valid_until": today - dt.timedelta(days=rng.randint(1, 400))})
        elif tier != "none":
            certifications.append({"uscc": code, "tier": Tier(tier), "updated_at": now,
                                   "valid_until": today + dt.timedelta(days=rng.randint(60, 1000))})
            tier_of[eid] = tier
    session.execute(insert(Enterprise.__table__), rows)
    session.execute(insert(TierCertification.__table__), certifications)
    user_ids = _ids(User.__table__, [
        {"username": f"load{n}", "password_hash": password_hash, "role": Role.ENTERPRISE, "organization_id": eid,
         "active": True, "created_at": now} for n, eid in enumerate(enterprise_ids, start=1)])
    user_of = dict(zip(enterprise_ids, user_ids, strict=True))
    agencies = [PROVINCIAL_AGENCY, *LOCAL_AGENCIES]
    staff = [(f"load.bank.{code.lower()}", Role.BANK, bid) for (_n, code), bid in zip(BANKS, bank_ids, strict=True)]
    staff += [(f"load.agency.{code.lower()}", Role.AGENCY, aid)
              for (_n, code), aid in zip(agencies, [provincial, *local_ids], strict=True)]
    staff += [("load.admin", Role.ADMIN, None)]
    staff_ids = _ids(User.__table__, [{"username": name, "password_hash": password_hash, "role": role,
                                       "organization_id": org, "active": True, "created_at": now}
                                      for name, role, org in staff])
    user_of_org = {org: uid for (_name, _role, org), uid in zip(staff, staff_ids, strict=True) if org is not None}
    session.commit()

    publish(rng, bank_ids, 0, args.products)
    figures = seed_agreements(rng, args, bank_ids, local_ids, provincial, user_of_org, tier_of, user_of)
    session.commit()
    return {"method": "bulk Core inserts (bench/http_load.py seed_bulk; `flask demo generate` not available)",
            "banks": len(bank_ids), "banks_with_api_base_url": 0, "agencies": len(agencies),
            "enterprises": len(enterprise_ids), "certified_enterprises": len(tier_of),
            "published_products": args.products, "fee_rules": len(FEE_RULES), **figures,
            "users": len(enterprise_ids) + len(staff)}


def seed_agreements(rng: random.Random, args: argparse.Namespace, bank_ids: list[int], local_ids: list[int],
                    provincial: int, user_of_org: dict[int, int], tier_of: dict[int, str],
                    user_of: dict[int, int]) -> dict[str, Any]:
    """Active 总对总 agreements between local agencies and banks, each with an open batch of pending guarantees and
    decided batches (approved items with their loans, a few rejected), the quota reserved accordingly."""
    import sqlalchemy as sa
    from sqlalchemy import insert, select

    from bench.batches import _ids
    from guarantees.models import Agreement, AgreementStatus, Batch, BatchStatus, Guarantee, GuaranteeStatus
    from marketplace import db
    from marketplace.dates import business_today
    from marketplace.financing.models import (
        Application,
        ApplicationStatus,
        FinancingRequest,
        Loan,
        LoanStatus,
        Offer,
        RequestStatus,
    )
    from marketplace.orgs.models import Organization, Tier
    from products.models import GuaranteeNeed, Product, ProductStatus

    now, today = db.utcnow(), business_today()
    session = db.session
    bank_name = dict(session.execute(select(Organization.id, Organization.name)
                                     .where(Organization.id.in_(bank_ids))).all())
    products: dict[tuple[int, str], list[tuple[int, str, int, str]]] = defaultdict(list)
    for pid, bid, name, ptype, spread in session.execute(
            select(Product.id, Product.bank_id, Product.name, Product.product_type, Product.rate_spread_bp)
            .where(Product.status == ProductStatus.PUBLISHED, Product.guarantee != GuaranteeNeed.NONE)):
        products[(bid, ptype.value)].append((pid, name, spread, ptype.value))

    pairs = [(bank, agency) for bank in bank_ids for agency in local_ids]
    rng.shuffle(pairs)
    items: list[dict[str, Any]] = []  # one per guarantee, with what its rows need
    batches = 0
    agreement_ids = []
    for k, (bank_id, agency_id) in enumerate(pairs[:args.agreements], start=1):
        tiers = rng.choice([["srdi", "little_giant"], ["innovative", "srdi", "little_giant"]])
        types = sorted(rng.sample(PRODUCT_TYPES, rng.randint(3, 6)))
        fee_rate = Decimal(rng.choice(["0.010000", "0.012000", "0.015000"]))
        reguaranteed = k % 2 == 0
        (agreement_id,) = _ids(Agreement.__table__, [{
            "code": f"LOAD-{k:03d}", "agency_id": agency_id, "bank_id": bank_id,
            "valid_from": today - dt.timedelta(days=200), "valid_to": today + dt.timedelta(days=500),
            "total_quota": Decimal("2000000000.00"), "per_enterprise_cap": Decimal("20000000.00"),
            "per_loan_cap": Decimal("10000000.00"), "fee_rate": fee_rate,
            "share_agency": Decimal("0.6") if reguaranteed else Decimal("0.8"), "share_bank": Decimal("0.2"),
            "share_reguarantee": Decimal("0.2") if reguaranteed else Decimal("0"), "share_risk_pool": Decimal("0"),
            "reguarantor_id": provincial if reguaranteed else None, "risk_pool_id": None,
            "compensation_cap_rate": Decimal("0.03"), "eligible_tiers": tiers, "eligible_product_types": types,
            "batch_max_size": 500, "auto_approve_below": None, "review_sla_days": 10,
            "status": AgreementStatus.ACTIVE, "quota_reserved": Decimal("0.00"), "quota_outstanding": Decimal("0.00"),
            "guaranteed_total": Decimal("0.00"), "compensated_total": Decimal("0.00"), "created_at": now,
            "countersigned_at": now}])
        agreement_ids.append(agreement_id)
        offered = [p for t in types for p in products[(bank_id, t)]]
        eligible = [eid for eid, tier in tier_of.items() if tier in tiers]
        plan = [(BatchStatus.DECIDED, args.batch_items)] * args.decided_batches + [(BatchStatus.OPEN, args.batch_items)]
        for status, size in plan:
            decided = status is BatchStatus.DECIDED
            (batch_id,) = _ids(Batch.__table__, [{
                "agreement_id": agreement_id, "status": status, "created_at": now,
                "submitted_at": now if decided else None, "decided_at": now if decided else None,
                "decided_by_id": user_of_org[agency_id] if decided else None}])
            batches += 1
            if not offered or not eligible:
                continue
            for n in range(size):
                pid, pname, spread, _ptype = rng.choice(offered)
                term = rng.choice(REQUEST_TERMS)
                outcome = ("pending" if not decided else "rejected" if n % 25 == 7 else "approved")
                eid = rng.choice(eligible)
                interest = (LPR_1Y if term <= 60 else LPR_5Y) + Decimal(spread) / 10_000
                items.append({"agreement_id": agreement_id, "batch_id": batch_id, "bank_id": bank_id,
                              "bank_user": user_of_org[bank_id], "enterprise_id": eid, "user_id": user_of[eid],
                              "tier": tier_of[eid], "product": (pid, pname, spread, _ptype), "term": term,
                              "amount": Decimal(rng.randint(10, 300) * 10_000).quantize(Decimal("0.01")),
                              "fee_rate": fee_rate, "interest": interest, "outcome": outcome})

    request_status = {"pending": RequestStatus.APPROVED, "approved": RequestStatus.APPROVED,
                      "rejected": RequestStatus.DECLINED}
    request_ids = _ids(FinancingRequest.__table__, [
        {"enterprise_id": i["enterprise_id"], "created_by_id": i["user_id"], "amount": i["amount"],
         "term_months": i["term"], "purpose": "Working capital", "accept_guarantee": True, "product_types": None,
         "status": request_status[i["outcome"]], "tier_at_request": Tier(i["tier"]), "lpr_effective_on": LPR_ON,
         "unmatched_reasons": [], "created_at": now, "updated_at": now} for i in items])
    offer_ids = _ids(Offer.__table__, [
        {"request_id": rid, "rank": 1, "product_id": i["product"][0], "product_name": i["product"][1],
         "product_type": i["product"][3], "bank_id": i["bank_id"], "bank_name": bank_name[i["bank_id"]],
         "agreement_id": i["agreement_id"], "amount": i["amount"], "term_months": i["term"],
         "rate_spread_bp": i["product"][2], "interest_rate": i["interest"], "list_fee_rate": i["fee_rate"],
         "guarantee_fee_rate": min(i["fee_rate"], Decimal("0.005")), "fee_subsidy_rate": Decimal("0"),
         "all_in_rate": i["interest"] + min(i["fee_rate"], Decimal("0.005")), "applied_rules": []}
        for rid, i in zip(request_ids, items, strict=True)])
    application_ids = _ids(Application.__table__, [
        {"request_id": rid, "offer_id": oid, "bank_id": i["bank_id"],
         "status": (ApplicationStatus.GUARANTEE_UNAVAILABLE if i["outcome"] == "rejected"
                    else ApplicationStatus.APPROVED),
         "approved_amount": i["amount"], "rate_spread_bp": i["product"][2], "interest_rate": i["interest"],
         "reason": None, "decided_by_id": i["bank_user"], "decided_at": now, "created_at": now}
        for rid, oid, i in zip(request_ids, offer_ids, items, strict=True)])
    approved = [(aid, i) for aid, i in zip(application_ids, items, strict=True) if i["outcome"] == "approved"]
    loan_ids = _ids(Loan.__table__, [
        {"application_id": aid, "bank_id": i["bank_id"], "enterprise_id": i["enterprise_id"],
         "product_id": i["product"][0], "principal": i["amount"], "outstanding": i["amount"],
         "term_months": i["term"], "interest_rate": i["interest"], "status": LoanStatus.APPROVED, "created_at": now}
        for aid, i in approved])
    loan_of = {aid: lid for (aid, _i), lid in zip(approved, loan_ids, strict=True)}
    guarantee_status = {"pending": GuaranteeStatus.PENDING, "approved": GuaranteeStatus.APPROVED,
                        "rejected": GuaranteeStatus.REJECTED}
    if items:
        session.execute(insert(Guarantee.__table__), [
            {"agreement_id": i["agreement_id"], "batch_id": i["batch_id"], "application_id": aid,
             "enterprise_id": i["enterprise_id"], "loan_id": loan_of.get(aid), "amount": i["amount"],
             "exposure": Decimal("0.00") if i["outcome"] == "rejected" else i["amount"], "term_months": i["term"],
             "list_fee_rate": i["fee_rate"], "fee_rate": min(i["fee_rate"], Decimal("0.005")),
             "subsidy_rate": Decimal("0"), "applied_rules": [], "status": guarantee_status[i["outcome"]],
             "reason": "Related-party exposure above the agency's limit" if i["outcome"] == "rejected" else None,
             "created_at": now, "decided_at": None if i["outcome"] == "pending" else now}
            for aid, i in zip(application_ids, items, strict=True)])
    # What the guarantees hold of each agreement's quota (pending and approved: reserved; none is disbursed yet).
    session.execute(sa.text(
        "UPDATE agreements SET quota_reserved = coalesce((SELECT sum(exposure) FROM guarantees g "
        "WHERE g.agreement_id = agreements.id AND g.status IN ('pending', 'approved')), 0)"))
    return {"agreements": len(agreement_ids), "batches": batches, "guarantees": len(items),
            "loans": len(loan_ids)}


def vacuum_analyze(url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1),
                              isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("VACUUM (ANALYZE)"))
    finally:
        engine.dispose()


def make_cast(app: Any, args: argparse.Namespace, rng: random.Random) -> Cast:
    """Bearer tokens for the users the driver plays, issued directly (no password check, so no scrypt under
    load): certified enterprises (an uncertified one gets no offers to select), and every agency user with the
    batches it may read. Works on whatever seeded the database."""
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
        raise RuntimeError("the seeded world has no certified enterprise user or no agency with batches")
    return Cast(enterprise_tokens, agency_tokens, bank_ids, published)


def neutralise_bank_systems(app: Any) -> int:
    """Banks with an api_base_url would get outbox messages on every selection; the load must send no HTTP out, so
    (on a generated world) their systems are unset. Returns how many were."""
    from sqlalchemy import update

    from marketplace import db
    from marketplace.orgs.models import Bank

    with app.app_context():
        changed = db.session.execute(update(Bank).where(Bank.api_base_url.is_not(None))
                                     .values(api_base_url=None)).rowcount
        db.session.commit()
    return changed


# gunicorn -----------------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
    parser.add_argument("--enterprises", type=int, default=3000, help="enterprises, each with a user (default 3000)")
    parser.add_argument("--products", type=int, default=3000, help="published products (default 3000)")
    parser.add_argument("--agreements", type=int, default=12, help="active 总对总 agreements (default 12, at most "
                                                                     f"{len(BANKS) * len(LOCAL_AGENCIES)})")
    parser.add_argument("--batch-items", type=int, default=40, help="guarantees per seeded batch (default 40)")
    parser.add_argument("--decided-batches", type=int, default=2,
                        help="decided batches per agreement, besides its open one (default 2)")
    parser.add_argument("--postings", type=int, default=0,
                        help="ledger postings, passed to `flask demo generate` when it is used (default 0)")
    parser.add_argument("--token-users", type=int, default=400,
                        help="certified enterprise users the driver plays (default 400)")
    parser.add_argument("--no-generator", action="store_true",
                        help="seed with bulk inserts even when `flask demo generate` exists")
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
    if not 0 < args.agreements <= len(BANKS) * len(LOCAL_AGENCIES):
        parser.error(f"--agreements must be 1..{len(BANKS) * len(LOCAL_AGENCIES)}")
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
    from flask_migrate import upgrade

    from bench.matching import fresh_database, write_results
    from marketplace import create_app, db

    base_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_BASE_URL)
    admin_url = sa.make_url(base_url).set(database=sa.make_url(base_url).database or "test") \
        .render_as_string(hide_password=False)
    started = time.perf_counter()
    load_at_start = round(os.getloadavg()[0], 2)
    rng = random.Random(args.seed)
    logs = Path(tempfile.mkdtemp(prefix="http_load_"))
    phases: dict[str, Any] = {}
    memory: list[dict[str, Any]] = []
    details: dict[str, Any] = {"clients": args.clients}
    with fresh_database(base_url) as url:
        database = sa.make_url(url).database
        app = create_app({"PROFILE": "test", "DATABASE_URL": url, "SECRET_KEY": "bench"})
        server = None
        try:
            with app.app_context():
                upgrade()
                db.session.commit()
                postgres_version = db.session.scalar(sa.text("SHOW server_version"))
                settings = {name: db.session.scalar(sa.text(f"SHOW {name}"))
                            for name in ("shared_buffers", "synchronous_commit", "max_connections")}
            seeding = time.perf_counter()
            seeded = None if args.no_generator else generate_with_cli(url, args)
            if seeded is None:
                with app.app_context():
                    seeded = seed_bulk(rng, args)
            else:
                seeded["banks_with_api_base_url_unset"] = neutralise_bank_systems(app)
            vacuum_analyze(url)
            cast = make_cast(app, args, rng)
            seeded["seconds"] = round(time.perf_counter() - seeding, 1)
            db.engine_of(app).dispose()
            print(f"seeded in {seeded['seconds']} s: {seeded}")
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
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_1m": {"start": load_at_start, "end": round(os.getloadavg()[0], 2)}},
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
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
