"""The reproducible audit sample: a stratified random selection from the period population.

An auditor testing operating effectiveness over the period picks lineages from the period
population and asks for each one's evidence. The selection must be one they can re-draw
themselves, by hand or in a spreadsheet, from the population file and two numbers (size and
seed), so nothing here uses a random generator: each lineage's draw key is
``sha256("<seed>:<lineageId>")`` and a stratum takes its smallest keys. The population's row
order therefore never matters, and ``method_text`` states every step in words.

``draw`` is the whole method; ``with_audit_sample`` puts its result into a report model
(``ReportModel.audit_sample`` and ``ReportTables.audit_sample``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

from reportgen.aggregate.common import per_value
from reportgen.aggregate.model import (
    POPULATION_COLUMNS, SAMPLE_COLUMNS, SEVERITY_ORDER, AuditSample, ReportModel,
)
from reportgen.errors import UsageError

# Outcomes in stratum order: the SLA verdicts, then the closures that have none.
OUTCOME_ORDER: tuple[str, ...] = (
    "met", "missed", "open-overdue", "open-within", "fixed-no-sla", "closed-exempt", "closed-out_of_scope",
)
CLOSE_REASONS = ("fixed", "exempt", "out_of_scope")
SLA_VERDICTS = OUTCOME_ORDER[:4]
# The population columns the draw reads; the others are carried to the evidence cards.
DRAW_COLUMNS = ("lineageId", "severity", "slaVerdict", "closeReason")


def draw_key(seed: int, lineage_id: str) -> str:
    """The lineage's draw key: sha256 of ``"<seed>:<lineageId>"`` (UTF-8), lower-case hex."""
    return hashlib.sha256(f"{seed}:{lineage_id}".encode("utf-8")).hexdigest()


def stratum_label(severity: str, outcome: str) -> str:
    return f"{severity} / {outcome}"


def outcome_of(sla_verdict: str, close_reason: str, lineage_id: str = "?", where: str = "population") -> str:
    """The outcome half of a stratum: the SLA verdict when set, else how the lineage closed."""
    verdict, reason = _text(sla_verdict), _text(close_reason)
    if verdict:
        if verdict not in SLA_VERDICTS:
            raise UsageError(f"{where}: lineage {lineage_id}: slaVerdict {verdict!r} is not one of "
                             f"{', '.join(SLA_VERDICTS)}")
        return verdict
    if reason == "fixed":
        return "fixed-no-sla"
    if reason in CLOSE_REASONS:
        return f"closed-{reason}"
    raise UsageError(f"{where}: lineage {lineage_id}: no slaVerdict and closeReason {reason!r} is not one of "
                     f"{', '.join(CLOSE_REASONS)}",
                     hint="an open lineage has the verdict open-overdue or open-within")


def allocate(sizes: dict[tuple[str, str], int], size: int) -> dict[tuple[str, str], int]:
    """Items per stratum (``sizes`` maps each stratum, in stratum order, to its population).

    Proportional to stratum size by the largest-remainder method, exact fractions: a stratum's
    share is size x its population / the population; it gets the whole part of its share, and the
    items left over go one each to the largest fractional parts (ties: stratum order). While size is
    at least the number of non-empty strata, every non-empty stratum gets at least one item: a
    stratum whose share is below 1 gets exactly 1, and the shares of the others are worked out again
    over the items and the population left, until no share is below 1. A size of at least the
    population takes every item.
    """
    strata = [s for s, n in sizes.items() if n > 0]
    total = sum(sizes[s] for s in strata)
    if size >= total:
        return {s: sizes[s] for s in strata}
    fixed: dict[tuple[str, str], int] = {}
    rest = list(strata)
    if size >= len(strata):
        while True:
            left, pool = size - len(fixed), sum(sizes[s] for s in rest)
            small = [s for s in rest if Fraction(left * sizes[s], pool) < 1]
            if not small:
                break
            fixed.update({s: 1 for s in small})
            rest = [s for s in rest if s not in fixed]
    left, pool = size - len(fixed), sum(sizes[s] for s in rest)
    shares = {s: Fraction(left * sizes[s], pool) for s in rest} if pool else {}
    counts = {s: int(share) for s, share in shares.items()}
    order = {s: i for i, s in enumerate(strata)}
    by_remainder = sorted(rest, key=lambda s: (-(shares[s] - counts[s]), order[s]))
    for s in by_remainder[:left - sum(counts.values())]:
        counts[s] += 1
    counts.update(fixed)
    return {s: counts[s] for s in strata}


