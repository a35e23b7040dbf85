"""The built-in sample tenant: a realistic, reproducible AKS estate, collected like a real one.

``write_sample`` builds the estate once (``world.py``), then for the as-of month and each
earlier month it makes the raw Azure records of that month (``tenant.py``, shapes in
``records.py``) and collects them with the real query files through the embedded KQL engine
(``source.py``): the snapshot is made exactly as ``reportgen collect`` makes one from Azure.
Everything is derived from the seed and the as-of date (no clock, no uuid4, no set order),
so the same inputs give byte-identical Parquet files and snapshot.json.
"""

from __future__ import annotations

import tempfile
import uuid
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from reportgen.collect.sample.hashing import add_months, month_end
from reportgen.collect.sample.world import M_MIN, TENANT_NAMESPACE, World
from reportgen.errors import UsageError

SCALES = {"small": 12, "medium": 200, "large": 2000}   # clusters
DEFAULT_AS_OF = date(2026, 10, 31)   # fixed so output is reproducible; period = that month
MIN_CLUSTERS = 3
MAX_CLUSTERS = 20_000
MAX_MONTHS = 36
# The sample tenant's known-exploited catalogue (CISA KEV JSON format, reportgen/collect/kev.py), frozen into
# every sample snapshot as the known_exploited dataset. Recorded by this label, not by its path on this machine.
KNOWN_EXPLOITED = Path(__file__).parent / "data" / "known_exploited.json"
KNOWN_EXPLOITED_LABEL = "reportgen sample tenant catalogue (reportgen/collect/sample/data/known_exploited.json)"


def parse_scale(value: str | int) -> int:
    """``small`` | ``medium`` | ``large`` | N (number of AKS clusters, N >= 3) -> clusters."""
    hint = f"use small, medium, large or a number of clusters from {MIN_CLUSTERS} to {MAX_CLUSTERS}"
    if isinstance(value, bool):
        raise UsageError(f"--scale {value!r}: not a scale", hint=hint)
    if isinstance(value, int):
        n = value
    else:
        text = str(value).strip().lower()
        if text in SCALES:
            return SCALES[text]
        if not text.isdigit():
            raise UsageError(f"--scale {value!r}: not a scale", hint=hint)
        n = int(text)
    if not MIN_CLUSTERS <= n <= MAX_CLUSTERS:
        raise UsageError(f"--scale {value!r}: out of range", hint=hint)
    return n


def _check_seed(seed: Any) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise UsageError(f"--seed {seed!r}: expected a whole number >= 0")


def world(clusters: str | int, seed: int = 1, as_of: date | None = None) -> World:
    """The estate and timeline for these inputs (build once, then ask for any month)."""
    _check_seed(seed)
    as_of = as_of or DEFAULT_AS_OF
    return World(parse_scale(clusters), seed, as_of.date() if isinstance(as_of, datetime) else as_of)


def month_period(w: World, m: int) -> tuple[date, date, datetime]:
    """(first day, last day, collected_at) of month ``m``: the as-of date itself for 0, month ends before."""
    y, mo = add_months(w.as_of, m)
    as_of = w.as_of if m == 0 else month_end(y, mo)
    return date(y, mo, 1), month_end(y, mo), datetime(as_of.year, as_of.month, as_of.day, 6, 0, 0, tzinfo=timezone.utc)


def write_month(w: World, out: Path, m: int, scale_label: str | int) -> Path:
    """Collect month ``m`` of ``w`` with the real query files into the snapshot folder ``out``."""
    from reportgen.collect import live
    from reportgen.config import RunConfig

    if not M_MIN + 4 <= m <= 0:
        raise UsageError(f"sample month offset {-m} is out of range (0 to {-(M_MIN + 4)})")
    start, end, collected_at = month_period(w, m)
    run_id = uuid.uuid5(TENANT_NAMESPACE, f"reportgen-sample/{w.seed}/{w.n}/{w.as_of.isoformat()}/{-m}").hex
    label = {"scale": scale_label, "seed": w.seed, "clusters": w.n, "anchor_as_of": w.as_of.isoformat(),
             "month_offset": -m}
    return live.collect(RunConfig(), (start, end), Path(out), source="sample", now=collected_at, run_id=run_id,
                        options={"world": w, "month": m, "label": label, "known_exploited": str(KNOWN_EXPLOITED),
                                 "known_exploited_label": KNOWN_EXPLOITED_LABEL})


def write_sample(out: Path, scale: str | int = "small", seed: int = 1, as_of: date | None = None,
                 history_dir: Path | None = None, months: int = 0) -> list[Path]:
    """Write the sample snapshot to ``out`` and ``months`` earlier monthly ones to ``history_dir``.

    Returns ``[out, *history]`` with the history oldest first; history snapshots go to
    ``history_dir/<YYYY-MM>/``.
    """
    clusters = parse_scale(scale)
    if months and history_dir is None:
        raise UsageError("--months needs --history-dir", hint="say where the earlier snapshots go")
    if not 0 <= months <= MAX_MONTHS:
        raise UsageError(f"--months {months}: expected 0 to {MAX_MONTHS}")
    w = world(clusters, seed, as_of)
    scale_label: str | int = scale.strip().lower() if isinstance(scale, str) and not scale.strip().isdigit() \
        else clusters
    history: list[Path] = []
    for offset in range(months, 0, -1):
        history.append(write_month(w, Path(history_dir) / w.month_label(-offset), -offset, scale_label))  # type: ignore[arg-type]
    write_month(w, Path(out), 0, scale_label)
    return [Path(out), *history]


def generate(clusters: int, seed: int, as_of: date, month_offset: int = 0) -> dict[str, pd.DataFrame]:
    """Every dataset of the sample tenant as it stands ``month_offset`` months before ``as_of``
    (collected with the query files, as ``write_sample`` does, and read back)."""
    from reportgen.snapshot import read_snapshot

    w = world(clusters, seed, as_of)
    with tempfile.TemporaryDirectory(prefix="reportgen-sample-") as tmp:
        path = write_month(w, Path(tmp) / "snapshot", -month_offset, parse_scale(clusters))
        return dict(read_snapshot(path).frames)


def raw_records(clusters: int, seed: int = 1, as_of: date | None = None, month_offset: int = 0):
    """The raw Azure records of one month: (Resource Graph tables, Log Analytics tables) as Arrow."""
    from reportgen.collect.sample.tenant import MonthTenant
    from reportgen.kql.catalog import load_tables

    import pyarrow as pa

    schemas = load_tables()
    tenant = MonthTenant(world(clusters, seed, as_of), -month_offset)
    arg = tenant.resource_graph(schemas["resource_graph"])
    for name, extra in tenant.composed().items():   # written whole here, for callers that want every record
        arg[name] = pa.concat_tables([arg[name], extra.materialize(schemas["resource_graph"][name])])
    return arg, tenant.log_analytics(schemas["log_analytics"])
