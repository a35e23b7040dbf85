"""Benchmark: live collection of the medium sample tenant from the loopback emulator, quota-bound.

Serves the raw records of the built-in sample tenant (``--clusters``, default 200 = "medium",
about 100k findings) from ``tests/emulator``, which executes the query texts it receives,
with a Resource Graph quota of 15 requests per 5 seconds (Azure's documented default); runs
``reportgen.collect.live.collect`` with its default settings through the real SDK clients,
and reports wall time against the quota-bound minimum (pages / 3 per second). Target: within
10 % of that bound, with zero 429s, once the emulator's own first execution of the longest
query (the embedded engine running it over the raw records, a few seconds for the medium
tenant, before its first page can be sent) is set aside: that time is the emulator's, not the
client's pacing. Both figures are reported. ``--verify`` also compares the snapshot row for
row with what the sample collection makes of the same records (that takes as long again).

Run from the repository root:  .venv/bin/python benchmarks/collect_bench.py [--clusters N]
Not a test: it takes about as long as the quota allows (~40 s for the medium tenant).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reportgen.collect import live  # noqa: E402
from reportgen.collect.azure import AzureOptions  # noqa: E402
from reportgen.config import AzureConfig, RunConfig, ScopeConfig  # noqa: E402
from reportgen.snapshot import read_snapshot  # noqa: E402
from tests.emulator import Faults  # noqa: E402
from tests.emulator.compare import assert_same_rows  # noqa: E402
from tests.emulator.server import EmulatorProcess  # noqa: E402
from tests.emulator.tenant import AS_OF, PERIOD, sample_records, sample_tenant  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=200, help="sample tenant size (200 = medium)")
    parser.add_argument("--quota", type=int, default=15, help="requests per window")
    parser.add_argument("--window", type=float, default=5.0, help="quota window, seconds")
    parser.add_argument("--concurrency", type=int, default=3)
    parser.add_argument("--verify", action="store_true", help="also compare the snapshot with the served rows")
    args = parser.parse_args()

    faults = Faults(quota_limit=args.quota, quota_window=args.window, page_size=1000)
    # The emulator runs in its own process (it builds the records there): in this one it would compete
    # with the client for the GIL.
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, \
            EmulatorProcess(functools.partial(sample_records, args.clusters), faults=faults) as emu:
        generated = time.monotonic() - t0
        config = RunConfig(
            scope=ScopeConfig(subscriptions=tuple(emu.subscriptions)),
            azure=AzureConfig(arm_endpoint=emu.url, logs_endpoint=emu.url, log_analytics_workspace_id=emu.workspace_id,
                              max_concurrency=args.concurrency))
        start = time.monotonic()
        cpu_start = resource.getrusage(resource.RUSAGE_SELF)
        out = live.collect(config, PERIOD, Path(tmp) / "snap", now=AS_OF.to_pydatetime(),
                           options={"env": {"REPORTGEN_ACCESS_TOKEN": emu.token}, "azure": AzureOptions()})
        wall = time.monotonic() - start
        cpu_end = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (cpu_end.ru_utime - cpu_start.ru_utime) + (cpu_end.ru_stime - cpu_start.ru_stime)
        arg = [r for r in emu.records() if r.service == "resource_graph"]
        snap = read_snapshot(out)
        if args.verify:
            assert_same_rows(snap.frames, sample_tenant(args.clusters).expected)
    pages = sum(1 for r in arg if r.status == 200)
    throttled = sum(1 for r in arg if r.status == 429)
    rate = args.quota / args.window
    bound = pages / rate
    fixed_window_min = (math.ceil(len(arg) / args.quota) - 1) * args.window  # windows start at a request
    arg_span = (max(r.time for r in arg) - min(r.time for r in arg)) if arg else 0.0
    first_pages = {}
    for r in sorted(arg, key=lambda r: r.time):
        if r.status == 200:
            first_pages.setdefault(r.query, r.seconds)
    first_execution = max(first_pages.values(), default=0.0)   # the longest query's first page, in the emulator
    paced = wall - first_execution
    report = {
        "clusters": args.clusters,
        "findings": int(snap.datasets["findings"].rows),
        "findings_source": snap.meta["findings_source"],
        "rows": {name: info.rows for name, info in snap.datasets.items()},
        "quota": f"{args.quota} per {args.window:g} s",
        "requests": len(arg),
        "pages": pages,
        "http_429": throttled,
        "wall_s": round(wall, 2),
        "arg_span_s": round(arg_span, 2),
        "client_cpu_s": round(cpu, 2),
        "per_query_s": {q: p["seconds"] for info in snap.datasets.values()
                        for q, p in info.extra.get("queries", {}).items()},
        "quota_bound_s": round(bound, 2),
        "fixed_window_minimum_s": round(fixed_window_min, 2),
        "wall_vs_bound": round(wall / bound, 3) if bound else None,
        "emulator_first_execution_s": round(first_execution, 2),
        "wall_less_first_execution_s": round(paced, 2),
        "paced_vs_bound": round(paced / bound, 3) if bound else None,
        "emulator_start_s": round(generated, 2),   # building the raw records in the emulator's process
        "verified_row_for_row": bool(args.verify),
    }
    print(json.dumps(report, indent=2))
    ok = throttled == 0 and (bound == 0 or paced <= bound * 1.10)
    print(f"{'OK' if ok else 'MISSED'}: {pages} pages in {wall:.1f} s ({paced:.1f} s without the emulator's "
          f"{first_execution:.1f} s first execution); quota bound {bound:.1f} s ({report['wall_vs_bound']}x, "
          f"{report['paced_vs_bound']}x), {throttled} throttled")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