def draw(population: pd.DataFrame, size: int, seed: int, *,
         where: str = "period population") -> tuple[pd.DataFrame, AuditSample]:
    """The sample of ``size`` items drawn with ``seed`` from ``population`` (POPULATION_COLUMNS).

    Returns the SAMPLE_COLUMNS frame (item, stratum, drawKey, then the population's columns, in
    item order) and its ``AuditSample``. The same population, size and seed give the same items
    whatever the population's row order. ``UsageError`` naming the column or the lineage when the
    population cannot be drawn from (``where`` names it: the table or the file).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise UsageError(f"audit sample size: expected an integer >= 0, got {size!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"audit sample seed: expected an integer >= 0, got {seed!r}")
    missing = [c for c in POPULATION_COLUMNS if c not in population.columns]
    if missing:
        raise UsageError(f"{where}: missing column {missing[0]!r}")
    frame = population.loc[:, list(POPULATION_COLUMNS)].reset_index(drop=True)
    ids = per_value(frame["lineageId"], _text)
    if (ids == "").any():
        raise UsageError(f"{where}: row {int((ids == '').idxmax()) + 1} has no lineageId")
    if ids.duplicated().any():
        raise UsageError(f"{where}: lineage {ids[ids.duplicated()].iloc[0]} appears twice "
                         f"(one row per lineage)")
    severities = per_value(frame["severity"], _text)
    odd = severities[~severities.isin(SEVERITY_ORDER)]
    if len(odd):
        raise UsageError(f"{where}: lineage {ids[odd.index[0]]}: severity {odd.iloc[0]!r} is not one of "
                         f"{', '.join(SEVERITY_ORDER)}")
    # the outcome of each distinct (verdict, reason) pair, worked out once (a million rows hold a dozen)
    verdicts = per_value(frame["slaVerdict"], _text).tolist()
    reasons = per_value(frame["closeReason"], _text).tolist()
    outcome_by_pair: dict[tuple[str, str], str] = {}
    for pair, lineage in zip(zip(verdicts, reasons), ids.tolist()):
        if pair not in outcome_by_pair:
            outcome_by_pair[pair] = outcome_of(pair[0], pair[1], lineage, where)
    outcomes = [outcome_by_pair[pair] for pair in zip(verdicts, reasons)]
    keys = [draw_key(seed, i) for i in ids.tolist()]
    strata = [(s, o) for s in SEVERITY_ORDER for o in OUTCOME_ORDER]   # in stratum order
    rank = {st: i for i, st in enumerate(strata)}
    labels = {st: stratum_label(*st) for st in strata}
    pairs_so = list(zip(severities.tolist(), outcomes))
    frame = frame.assign(item=0, stratum=pd.Series([labels[st] for st in pairs_so], dtype=object),
                         drawKey=pd.Series(keys, dtype=object), _rank=[rank[st] for st in pairs_so])
    frame = frame.sort_values(["_rank", "drawKey"], kind="stable").reset_index(drop=True)

    sizes = {st: 0 for st in strata}
    for st in pairs_so:
        sizes[st] += 1
    counts = allocate(sizes, size) if size else {st: 0 for st in strata if sizes[st]}
    # the first counts[stratum] rows of each stratum, which is sorted by draw key
    limit = frame["_rank"].map({rank[st]: n for st, n in counts.items()})
    chosen = frame[(frame.groupby("_rank", sort=False).cumcount() < limit).to_numpy()]
    chosen = chosen.drop(columns="_rank").reset_index(drop=True)
    chosen["item"] = range(1, len(chosen) + 1)
    sample = AuditSample(
        size=size, seed=seed, drawn=len(chosen), population=len(frame), method=method_text(size, seed),
        strata=tuple((stratum_label(*st), sizes[st], counts[st]) for st in strata if sizes[st]),
    )
    return chosen.loc[:, list(SAMPLE_COLUMNS)], sample


def with_audit_sample(model: ReportModel, size: int, seed: int) -> ReportModel:
    """``model`` with the sample of ``size`` drawn with ``seed`` from ``model.tables.period_population``.

    Size 0 means no sample: ``audit_sample`` None and an empty sample table.
    """
    if size == 0:
        empty = pd.DataFrame(columns=list(SAMPLE_COLUMNS))
        return dataclasses.replace(model, audit_sample=None,
                                   tables=dataclasses.replace(model.tables, audit_sample=empty))
    items, sample = draw(model.tables.period_population, size, seed)
    return dataclasses.replace(model, audit_sample=sample,
                               tables=dataclasses.replace(model.tables, audit_sample=items))


def method_text(size: int, seed: int) -> str:
    """The method in words, so that an auditor can re-draw the sample from the population table."""
    severities = ", ".join(SEVERITY_ORDER)
    outcomes = ", ".join(OUTCOME_ORDER)
    return (
        f"Population: every lineage of the period population (one row per lineage id). "
        f"Strata: (lineage severity, outcome), where the outcome is the SLA verdict when there is one, "
        f"\"fixed-no-sla\" for a lineage fixed without a due date, and \"closed-exempt\" or "
        f"\"closed-out_of_scope\" for one closed by an exemption or by leaving scope; a stratum is labelled "
        f"\"Critical / open-overdue\". Stratum order: severity ({severities}), then outcome ({outcomes}). "
        f"Allocation of the {size} items: proportional to stratum size by the largest-remainder method with "
        f"exact fractions. A stratum's share is {size} x its population / the population; it gets the whole "
        f"part of its share, and the items left over go one each to the strata with the largest fractional "
        f"parts (ties: stratum order). While {size} is at least the number of non-empty strata, every "
        f"non-empty stratum gets at least one item: a stratum whose share is below 1 gets exactly 1, and the "
        f"shares of the other strata are worked out again over the items and the population left, repeating "
        f"until no share is below 1. When {size} is at least the population, every lineage is taken. "
        f"Draw: each lineage's draw key is the SHA-256 (lower-case hex) of the UTF-8 text "
        f"\"{seed}:<lineage id>\" (seed {seed}, a colon, the lineage id; for example \"{seed}:L-0123456789abcdef\"); "
        f"within each stratum the lineages with the smallest draw keys are taken (hex text compared as "
        f"text). Items are numbered from 1 in stratum order, then by draw key. The same population, size and "
        f"seed always give the same items, whatever the order of the rows."
    )


def _text(value: object) -> str:
    """A cell as text: missing values (None, NaN, NaT, pd.NA) are empty."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value).strip()



