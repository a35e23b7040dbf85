"""The audit sample: hand-worked allocations and draws, and ``reportgen audit-sample`` on a pack.

The population below has 12 lineages in 4 strata (Critical / open-overdue 5, High / met 4,
Low / closed-exempt 1, Unknown / open-within 2). Allocations are worked out by hand in each
test; draw keys are sha256("<seed>:<lineageId>") computed with hashlib (and, for seed 7, the
first key as ``printf '7:L-0000000000000001' | sha256sum`` prints it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from reportgen.aggregate.audit_sample import (
    POPULATION_FILE, allocate, draw, draw_key, read_population_csv, table_headers, with_audit_sample,
)
from reportgen.aggregate.model import POPULATION_COLUMNS, SAMPLE_COLUMNS
from reportgen.errors import UsageError

T0 = pd.Timestamp("2026-09-01T06:00:00Z")
AS_OF = pd.Timestamp("2026-10-31T06:00:00Z")
CRITICAL_OVERDUE = [1, 2, 3, 4, 5]
HIGH_MET = [6, 7, 8, 9]
LOW_EXEMPT = [10]
UNKNOWN_OPEN = [11, 12]


def lid(n: int) -> str:
    return f"L-{n:016x}"


def lineage(n: int, severity: str, verdict: str = "", reason: str = "", **extra) -> dict:
    closed = AS_OF - pd.Timedelta(days=10) if reason else pd.NaT
    row = {
        "lineageId": lid(n), "severity": severity, "cveId": f"CVE-2026-{n:04d}", "packageName": "openssl",
        "repository": "contoso.azurecr.io/app/api", "clusterName": "aks-a",
        "resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks-a",
        "owner": "team-a", "firstSeen": T0, "firstSeenSource": "sighting", "ageIsLowerBound": n == 1,
        "dueDate": pd.NaT if severity == "Unknown" else T0 + pd.Timedelta(days=15), "dueSource": "" if
        severity == "Unknown" else "sla",
        "openAtStart": True, "openAtAsOf": not reason, "closed": closed, "closeReason": reason,
        "slaVerdict": verdict, "daysToFix": 50.0 if reason == "fixed" else float("nan"),
        "digests": "sha256:aaa; sha256:bbb",
        "sightings": f"2026-09-30T06:00:00Z snapshot open; 2026-10-31T06:00:00Z snapshot "
                     f"{'not open' if reason else 'open'}",
        "exemption": "ex1 (approved by alice, ticket CHG-1)" if reason == "exempt" else "",
        "querySha256": "ab" * 32,
    }
    row.update(extra)
    return row


def population() -> pd.DataFrame:
    rows = ([lineage(n, "Critical", "open-overdue") for n in CRITICAL_OVERDUE]
            + [lineage(n, "High", "met", "fixed") for n in HIGH_MET]
            + [lineage(n, "Low", "", "exempt") for n in LOW_EXEMPT]
            + [lineage(n, "Unknown", "open-within") for n in UNKNOWN_OPEN])
    return pd.DataFrame(rows, columns=list(POPULATION_COLUMNS))


def smallest(numbers: list[int], k: int, seed: int) -> list[str]:
    keys = {lid(n): hashlib.sha256(f"{seed}:{lid(n)}".encode()).hexdigest() for n in numbers}
    return sorted(keys, key=keys.get)[:k]


def test_draw_key_is_sha256_of_seed_colon_lineage():
    assert draw_key(7, lid(1)) == "b38c26f6dcce82addf8d0058c0d3faae49fc496db870c3a2e08a0a1c1def36ef"


def test_every_stratum_gets_one_then_proportional_by_largest_remainder():
    # size 5 of 12: shares 25/12 = 2.08, 20/12 = 1.67, 5/12 = 0.42, 10/12 = 0.83. Low and Unknown are
    # below 1: 1 each. Left: 3 items over 9 lineages: Critical 15/9 = 1.67, High 12/9 = 1.33; whole parts
    # 1 + 1, the last item to the larger remainder (Critical). Plain largest remainder would give
    # Critical 2, High 2, Unknown 1 and Low nothing.
    items, sample = draw(population(), 5, 7)
    assert sample.strata == (("Critical / open-overdue", 5, 2), ("High / met", 4, 1),
                             ("Low / closed-exempt", 1, 1), ("Unknown / open-within", 2, 1))
    expected = (smallest(CRITICAL_OVERDUE, 2, 7) + smallest(HIGH_MET, 1, 7) + smallest(LOW_EXEMPT, 1, 7)
                + smallest(UNKNOWN_OPEN, 1, 7))
    assert items["lineageId"].tolist() == expected
    assert items["item"].tolist() == [1, 2, 3, 4, 5]
    assert items["stratum"].tolist() == ["Critical / open-overdue"] * 2 + ["High / met", "Low / closed-exempt",
                                                                          "Unknown / open-within"]
    assert items["drawKey"].tolist() == [draw_key(7, i) for i in expected]
    assert list(items.columns) == list(SAMPLE_COLUMNS)
    assert (sample.size, sample.seed, sample.drawn, sample.population) == (5, 7, 5, 12)
    # the evidence travels with the item
    row = items.set_index("lineageId").loc[smallest(LOW_EXEMPT, 1, 7)[0]]
    assert row["exemption"] == "ex1 (approved by alice, ticket CHG-1)" and row["closeReason"] == "exempt"


def test_fewer_items_than_strata_is_plain_largest_remainder():
    # size 3 < 4 strata: shares 15/12 = 1.25, 1.00, 0.25, 0.50 -> whole parts 1, 1, 0, 0; the item
    # left goes to the largest remainder, Unknown (0.50).
    items, sample = draw(population(), 3, 11)
    assert [s[2] for s in sample.strata] == [1, 1, 0, 1]
    assert items["lineageId"].tolist() == (smallest(CRITICAL_OVERDUE, 1, 11) + smallest(HIGH_MET, 1, 11)
                                           + smallest(UNKNOWN_OPEN, 1, 11))


def test_equal_remainders_go_in_stratum_order():
    # two strata of 1, one item: both shares 0.5, so the first in stratum order (Critical) takes it;
    # within a severity, met comes before missed.
    sizes = {("Critical", "met"): 1, ("High", "met"): 1}
    assert allocate(sizes, 1) == {("Critical", "met"): 1, ("High", "met"): 0}
    assert allocate({("High", "met"): 2, ("High", "missed"): 2, ("Low", "met"): 2}, 2) == {
        ("High", "met"): 1, ("High", "missed"): 1, ("Low", "met"): 0}
    # 11 of 12 in four strata of 6, 3, 2, 1: the last share is 11/12 < 1 -> 1; then 10 over 11:
    # 60/11 = 5.45, 30/11 = 2.73, 20/11 = 1.82 -> 5, 2, 1 and the two left to .82 and .73.
    assert list(allocate({("Critical", "met"): 6, ("High", "met"): 3, ("Medium", "met"): 2, ("Low", "met"): 1},
                         11).values()) == [5, 3, 2, 1]


def test_same_items_whatever_the_row_order_and_a_new_seed_draws_anew():
    base, _ = draw(population(), 5, 7)
    shuffled, _ = draw(population().sample(frac=1, random_state=3).reset_index(drop=True), 5, 7)
    pd.testing.assert_frame_equal(base, shuffled)
    other, _ = draw(population(), 5, 8)
    assert other["lineageId"].tolist() == (smallest(CRITICAL_OVERDUE, 2, 8) + smallest(HIGH_MET, 1, 8)
                                           + smallest(LOW_EXEMPT, 1, 8) + smallest(UNKNOWN_OPEN, 1, 8))


def test_a_size_beyond_the_population_takes_everything_in_stratum_order():
    items, sample = draw(population(), 40, 7)
    assert (sample.drawn, sample.population, sample.size) == (12, 12, 40)
    assert items["lineageId"].tolist() == (smallest(CRITICAL_OVERDUE, 5, 7) + smallest(HIGH_MET, 4, 7)
                                           + smallest(LOW_EXEMPT, 1, 7) + smallest(UNKNOWN_OPEN, 2, 7))


def test_outcomes_of_closures_without_a_verdict():
    rows = [lineage(1, "High", "", "fixed", dueDate=pd.NaT, dueSource=""),
            lineage(2, "High", "", "out_of_scope"), lineage(3, "High", "missed", "fixed")]
    _, sample = draw(pd.DataFrame(rows), 3, 1)
    assert sample.strata == (("High / missed", 1, 1), ("High / fixed-no-sla", 1, 1),
                             ("High / closed-out_of_scope", 1, 1))


def test_an_empty_population_draws_nothing():
    items, sample = draw(pd.DataFrame(columns=list(POPULATION_COLUMNS)), 25, 1)
    assert items.empty and list(items.columns) == list(SAMPLE_COLUMNS)
    assert (sample.drawn, sample.population, sample.strata) == (0, 0, ())


def test_the_method_states_seed_formula_allocation_and_order():
    _, sample = draw(population(), 5, 7)
    text = sample.method
    for phrase in ('"7:<lineage id>"', "SHA-256", "largest-remainder", "smallest draw keys",
                   "at least one item", "Critical, High, Medium, Low, Unknown",
                   "met, missed, open-overdue, open-within, fixed-no-sla, closed-exempt, closed-out_of_scope",
                   "numbered from 1 in stratum order, then by draw key", "5 x its population"):
        assert phrase in text, phrase


@pytest.mark.parametrize("change, message", [
    (lambda f: f.drop(columns="closeReason"), "period population: missing column 'closeReason'"),
    (lambda f: pd.concat([f, f.iloc[:1]]), f"lineage {lid(1)} appears twice"),
    (lambda f: f.assign(severity=f["severity"].replace("Low", "low")), f"lineage {lid(10)}: severity 'low'"),
    (lambda f: f.assign(slaVerdict=f["slaVerdict"].replace("met", "")).assign(
        closeReason=f["closeReason"].replace("fixed", "")), f"lineage {lid(6)}: no slaVerdict and closeReason ''"),
    (lambda f: f.assign(slaVerdict=f["slaVerdict"].replace("met", "passed")), f"lineage {lid(6)}: slaVerdict 'passed'"),
])
def test_a_population_that_cannot_be_drawn_from_is_named(change, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        draw(change(population()), 5, 1)


@pytest.mark.parametrize("size, seed, message", [(-1, 1, "size"), (5, -2, "seed"), (True, 1, "size")])
def test_bad_size_or_seed(size, seed, message):
    with pytest.raises(UsageError, match=f"audit sample {message}"):
        draw(population(), size, seed)


def test_cards_from_the_model_frame_state_a_lower_bound_and_a_fix():
    from reportgen.aggregate.audit_sample import evidence_cards
    items, _ = draw(population(), 12, 7)
    cards = dict(zip(items["lineageId"], evidence_cards(items)))
    assert ("  First seen    2026-09-01T06:00:00Z (source: sighting); a lower bound: the available evidence "
            "starts there") in cards[lid(1)]
    assert "a lower bound" not in cards[lid(2)]
    assert "  Closure       2026-10-21T06:00:00Z (reason: fixed; 50.0 days to fix)" in cards[lid(6)]
    assert "  Open          at the period start: yes; at the as-of time: no" in cards[lid(6)]
    assert "  Due           no due date (no SLA applies to this severity)" in cards[lid(11)]
    hostile, _ = draw(population().assign(owner="team\n  SLA verdict   met\x1b[2J"), 1, 7)
    [card] = evidence_cards(hostile)
    assert "owner team\\n  SLA verdict   met\\x1b[2J" in card and "\x1b" not in card


# --- into a model, and back out of a pack ------------------------------------------------------

@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """A pack rendered from a small snapshot (12 open lineages over five severities), drawing a
    sample of 4 with seed 5."""
    from reportgen import pipeline
    from reportgen.config import AuditSampleConfig, RunConfig
    from tests import builders
    root = tmp_path_factory.mktemp("sample")
    a = builders.cluster_id("aks-a")
    severities = ["Critical"] * 5 + ["High"] * 3 + ["Medium", "Low", "Low", "weird"]
    snap = builders.write(root / "snap", clusters=[builders.cluster("aks-a", tags={"owner": "team-a"})],
                          assessments=[builders.assessment(a)],
                          findings=[builders.finding(a, f"CVE-2026-{n:04d}", sev) for n, sev in enumerate(severities)])
    result = pipeline.render(snap, root / "pack", RunConfig(audit_sample=AuditSampleConfig(size=4, seed=5)))
    return root, result


def test_with_audit_sample_fills_the_model(rendered):
    _, result = rendered
    model = dataclasses.replace(result.model, tables=dataclasses.replace(result.model.tables,
                                                                        period_population=population()))
    sampled = with_audit_sample(model, 5, 7)
    assert sampled.audit_sample == draw(population(), 5, 7)[1]
    pd.testing.assert_frame_equal(sampled.tables.audit_sample, draw(population(), 5, 7)[0])
    none = with_audit_sample(model, 0, 7)
    assert none.audit_sample is None and none.tables.audit_sample.empty
    assert list(none.tables.audit_sample.columns) == list(SAMPLE_COLUMNS)


def reportgen(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reportgen", *map(str, args)], capture_output=True, text=True)


def pack_with_population(root: Path, rendered_pack: Path, name: str, frame: pd.DataFrame) -> Path:
    """A copy of ``rendered_pack`` whose data/period_population.csv holds ``frame``, written by the
    pack's own CSV writer under the workbook's headers, and whose manifest lists it.

    Built by hand while no render writes the population file yet; a rendered pack that has one is
    tested below against its own Audit sample sheet."""
    import shutil
    from reportgen.pack.manifest import read_manifest, write_manifest
    from reportgen.render.csv_export import write_table_csv
    from reportgen.render.tables import Column, TableSpec
    pack = root / name
    shutil.copytree(rendered_pack, pack)
    headers = table_headers(POPULATION_COLUMNS)
    text_kinds = {"firstSeen": "datetime", "dueDate": "datetime", "closed": "datetime", "ageIsLowerBound": "bool",
                  "openAtStart": "bool", "openAtAsOf": "bool", "daysToFix": "float"}
    spec = TableSpec("Period population", "PeriodPopulation", "period_population.csv", "population",
                     tuple(Column(k, headers.get(k, k), text_kinds.get(k, "text")) for k in frame.columns), frame)
    write_table_csv(spec, pack / POPULATION_FILE)
    manifest = read_manifest(pack)
    write_manifest(pack, run_id=manifest["run_id"], snapshot_fingerprint=manifest["snapshot_sha256"],
                   as_of=manifest["as_of"], period=manifest.get("period"))
    return pack


def test_the_command_draws_the_same_items_from_the_pack(rendered, tmp_path):
    root, result = rendered
    hostile = population().assign(owner=["=HYPERLINK(\"x\")"] + ["team-a"] * 11)
    pack = pack_with_population(tmp_path, result.pack_dir, "pack", hostile.sample(frac=1, random_state=1))
    out = tmp_path / "cards.csv"
    proc = reportgen("audit-sample", pack, "--size", 5, "--seed", 7, "--out", out)
    assert proc.returncode == 0, proc.stderr
    expected, sample = draw(hostile, 5, 7)
    cards = pd.read_csv(out, dtype=str, keep_default_na=False)
    names = table_headers(SAMPLE_COLUMNS)
    assert cards[names.get("lineageId", "lineageId")].tolist() == expected["lineageId"].tolist()
    assert cards[names.get("item", "item")].tolist() == ["1", "2", "3", "4", "5"]
    assert cards[names.get("owner", "owner")].str.startswith("=").sum() == 0   # still neutralised
    text = proc.stdout
    assert f"Audit sample of {pack}: 5 of 12 lineages (size 5, seed 7)" in text
    assert sample.method in text and "  Critical / open-overdue: 5, 2" in text
    first = expected.iloc[0]
    card = text.split(f"Item 1 of 5: stratum Critical / open-overdue, draw key {first['drawKey']}")[1].split("Item 2")[0]
    assert f"{first['lineageId']}: {first['cveId']} in openssl, repository contoso.azurecr.io/app/api" in card
    # every sighting on its own line, then the dates with their sources
    assert "  Sightings     2026-09-30T06:00:00Z snapshot open\n                2026-10-31T06:00:00Z snapshot open\n" in card
    assert "  Due           2026-09-16T06:00:00Z (source: sla)" in card
    assert "  Closure       not closed (open at the as-of time)" in card
    assert "  SLA verdict   open-overdue" in card and f"  Query sha256  {'ab' * 32}" in card
    exempt = text.split("stratum Low / closed-exempt")[1].split("Item 5")[0]
    assert "  Exemption     ex1 (approved by alice, ticket CHG-1)" in exempt
    assert "(reason: exempt)" in exempt and "SLA verdict   none" in exempt
    # the file is never overwritten
    again = reportgen("audit-sample", pack, "--size", 5, "--seed", 7, "--out", out)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_the_command_refuses_a_pack_that_does_not_verify(rendered, tmp_path):
    root, result = rendered
    pack = pack_with_population(tmp_path, result.pack_dir, "pack", population())
    with open(pack / POPULATION_FILE, "a") as fh:
        fh.write(f"{lid(99)},Critical\n")
    proc = reportgen("audit-sample", pack, "--size", 5)
    assert proc.returncode == 1
    [line] = proc.stderr.strip().splitlines()
    assert "does not verify" in line and f"{POPULATION_FILE}: changed" in line


def test_the_command_names_the_file_and_the_missing_column(rendered, tmp_path):
    root, result = rendered
    pack = pack_with_population(tmp_path, result.pack_dir, "pack", population().drop(columns="slaVerdict"))
    proc = reportgen("audit-sample", pack, "--size", 5)
    assert proc.returncode == 2
    header = table_headers(POPULATION_COLUMNS).get("slaVerdict", "slaVerdict")
    assert proc.stderr.strip().splitlines() == [
        f"error: {pack / POPULATION_FILE}: missing column {header!r} (slaVerdict)"]


def test_the_command_needs_the_population_file_and_good_numbers(rendered, tmp_path):
    root, result = rendered
    if not (result.pack_dir / POPULATION_FILE).exists():
        proc = reportgen("audit-sample", result.pack_dir)
        assert proc.returncode == 2 and f"{result.pack_dir / POPULATION_FILE}: not in the pack" in proc.stderr
    for args, message in ((["--size", 0], "--size 0: expected an integer >= 1"),
                          (["--seed", -1], "--seed -1: expected an integer >= 0")):
        proc = reportgen("audit-sample", result.pack_dir, *args)
        assert proc.returncode == 2 and message in proc.stderr


def test_population_csv_values_read_back_as_written():
    data = ("lineageId,severity,owner\n" + f"{lid(1)},High,\"'=cmd|x\"\n").encode()
    with pytest.raises(UsageError, match="x.csv: missing column"):
        read_population_csv(data, "x.csv")
    header = ",".join(POPULATION_COLUMNS)
    row = {c: "" for c in POPULATION_COLUMNS} | {"lineageId": lid(1), "owner": "'=cmd|x", "sightings": "a\n'-b"}
    line = ",".join(f'"{row[c]}"' for c in POPULATION_COLUMNS)
    frame = read_population_csv(f"{header}\n{line}\n".encode(), "x.csv")
    assert frame.loc[0, "owner"] == "=cmd|x" and frame.loc[0, "sightings"] == "a\n-b"


def test_a_rendered_pack_redraws_its_own_audit_sample_sheet(rendered):
    """Once render writes the population and the sample (lead's aggregation, workbook sheets),
    the command must draw the very items of the pack's own audit_sample.csv."""
    root, result = rendered
    pack = result.pack_dir
    if not (pack / POPULATION_FILE).exists() or not (pack / "data" / "audit_sample.csv").exists():
        pytest.skip("this render writes no data/period_population.csv and data/audit_sample.csv yet")
    own = pd.read_csv(pack / "data" / "audit_sample.csv", dtype=str, keep_default_na=False)
    sample = result.model.audit_sample
    assert (sample.size, sample.seed, sample.population, sample.drawn) == (4, 5, 12, 4)
    proc = reportgen("audit-sample", pack, "--size", 4, "--seed", 5, "--out", root / "again.csv")
    assert proc.returncode == 0, proc.stderr
    again = pd.read_csv(root / "again.csv", dtype=str, keep_default_na=False)
    column = table_headers(SAMPLE_COLUMNS).get("lineageId", "lineageId")
    assert again[column].tolist() == own[column].tolist() == result.model.tables.audit_sample["lineageId"].tolist()
    # 4 items over 5 strata, Critical 5, High 3, Medium 1, Low 2, Unknown 1 (all open-within, first seen
    # at the as-of time): fewer items than strata, so plain largest remainder. Shares 4 x n / 12: 1.67,
    # 1.00, 0.33, 0.67, 0.33; whole parts 1 + 1, the two left to the remainders .67 (Critical, Low).
    assert [s[1:] for s in sample.strata] == [(5, 2), (3, 1), (1, 0), (2, 1), (1, 0)]
