"""Benchmark: rendering a pack from a snapshot, step by step, against its floors.

For each scale (``medium``: 105k findings, ``large``: 1.02M) it renders the pack in a fresh
process, so that memory and imports are the run's own, and reports wall time, CPU time and
peak RSS for each step: importing, reading the snapshot, aggregating, copying the snapshot
into the pack, every output in ``reportgen.render.interface.outputs()`` order, README.txt,
the manifest (``reportgen.pack.manifest.write_manifest``), and the whole run.

Measured how:
  * wall: ``time.perf_counter``; CPU: ``getrusage`` user + system of the process (every
    thread) and of waited-for children. On a machine shared with other work the wall time
    stretches while the CPU time does not: read the CPU column for the work's own cost.
  * peak RSS of a step: the kernel's high-water mark (``VmHWM``), reset to the current RSS
    at the start of each step by writing ``5`` to ``/proc/self/clear_refs`` and read at its
    end, so it is exact, however short the peak. ``start`` is the RSS when the step began:
    peak - start is what the step itself added. Where clear_refs is refused the high-water
    mark cannot be reset; the step's peak is then the maximum of a thread sampling ``VmRSS``
    every 5 ms (it needs the GIL, so it can miss a short peak inside one long C call) and
    the column is marked ``~``. The run's peak is the largest step peak; ``getrusage``
    ``ru_maxrss`` would do too without the resets, but clear_refs resets it as well. The
    kernel's RSS counters are batched per CPU, so a short step right after a big one can
    show a little of the big one's peak.

Floors, measured in the same process after the render: deflating the Findings sheet's XML
(taken from the workbook just written) with zlib at the level ``zipfile`` uses for
ZIP_DEFLATED (Z_DEFAULT_COMPRESSION, raw deflate, plus the CRC-32 a zip entry needs), and
writing the same rows of data/findings.csv (read back first, block by block, untimed) with a
plain ``csv.writer``. The workbook and CSV steps cannot be cheaper than these.

Targets (issue 9): ``large`` at most 90 s wall and 2 GB peak RSS, ``medium`` at most 12 s.
Exits 1 when one is missed.

Run from the repository root:
  .venv/bin/python benchmarks/render_bench.py [--scale medium] [--snapshot large=/path] [--base-tree /path]
``--snapshot SCALE=PATH`` uses an existing snapshot (else one is generated in a temporary
folder with ``reportgen sample``; large takes a minute and ~6 GB). ``--base-tree PATH``
renders with the reportgen of another checkout as well (PYTHONPATH=PATH; it needs the
output registry, ``reportgen.render.interface``) and prints both, for before/after.
Not a test: it takes as long as the work does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCALES = ("medium", "large")
MB = 1024 * 1024
TARGETS = {"medium": {"wall_s": 12.0}, "large": {"wall_s": 90.0, "peak_rss_mb": 2048.0}}
SAMPLE_EVERY_S = 0.005
CSV_BLOCK_ROWS = 10_000
XML_BLOCK = 1 << 20


# --- the child: one render, measured ------------------------------------------------------

def _status_kb(field: str) -> int:
    with open("/proc/self/status", "rb") as fh:
        for line in fh:
            if line.startswith(field.encode() + b":"):
                return int(line.split()[1])
    return 0


class _Meter:
    """Step-by-step wall, CPU and peak RSS of this process (see the module docstring)."""

    def __init__(self) -> None:
        import threading
        self.steps: list[dict] = []
        self.can_reset = self._reset_hwm()
        self._sampled = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    @staticmethod
    def _reset_hwm() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            return True
        except OSError:
            return False

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self._sampled = max(self._sampled, _status_kb("VmRSS"))

    @staticmethod
    def _cpu() -> float:
        import resource
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    def step(self, name: str, fn, *args):
        self._reset_hwm()
        start_rss = self._sampled = _status_kb("VmRSS")
        t0, c0 = time.perf_counter(), self._cpu()
        result = fn(*args)
        wall, cpu = time.perf_counter() - t0, self._cpu() - c0
        sampled = max(self._sampled, _status_kb("VmRSS"))
        peak = max(_status_kb("VmHWM"), sampled) if self.can_reset else sampled
        self.steps.append({"step": name, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                           "start_mb": round(start_rss / 1024), "peak_mb": round(peak / 1024)})
        return result

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def _findings_sheet_paths(xlsx: Path) -> list[str]:
    """Zip paths of the Findings sheet(s) ("Findings", "Findings (2)"...) of a workbook."""
    import re
    from zipfile import ZipFile
    with ZipFile(xlsx) as z:
        book = z.read("xl/workbook.xml").decode()
        rels = z.read("xl/_rels/workbook.xml.rels").decode()
    targets = {m.group(1): m.group(2) for m in re.finditer(r'<Relationship[^>]*Id="([^"]+)"[^>]*Target="([^"]+)"', rels)}
    targets |= {m.group(2): m.group(1) for m in re.finditer(r'<Relationship[^>]*Target="([^"]+)"[^>]*Id="([^"]+)"', rels)}
    out = []
    for m in re.finditer(r'<(?:\w+:)?sheet [^>]*name="([^"]+)"[^>]*(?:r:)?id="([^"]+)"', book):
        if re.fullmatch(r"Findings( \(\d+\))?", m.group(1)):
            target = targets[m.group(2)].lstrip("/")
            out.append(target if target.startswith("xl/") else f"xl/{target}")
    return out


def _zlib_floor(xlsx: Path, work: Path) -> dict:
    """Deflate the Findings sheet XML as zipfile does (level 6, raw deflate, CRC-32)."""
    import zlib
    from zipfile import ZipFile
    xml = work / "findings-sheet.xml"
    with ZipFile(xlsx) as z, open(xml, "wb") as out:   # untimed: get the XML onto disk
        for name in _findings_sheet_paths(xlsx):
            with z.open(name) as src:
                while block := src.read(XML_BLOCK):
                    out.write(block)
    size = compressed = 0
    t0, c0 = time.perf_counter(), time.process_time()
    with open(xml, "rb") as fh:
        deflate, crc = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15), 0
        while block := fh.read(XML_BLOCK):
            size += len(block)
            crc = zlib.crc32(block, crc)
            compressed += len(deflate.compress(block))
        compressed += len(deflate.flush())
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    xml.unlink()
    return {"step": "floor: zlib Findings sheet", "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
            "xml_mb": round(size / MB, 1), "deflated_mb": round(compressed / MB, 1)}


def _csv_floor(findings_csv: Path, work: Path) -> dict:
    """Write the rows of findings.csv again with a plain csv.writer (only the writing is timed)."""
    import csv
    wall = cpu = 0.0
    rows = 0
    with open(findings_csv, newline="", encoding="utf-8") as src, \
            open(work / "floor.csv", "w", newline="", encoding="utf-8") as dst:
        reader, writer = csv.reader(src), csv.writer(dst, lineterminator="\n")
        while True:
            block = [row for _, row in zip(range(CSV_BLOCK_ROWS), reader)]
            if not block:
                break
            t0, c0 = time.perf_counter(), time.process_time()
            writer.writerows(block)
            wall, cpu, rows = wall + time.perf_counter() - t0, cpu + time.process_time() - c0, rows + len(block)
        t0, c0 = time.perf_counter(), time.process_time()
        dst.flush()
        wall, cpu = wall + time.perf_counter() - t0, cpu + time.process_time() - c0
    (work / "floor.csv").unlink()
    return {"step": "floor: csv.writer findings.csv", "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
            "rows": rows - 1}


def child(snapshot: str, work: str) -> None:
    """Render ``snapshot`` into ``work``/pack, print one JSON line of measurements."""
    meter = _Meter()
    t0, c0 = time.perf_counter(), _Meter._cpu()

    def imports():
        try:
            from reportgen.render.interface import outputs
        except ImportError as exc:
            raise SystemExit(f"this reportgen has no output registry (reportgen.render.interface): {exc}") from None
        from reportgen.aggregate.build import build_model
        from reportgen.config import load_config
        from reportgen.frameworks import load_controls
        from reportgen.pack.manifest import pack_files, write_manifest
        from reportgen.pack.readme import write_readme
        from reportgen.pack.writer import copy_snapshot
        from reportgen.snapshot import read_snapshot, utc_iso
        outs = outputs()
        return locals()

    m = meter.step("import", imports)
    snap = meter.step("read snapshot", m["read_snapshot"], Path(snapshot))
    config = m["load_config"](None, env={})
    model = meter.step("aggregate", m["build_model"], snap, config, m["load_controls"](config.controls_file), [])
    del snap
    pack = Path(work) / "pack"
    pack.mkdir()
    meter.step("snapshot copy", m["copy_snapshot"], Path(snapshot), pack / "snapshot", model.meta.snapshot_fingerprint)
    for out in m["outs"]:
        meter.step(out.name, out.write, model, pack)
    meter.step("README.txt", lambda: m["write_readme"](model, pack, m["pack_files"](pack)))
    meter.step("manifest", lambda: m["write_manifest"](
        pack, run_id=model.meta.run_id, snapshot_fingerprint=model.meta.snapshot_fingerprint,
        as_of=m["utc_iso"](model.meta.as_of),
        period={"start": model.meta.period_start.isoformat(), "end": model.meta.period_end.isoformat()}))
    overall = {"step": "overall", "wall_s": round(time.perf_counter() - t0, 3),
               "cpu_s": round(_Meter._cpu() - c0, 3), "start_mb": meter.steps[0]["start_mb"],
               "peak_mb": max(s["peak_mb"] for s in meter.steps)}
    meter.close()
    del model
    floors = [_zlib_floor(pack / "evidence-pack.xlsx", Path(work)), _csv_floor(pack / "data" / "findings.csv", Path(work))]
    print(json.dumps({"steps": meter.steps + [overall], "floors": floors, "hwm_reset": meter.can_reset}))


# --- the parent ---------------------------------------------------------------------------

def _snapshot_for(scale: str, given: dict[str, Path], tmp: Path) -> tuple[Path, int]:
    path = given.get(scale)
    if path is None:
        path = tmp / f"snapshot-{scale}"
        print(f"generating the {scale} sample snapshot in {path} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "reportgen", "sample", "--scale", scale, "--out", str(path)],
                       check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL)
    meta = json.loads((path / "snapshot.json").read_text(encoding="utf-8"))
    return path, int(meta["datasets"]["findings"]["rows"])


def run(tree: Path, snapshot: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="reportgen-render-bench-") as work:
        env = {**os.environ, "PYTHONPATH": str(tree)}
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--child", str(snapshot), work],
                              capture_output=True, text=True, check=False, env=env, cwd=work)
        if proc.returncode != 0:
            raise SystemExit(f"render of {snapshot} with {tree} failed:\n{proc.stderr.strip()[-3000:]}")
        report = json.loads(proc.stdout.strip().splitlines()[-1])
        report["process_wall_s"] = round(time.perf_counter() - t0, 2)
        return report


def _table(title: str, report: dict, base: dict | None) -> str:
    mark = "" if report["hwm_reset"] else "~"
    lines = [title, f"  {'step':<32}{'wall s':>9}{'cpu s':>9}{'start MB':>10}{'peak MB':>10}"
             + (f"  | {'base wall':>9}{'cpu':>9}{'peak MB':>10}" if base else "")]
    before = {s["step"]: s for s in base["steps"]} if base else {}
    for s in report["steps"]:
        b = before.get(s["step"])
        row = (f"  {s['step']:<32}{s['wall_s']:>9.2f}{s['cpu_s']:>9.2f}{s['start_mb']:>10}"
               f"{mark + str(s['peak_mb']):>10}")
        if b:
            row += f"  | {b['wall_s']:>9.2f}{b['cpu_s']:>9.2f}{b['peak_mb']:>10}"
        lines.append(row)
    steps = {s["step"]: s for s in report["steps"]}
    for f, writer in zip(report["floors"], ("workbook", "csv")):
        extra = (f"  ({f['xml_mb']:,} MB XML -> {f['deflated_mb']:,} MB)" if "xml_mb" in f else f"  ({f['rows']:,} rows)")
        if writer in steps and f["cpu_s"]:
            extra += f"; {writer} step CPU = {steps[writer]['cpu_s'] / f['cpu_s']:.2f} x this floor"
        lines.append(f"  {f['step']:<32}{f['wall_s']:>9.2f}{f['cpu_s']:>9.2f}{extra}")
    return "\n".join(lines)


def _judge(scale: str, report: dict) -> tuple[bool, str]:
    overall = report["steps"][-1]
    target = TARGETS.get(scale, {})
    checks = [("wall", overall["wall_s"], target.get("wall_s"), "s"),
              ("peak RSS", overall["peak_mb"], target.get("peak_rss_mb"), "MB")]
    ok, parts = True, []
    for label, value, limit, unit in checks:
        if limit is None:
            continue
        met = value <= limit
        ok &= met
        parts.append(f"{label} {value:,.1f} {unit} (target {limit:,.0f} {unit}{'' if met else ', MISSED'})")
    text = "; ".join(parts) or "no target"
    return ok, f"{'OK' if ok else 'MISSED'}: render {scale}: {text}; CPU {overall['cpu_s']:.1f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", action="append", choices=SCALES, help="medium | large (repeatable; default both)")
    parser.add_argument("--snapshot", action="append", default=[], metavar="SCALE=PATH",
                        help="an existing snapshot for a scale (PATH alone when one --scale is given)")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose reportgen renders (default: this one)")
    parser.add_argument("--base-tree", type=Path, help="also render with this checkout, for before/after")
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON as well")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    scales = args.scale or list(SCALES)
    given: dict[str, Path] = {}
    for item in args.snapshot:
        scale, sep, path = item.rpartition("=")
        if not sep:
            if len(scales) != 1:
                parser.error("--snapshot PATH needs exactly one --scale (or use SCALE=PATH)")
            scale = scales[0]
        given[scale] = Path(path).resolve()
    ok = True
    with tempfile.TemporaryDirectory(prefix="reportgen-render-bench-snap-") as tmp:
        for scale in scales:
            snapshot, findings = _snapshot_for(scale, given, Path(tmp))
            base = run(args.base_tree.resolve(), snapshot) if args.base_tree else None
            report = run(args.tree.resolve(), snapshot)
            if args.json:
                print(json.dumps({"scale": scale, "findings": findings, "report": report, "base": base}))
            title = f"render {scale} ({findings:,} findings rows; {args.tree})"
            if base:
                title += f"  vs base {args.base_tree}"
            print(_table(title, report, base))
            met, line = _judge(scale, report)
            if base:
                b = base["steps"][-1]
                line += f"  [base: wall {b['wall_s']:.1f} s, CPU {b['cpu_s']:.1f} s, peak {b['peak_mb']:,} MB]"
            print(line + "\n", flush=True)
            ok &= met
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