# --- the audit-sample command: a pack's own population, drawn again ---------------------------
# These read a finished pack (after ``reportgen verify``'s checks) and format the cards; the draw
# itself is ``draw`` above, the very function a render uses.

POPULATION_FILE = "data/period_population.csv"


def redraw(pack_dir: Path, size: int, seed: int) -> tuple[pd.DataFrame, AuditSample]:
    """The sample of ``size`` items drawn with ``seed`` from the population of a pack that verifies."""
    population = population_from_pack(pack_dir)
    return draw(population, size, seed, where=str(Path(pack_dir) / POPULATION_FILE))


def population_from_pack(pack_dir: Path) -> pd.DataFrame:
    """The period population of a pack that verifies, as text (POPULATION_COLUMNS), read by header.

    ``VerificationError`` with every problem when the pack does not verify; ``UsageError`` naming
    the file (and the column or line) when its population file is missing or unreadable.
    """
    from reportgen.errors import VerificationError
    from reportgen.pack.manifest import NotRegular, PackFolder, parse_manifest
    from reportgen.pack.verify import verify_pack
    from reportgen.render.interface import MANIFEST

    problems = verify_pack(pack_dir)
    if problems:
        raise VerificationError(f"{pack_dir}: does not verify, so its population is not evidence: "
                                + "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5
                                                              else ""),
                                hint=f"run 'reportgen verify {pack_dir}' for every problem")
    where = f"{Path(pack_dir) / POPULATION_FILE}"
    with PackFolder(Path(pack_dir)) as folder:
        manifest = parse_manifest(folder.read_bytes(MANIFEST))
        listed = {e.get("path"): e for e in manifest["files"] if isinstance(e, dict)}
        if POPULATION_FILE not in listed:
            raise UsageError(f"{where}: not in the pack",
                             hint="render the pack with a reportgen that writes the period population")
        try:
            data = folder.read_bytes(POPULATION_FILE)
        except (OSError, NotRegular) as exc:
            raise UsageError(f"{where}: unreadable ({exc})") from None
    # the bytes read now are the bytes verified a moment ago
    if hashlib.sha256(data).hexdigest() != listed[POPULATION_FILE].get("sha256"):
        raise VerificationError(f"{where}: changed since it was verified (sha256 does not match {MANIFEST})")
    return read_population_csv(data, where)


