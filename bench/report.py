"""One report of `make bench`: the chart of matching latency against the catalogue's size (bench/matching.png),
and a summary of every target in bench/results.json, each with its figure and whether it holds.

    .venv/bin/python -m bench.report            # after the benchmarks have written bench/results.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

from bench.common import RESULTS

matplotlib.use("Agg")  # files only, no screen
import matplotlib.pyplot as plt  # noqa: E402

CHART = Path(__file__).resolve().parent / "matching.png"


def matching_chart(matching: dict[str, Any], path: Path) -> None:
    sizes = sorted(matching["sizes"].values(), key=lambda s: s["products"])
    products = [s["products"] for s in sizes]
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=120)
    for key, label, style in (("p50_ms", "p50", "o-"), ("p95_ms", "p95", "s--"), ("p99_ms", "p99", "^:")):
        axes.plot(products, [s[key] for s in sizes], style, label=label)
    targets = matching.get("targets", {})
    for size, key in ((10_000, "p50_ms_at_10000_max"), (100_000, "p50_ms_at_100000_max")):
        if key in targets:
            axes.plot([size], [targets[key]], "rx", markersize=10, mew=2)
            axes.annotate(f"p50 target {targets[key]:g} ms", (size, targets[key]), textcoords="offset points",
                          xytext=(-110, 6), color="red", fontsize=8)
    axes.set_xscale("log")
    axes.set_xticks(products, [f"{p:,}" for p in products])
    axes.set_xlabel("published products")
    axes.set_ylabel("create_request latency (ms)")
    load = matching.get("machine", {}).get("load_average_1m", {})
    axes.set_title(f"Matching latency on PostgreSQL {matching.get('postgres_version', '').split()[0]} "
                   f"(load {load.get('start', '?')}→{load.get('end', '?')})", fontsize=10)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def summary(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(what, figure, holds) for every target whose benchmark has run."""
    rows: list[tuple[str, str, bool | None]] = []
    matching = results.get("matching")
    if matching:
        for size, check in (("10000", "p50_at_10000_ok"), ("100000", "p50_at_100000_ok")):
            if size in matching["sizes"]:
                rows.append((f"matching p50 at {int(size):,} products", f"{matching['sizes'][size]['p50_ms']:.1f} ms",
                             matching["checks"].get(check)))
    batch = results.get("batch_decision")
    if batch:
        rows.append((f"batch of {batch['items']:,} decided", f"{batch['median_s']:.2f} s", batch.get("ok")))
    ledger = results.get("ledger")
    if ledger:
        checks = ledger.get("checks", {})
        if ledger.get("entries_per_s_single") is not None:
            rows.append((f"ledger, one transaction per entry, at {ledger['entries_per_s_single_at_postings']:,} "
                         "postings", f"{ledger['entries_per_s_single']:,.0f} entries/s", checks.get("single_ok")))
        if ledger.get("entries_per_s_batched") is not None:
            rows.append((f"ledger, batched, at {ledger['entries_per_s_batched_at_postings']:,} postings",
                         f"{ledger['entries_per_s_batched']:,.0f} entries/s", checks.get("batched_ok")))
        if ledger.get("trial_balance_ms"):
            at = ledger.get("targets", {}).get("trial_balance_at_postings") or 0
            rows.append((f"trial balance over {at:,} postings ({ledger.get('chart_accounts', 0):,} accounts), p95",
                         f"{ledger['trial_balance_ms']['p95']:.1f} ms", checks.get("trial_balance_ok")))
    http = results.get("http_load")
    if http:
        figures, checks = http["headline"], http["checks"]
        rows += [("financing pairs/s ÷ /healthz per s", f"{figures['financing_pairs_per_s']} ÷ "
                  f"{figures['healthz_per_s']} = {figures['financing_ratio']}", checks.get("financing_ratio_ok")),
                 ("HTTP mix p99 at 20 clients", f"{figures['mix_p99_ms']} ms", checks.get("p99_ok")),
                 ("HTTP errors", f"{figures['errors']}", checks.get("errors_ok")),
                 ("worker memory after the run (RSS)", f"{figures['worker_rss_mb_max']} MB", checks.get("memory_ok"))]
    scale = results.get("scale_out")
    if scale and "acceptance" in scale:
        a = scale["acceptance"]
        rows.append(("scale-out: oversubscribed / double job runs / lost / doubled deliveries",
                     f"{a['oversubscribed']} / {a['double_job_runs']} / {a['lost_deliveries']} / "
                     f"{a['doubled_deliveries']}", a.get("ok")))
    for key, section in results.items():
        if key in ("matching", "batch_decision", "ledger", "http_load") or not isinstance(section, dict):
            continue
        for name, value in (section.get("checks") or {}).items():
            if isinstance(value, bool):
                rows.append((f"{key}: {name}", "", value))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--chart", type=Path, default=CHART)
    args = parser.parse_args(argv)
    if not args.results.exists():
        print(f"{args.results} does not exist: run `make bench` first", file=sys.stderr)
        return 1
    results = json.loads(args.results.read_text())
    if "matching" in results:
        matching_chart(results["matching"], args.chart)
        print(f"wrote {args.chart}")
    for what, figure, holds in summary(results):
        verdict = "ok" if holds else ("TARGET MISSED" if holds is False else "no target")
        print(f"{verdict:>13}  {what}{': ' + figure if figure else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
