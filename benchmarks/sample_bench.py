"""Benchmark: generating the built-in sample tenant, raw records through the real queries.

For each scale, builds the estate, makes one month of raw Azure records, collects them with
every query file through the embedded KQL engine (duckdb-kql) and writes the snapshot, in a
fresh process so that the peak memory is the run's own. Reports wall time, CPU time, peak
RSS, findings rows and records. Target (issue 8): ``large`` (2,000 clusters, about 1M
findings) in at most 60 s.

Run from the repository root:  .venv/bin/python benchmarks/sample_bench.py [--scale large] [--months N]
Not a test: it takes as long as the work does.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = {"large": 60.0}

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
from reportgen.collect.sample import write_sample
from reportgen.snapshot import read_meta
t0 = time.monotonic()
paths = write_sample({out!r}, {scale!r}, history_dir={history!r} if {months} else None, months={months})
wall = time.monotonic() - t0
usage = resource.getrusage(resource.RUSAGE_SELF)
meta = read_meta(paths[0])
print(json.dumps({{"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
                  "peak_rss_mb": round(usage.ru_maxrss / 1024), "snapshots": len(paths),
                  "findings_rows": meta["datasets"]["findings"]["rows"],
                  "records": meta["collection"]["records"]}}))
"""


def run(scale: str, months: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="reportgen-sample-bench-") as tmp:
        code = CHILD.format(root=str(ROOT), out=str(Path(tmp) / "snap"), scale=scale,
                            history=str(Path(tmp) / "history"), months=months)
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"sample {scale} failed: {proc.stderr.strip().splitlines()[-1]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", action="append", help="small | medium | large | N (repeatable; default all three)")
    parser.add_argument("--months", type=int, default=0, help="earlier monthly snapshots to write as well")
    args = parser.parse_args()
    ok = True
    for scale in args.scale or ["small", "medium", "large"]:
        started = time.monotonic()
        report = {"scale": scale, "months": args.months, **run(scale, args.months)}
        target = TARGET_S.get(scale) if not args.months else None
        report["target_s"] = target
        print(json.dumps(report, indent=2))
        if target is not None:
            met = report["wall_s"] <= target
            ok &= met
            print(f"{'OK' if met else 'MISSED'}: sample {scale} in {report['wall_s']} s (target {target:g} s), "
                  f"{report['findings_rows']} findings rows, peak {report['peak_rss_mb']} MB "
                  f"({time.monotonic() - started:.1f} s with process start)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