def read_population_csv(data: bytes, where: str) -> pd.DataFrame:
    """``data`` (a population CSV as the pack writes it) as a frame of POPULATION_COLUMNS text.

    Columns are found by their header in the workbook's table (or by the model column's name);
    the single quote that neutralises a formula is taken off again.
    """
    import csv
    import io

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise UsageError(f"{where}: not readable CSV ({exc})") from None
    if not rows:
        raise UsageError(f"{where}: empty (no header row)")
    header = rows[0]
    names = table_headers(POPULATION_COLUMNS)
    index = {}
    for key in POPULATION_COLUMNS:
        found = [i for i, h in enumerate(header) if h in (names.get(key), key)]
        if not found:
            raise UsageError(f"{where}: missing column {names.get(key, key)!r} ({key})")
        if len(found) > 1:
            raise UsageError(f"{where}: column {names.get(key, key)!r} ({key}) appears {len(found)} times")
        index[key] = found[0]
    body = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UsageError(f"{where}: row {line} has {len(row)} fields, the header {len(header)}")
        body.append([_unneutralise(row[index[key]]) for key in POPULATION_COLUMNS])
    return pd.DataFrame(body, columns=list(POPULATION_COLUMNS), dtype=object)


def table_headers(columns: tuple[str, ...]) -> dict[str, str]:
    """Model column -> header of the workbook table (and CSV) that shows ``columns``; {} if none does."""
    from reportgen.render.tables import MODEL_COLUMNS
    for model_columns, spec in MODEL_COLUMNS.values():
        if tuple(model_columns) == tuple(columns):
            return {c.key: c.header for c in spec}
    return {}


_QUOTED_FORMULA_AFTER_BREAK = re.compile(r"([\r\n]+)'(?=[ ]*[=+\-@\t])")


def _unneutralise(text: str) -> str:
    """The inverse of ``render.csv_export.neutralise``: the value as the model held it."""
    from reportgen.render.csv_export import FORMULA_START
    if text.startswith("'") and text[1:].lstrip(" ").startswith(FORMULA_START):
        text = text[1:]
    if "\n" in text or "\r" in text:
        text = _QUOTED_FORMULA_AFTER_BREAK.sub(r"\1", text)
    return text


