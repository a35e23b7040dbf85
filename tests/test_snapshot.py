"""Snapshot format reportgen.snapshot/1: round trip, and one clear error per kind of corruption."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reportgen.errors import SnapshotError
from reportgen.snapshot import DATASETS, read_snapshot, sha256_file
from tests import builders as b


@pytest.fixture
def snap(tmp_path) -> Path:
    a = b.cluster_id("a")
    return b.write(tmp_path / "snap", clusters=[b.cluster("a", tags={"owner": "x"})],
                   findings=[b.finding(a, "CVE-1"), b.finding(a, "CVE-2", exploitable=True)],
                   policy_states=[b.policy_state(a, "NonCompliant")])


def _rewrite(snapshot_dir: Path, dataset: str, table: pa.Table) -> None:
    """Replace a dataset file and fix its hash, so only the intended corruption remains."""
    path = snapshot_dir / "data" / f"{dataset}.parquet"
    pq.write_table(table, path)
    meta = json.loads((snapshot_dir / "snapshot.json").read_text())
    meta["datasets"][dataset]["sha256"] = sha256_file(path)
    meta["datasets"][dataset]["rows"] = table.num_rows
    (snapshot_dir / "snapshot.json").write_text(json.dumps(meta))


def test_round_trip_keeps_types_and_values(snap):
    s = read_snapshot(snap)
    f = s.frames["findings"]
    assert len(f) == 2 and f["exploitable"].tolist() == [False, True]
    assert str(f["timeGenerated"].dtype) == "datetime64[us, UTC]" and f["cvssScore"].dtype == "float64"
    assert json.loads(s.frames["clusters"].loc[0, "tags"]) == {"owner": "x"}
    assert set(s.frames) == set(DATASETS) and s.meta["schema"] == "reportgen.snapshot/1"
    assert s.datasets["findings"].rows == 2 and s.datasets["findings"].status == "complete"
    assert s.fingerprint == sha256_file(snap / "snapshot.json")


def test_writing_twice_gives_identical_files(tmp_path):
    one = b.write(tmp_path / "one", findings=[b.finding(b.cluster_id("a"), "CVE-1")])
    two = b.write(tmp_path / "two", findings=[b.finding(b.cluster_id("a"), "CVE-1")])
    for name in DATASETS:
        assert sha256_file(one / "data" / f"{name}.parquet") == sha256_file(two / "data" / f"{name}.parquet")
    assert (one / "snapshot.json").read_bytes() == (two / "snapshot.json").read_bytes()


def test_extra_columns_are_accepted(snap):
    table = pq.read_table(snap / "data" / "findings.parquet")
    _rewrite(snap, "findings", table.append_column("vendorNote", pa.array(["a", "b"])))
    assert read_snapshot(snap).frames["findings"]["vendorNote"].tolist() == ["a", "b"]


def test_missing_dataset_file(snap):
    (snap / "data" / "findings.parquet").unlink()
    with pytest.raises(SnapshotError, match=r"findings\.parquet: dataset file missing"):
        read_snapshot(snap)


def test_missing_column_is_named(snap):
    table = pq.read_table(snap / "data" / "findings.parquet")
    _rewrite(snap, "findings", table.drop(["cveId"]))
    with pytest.raises(SnapshotError, match=r"findings\.parquet: missing column 'cveId'"):
        read_snapshot(snap)


def test_wrong_type_that_cannot_be_coerced(snap):
    table = pq.read_table(snap / "data" / "findings.parquet")
    idx = table.schema.get_field_index("cvssScore")
    _rewrite(snap, "findings", table.set_column(idx, "cvssScore", pa.array(["high", "7.5"])))
    with pytest.raises(SnapshotError, match=r"findings\.parquet: column 'cvssScore'"):
        read_snapshot(snap)


def test_coercible_types_are_coerced(snap):
    table = pq.read_table(snap / "data" / "findings.parquet")
    idx = table.schema.get_field_index("cvssScore")
    table = table.set_column(idx, "cvssScore", pa.array(["9.8", "7.5"]))
    idx = table.schema.get_field_index("exploitable")
    table = table.set_column(idx, "exploitable", pa.array(["true", "false"]))
    _rewrite(snap, "findings", table)
    f = read_snapshot(snap).frames["findings"]
    assert f["cvssScore"].tolist() == [9.8, 7.5] and f["exploitable"].tolist() == [True, False]


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ("[]", "expected a JSON object"),
    ('{"schema": "reportgen.snapshot/1"}', "missing key 'run_id'"),
])
def test_bad_snapshot_json(snap, content, message):
    (snap / "snapshot.json").write_text(content)
    with pytest.raises(SnapshotError, match=message):
        read_snapshot(snap)


def test_sha256_mismatch(snap):
    path = snap / "data" / "clusters.parquet"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match=r"clusters\.parquet: sha256 does not match"):
        read_snapshot(snap)


def test_unknown_schema_version(snap):
    meta = json.loads((snap / "snapshot.json").read_text())
    meta["schema"] = "reportgen.snapshot/2"
    (snap / "snapshot.json").write_text(json.dumps(meta))
    with pytest.raises(SnapshotError, match="unknown schema version 'reportgen.snapshot/2'"):
        read_snapshot(snap)


def test_bad_status_in_metadata(snap):
    meta = json.loads((snap / "snapshot.json").read_text())
    meta["datasets"]["findings"]["status"] = "done"
    (snap / "snapshot.json").write_text(json.dumps(meta))
    with pytest.raises(SnapshotError, match="datasets.findings: status 'done'"):
        read_snapshot(snap)


@pytest.mark.parametrize("corrupt", ["missing_file", "missing_column", "bad_json", "sha", "schema", "bad_type"])
def test_cli_render_exit_2_with_one_line_naming_the_file(snap, tmp_path, corrupt):
    findings = snap / "data" / "findings.parquet"
    if corrupt == "missing_file":
        findings.unlink()
    elif corrupt == "missing_column":
        _rewrite(snap, "findings", pq.read_table(findings).drop(["packageName"]))
    elif corrupt == "bad_json":
        (snap / "snapshot.json").write_text("{")
    elif corrupt == "sha":
        findings.write_bytes(findings.read_bytes() + b"x")
    elif corrupt == "schema":
        meta = json.loads((snap / "snapshot.json").read_text())
        meta["schema"] = "other/9"
        (snap / "snapshot.json").write_text(json.dumps(meta))
    elif corrupt == "bad_type":
        t = pq.read_table(findings)
        _rewrite(snap, "findings", t.set_column(t.schema.get_field_index("timeGenerated"), "timeGenerated",
                                                pa.array(["yesterday", "soon"])))
    out = tmp_path / "pack"
    proc = subprocess.run([sys.executable, "-m", "reportgen", "render", str(snap), "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr
    expected_file = "snapshot.json" if corrupt in ("bad_json", "schema") else "findings.parquet"
    assert expected_file in lines[0]
    assert not out.exists()