def evidence_cards(items: pd.DataFrame) -> list[str]:
    """One plain-text evidence card per item (SAMPLE_COLUMNS), in item order."""
    cards = []
    total = len(items)
    for row in items.to_dict("records"):
        v = {k: _shown(row.get(k)) for k in SAMPLE_COLUMNS}
        lower = _truthy(row.get("ageIsLowerBound"))
        repository = f", repository {v['repository']}" if v["repository"] else ""
        lines = [
            f"Item {v['item']} of {total}: stratum {v['stratum']}, draw key {v['drawKey']}",
            ("Lineage", f"{v['lineageId']}: {v['cveId']} in {v['packageName']}{repository}"),
            ("Severity", v["severity"] or "(none)"),
            ("Cluster", f"{v['clusterName']} ({v['resourceId']}), owner {v['owner'] or '(none)'}"),
            ("Digests", v["digests"] or "(none recorded)"),
        ]
        sightings = [_shown(s) for s in _text(row.get("sightings")).split("; ") if s.strip()]
        lines.append(("Sightings", sightings[0] if sightings else "(none recorded)"))
        lines += [("", s) for s in sightings[1:]]
        lines += [
            ("First seen", f"{v['firstSeen'] or '(unknown)'} (source: {v['firstSeenSource'] or 'not recorded'})"
                           + ("; a lower bound: the available evidence starts there" if lower else "")),
            ("Due", f"{v['dueDate']} (source: {v['dueSource'] or 'not recorded'})" if v["dueDate"]
                    else "no due date (no SLA applies to this severity)"),
            ("Open", f"at the period start: {_yes_no(row.get('openAtStart'))}; "
                     f"at the as-of time: {_yes_no(row.get('openAtAsOf'))}"),
            ("Closure", f"{v['closed']} (reason: {v['closeReason'] or 'not recorded'}"
                        + (f"; {v['daysToFix']} days to fix)" if v["daysToFix"] else ")")
                        if v["closed"] else "not closed (open at the as-of time)"),
            ("SLA verdict", v["slaVerdict"] or "none (closed without an SLA verdict)"),
            ("Exemption", v["exemption"] or "none"),
            ("Query sha256", v["querySha256"] or "(not recorded)"),
        ]
        cards.append("\n".join(line if isinstance(line, str) else f"  {line[0]:<13} {line[1]}" for line in lines))
    return cards


def sample_report(items: pd.DataFrame, sample: AuditSample, source: str) -> str:
    """The whole printout: what was drawn from where, the method, the strata, then every card."""
    head = [
        f"Audit sample of {_shown(source)}: {sample.drawn} of {sample.population} lineages "
        f"(size {sample.size}, seed {sample.seed})",
        "",
        f"Method: {sample.method}",
        "",
        "Strata (population, drawn):",
        *(f"  {name}: {population}, {drawn}" for name, population, drawn in sample.strata),
    ]
    if not sample.strata:
        head.append("  (the population is empty)")
    return "\n\n".join(["\n".join(head), *evidence_cards(items)]) + "\n"


def write_cards_csv(items: pd.DataFrame, path: Path) -> Path:
    """The cards as CSV (SAMPLE_COLUMNS, with the headers of the workbook's sample table where it
    has one), written like the pack's CSVs; an existing file is never overwritten."""
    from reportgen.render.csv_export import write_table_csv
    from reportgen.render.tables import Column, TableSpec
    path = Path(path)
    if path.exists() or path.is_symlink():
        raise UsageError(f"--out {path}: already exists; refusing to overwrite it", hint="name a new file")
    names = table_headers(SAMPLE_COLUMNS)
    columns = tuple(Column(key, names.get(key, key)) for key in SAMPLE_COLUMNS)
    frame = pd.DataFrame({key: [None if (t := _csv_text(x)) == "" else t for x in items[key]] for key in SAMPLE_COLUMNS},
                         columns=list(SAMPLE_COLUMNS), dtype=object)
    spec = TableSpec("Audit sample", "AuditSample", path.name, "The audit sample's evidence cards.", columns, frame)
    try:
        return write_table_csv(spec, path)
    except OSError as exc:
        raise UsageError(f"--out {path}: cannot be written ({exc.strerror})") from None


def _csv_text(value: object) -> str:
    """A value as the pack's CSVs write it: times ISO 8601 UTC, booleans true/false."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, datetime) and not pd.isna(value):
        return _utc_text(pd.Timestamp(value))
    if isinstance(value, str):
        return value
    return _text(value)


def _utc_text(ts: pd.Timestamp) -> str:
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.strftime("%Y-%m-%dT%H:%M:%S") + (f".{ts.microsecond:06d}" if ts.microsecond else "") + "Z"


def _shown(value: object) -> str:
    """A cell for the terminal: tenant text never forges a line or a control sequence."""
    text = _csv_text(value).strip()
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _truthy(value: object) -> bool:
    return _csv_text(value).strip().lower() == "true"


def _yes_no(value: object) -> str:
    return {"true": "yes", "false": "no"}.get(_csv_text(value).strip().lower(), "not recorded")
