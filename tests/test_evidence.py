"""Manifest and verify: a fresh pack verifies; any changed byte, removed or added file fails,
naming the file; the snapshot copy's own hashes are re-checked; README.txt indexes the pack.

One small pack is rendered per module and copied for every test that damages it.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from reportgen import __version__, pipeline
from reportgen.config import RunConfig
from reportgen.pack.manifest import MANIFEST, pack_files, write_manifest
from reportgen.pack.verify import verify_pack
from reportgen.progress import QUIET
from reportgen.pack.readme import readme_text
from reportgen.snapshot import DatasetInfo, read_snapshot, sha256_file, write_snapshot


# --- shared helpers (also used by the other pack test modules) -----------------------------

def make_sample(root: Path, scale: int = 4, months: int = 0) -> tuple[Path, Path | None]:
    """A small sample snapshot (and ``months`` earlier ones); returns (snapshot, history dir)."""
    history = root / "history" if months else None
    pipeline.make_sample(root / "snapshot", scale=scale, history_dir=history, months=months)
    return root / "snapshot", history


def render_pack(snapshot: Path, out: Path, history: Path | None = None, sign_key: Path | None = None) -> Path:
    return pipeline.render(snapshot, out, RunConfig(), history_dir=history, progress=QUIET, sign_key=sign_key).pack_dir


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """Run the command line in-process: (exit code, stdout, stderr)."""
    from reportgen.cli import main
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return int(exc.value.code or 0), captured.out, captured.err


def tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


# --- fixtures -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("evidence")
    snapshot, _ = make_sample(root)
    return snapshot, render_pack(snapshot, root / "pack")


@pytest.fixture
def pack(built, tmp_path) -> Path:
    """A private copy of the module's pack, free to damage."""
    return Path(shutil.copytree(built[1], tmp_path / "pack"))


def flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0x01
    path.write_bytes(bytes(data))


# --- the manifest ---------------------------------------------------------------------------

def test_fresh_pack_verifies(built, capsys):
    _, pack = built
    assert verify_pack(pack) == []
    code, out, err = run_cli(capsys, "verify", pack)
    assert code == 0 and out.startswith("OK: every file") and err == ""


def test_manifest_lists_every_file_with_sha256_size_and_provenance(built):
    snapshot, pack = built
    manifest = json.loads((pack / MANIFEST).read_text())
    files = {f["path"]: f for f in manifest["files"]}
    on_disk = {p.relative_to(pack).as_posix() for p in pack.rglob("*") if p.is_file()} - {MANIFEST}
    assert set(files) == on_disk
    for rel, entry in files.items():
        assert entry["sha256"] == hashlib.sha256((pack / rel).read_bytes()).hexdigest()
        assert entry["size"] == (pack / rel).stat().st_size
    meta = json.loads((snapshot / "snapshot.json").read_text())
    assert manifest["schema"] == "reportgen.manifest/1"
    assert manifest["tool"] == {"name": "reportgen", "version": __version__}
    assert manifest["run_id"] == meta["run_id"]
    assert manifest["as_of"] == meta["collected_at"]
    assert manifest["period"] == meta["period"]
    assert manifest["snapshot_sha256"] == sha256_file(pack / "snapshot" / "snapshot.json") == sha256_file(snapshot / "snapshot.json")
    assert {"python", "weasyprint", "matplotlib", "openpyxl"} <= set(manifest["environment"])
    for name in ("README.txt", "oscal/assessment-results.json", "evidence-pack.pdf", "evidence-pack.xlsx",
                 "summary.json", "data/findings.csv", "snapshot/data/findings.parquet"):
        assert name in files, name


def test_every_single_changed_byte_of_every_file_fails_naming_the_file(pack):
    for rel in pack_files(pack):
        path = pack / rel
        original = path.read_bytes()
        for offset in (0, len(original) // 2, len(original) - 1):
            flip_byte(path, offset)
            problems = verify_pack(pack)
            assert f"{rel}: changed (sha256 does not match manifest.json)" in problems, (rel, offset, problems)
            path.write_bytes(original)
    assert verify_pack(pack) == []


def test_a_changed_manifest_fails(pack):
    path = pack / MANIFEST
    text = path.read_text()
    entry = json.loads(text)["files"][0]
    path.write_text(text.replace(entry["sha256"], entry["sha256"][::-1], 1))
    assert verify_pack(pack) == [f"{entry['path']}: changed (sha256 does not match manifest.json)"]
    flip_byte(path, 0)  # no longer JSON
    problems = verify_pack(pack)
    assert len(problems) == 1 and problems[0].startswith("manifest.json: unreadable manifest")


def test_every_removed_file_fails_naming_the_file(pack, tmp_path):
    for rel in pack_files(pack):
        moved = tmp_path / "moved"
        shutil.move(pack / rel, moved)
        problems = verify_pack(pack)
        assert f"{rel}: missing (listed in manifest.json)" in problems, (rel, problems)
        shutil.move(moved, pack / rel)
    assert verify_pack(pack) == []


@pytest.mark.parametrize("rel", ["notes.txt", ".DS_Store", "charts/extra.png", "snapshot/data/extra.parquet",
                                 "new/folder/file.bin", "manifest.json.bak"])
def test_an_added_file_fails_naming_the_file(pack, rel):
    (pack / rel).parent.mkdir(parents=True, exist_ok=True)
    (pack / rel).write_bytes(b"x")
    assert verify_pack(pack) == [f"{rel}: unexpected file (not in manifest.json)"]


def test_the_signature_file_is_not_unexpected(pack):
    (pack / "manifest.json.sig").write_bytes(b"\0" * 64)
    assert verify_pack(pack) == []


def test_snapshot_dataset_hashes_are_rechecked_even_with_a_consistent_manifest(pack, built):
    # Someone swaps a dataset file and regenerates the manifest: the manifest matches, the snapshot does not.
    flip_byte(pack / "snapshot/data/findings.parquet")
    manifest = json.loads((pack / MANIFEST).read_text())
    write_manifest(pack, run_id=manifest["run_id"], snapshot_fingerprint=manifest["snapshot_sha256"],
                   as_of=manifest["as_of"], period=manifest["period"])
    assert verify_pack(pack) == ["snapshot/data/findings.parquet: sha256 does not match snapshot/snapshot.json"]


def test_query_text_hashes_and_snapshot_fingerprint_are_rechecked(pack):
    meta_path = pack / "snapshot/snapshot.json"
    meta = json.loads(meta_path.read_text())
    (pack / "snapshot/queries").mkdir(exist_ok=True)  # the sample may already carry query texts
    (pack / "snapshot/queries/findings.kql").write_text("// dataset: findings\nchanged\n")
    meta["datasets"]["findings"]["query_sha256"] = hashlib.sha256(b"// dataset: findings\noriginal\n").hexdigest()
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    manifest = json.loads((pack / MANIFEST).read_text())
    write_manifest(pack, run_id=manifest["run_id"], snapshot_fingerprint=manifest["snapshot_sha256"],
                   as_of=manifest["as_of"], period=manifest["period"])
    assert verify_pack(pack) == [
        "snapshot/snapshot.json: sha256 does not match the manifest's snapshot_sha256",
        "snapshot/queries/findings.kql: sha256 does not match snapshot/snapshot.json",
    ]


@pytest.mark.parametrize("bad", ["../outside.txt", "/etc/passwd", "a/../../b", "./summary.json", "manifest.json"])
def test_manifest_entries_outside_the_pack_are_problems(pack, bad):
    manifest = json.loads((pack / MANIFEST).read_text())
    manifest["files"].append({"path": bad, "sha256": "0" * 64, "size": 0})
    (pack / MANIFEST).write_text(json.dumps(manifest))
    assert verify_pack(pack) == [f"manifest.json: bad file entry {bad!r}"]


def test_a_folder_without_manifest_does_not_verify(pack):
    (pack / MANIFEST).unlink()
    assert verify_pack(pack) == ["manifest.json: missing (not an evidence pack, or an incomplete one)"]


# --- the command line -----------------------------------------------------------------------

def test_verify_cli_prints_one_line_per_problem_and_exits_1(pack, capsys):
    flip_byte(pack / "evidence-pack.pdf")
    (pack / "data/findings.csv").unlink()
    (pack / "extra.txt").write_text("x")
    code, out, err = run_cli(capsys, "verify", pack)
    assert code == 1 and out == ""
    assert err.splitlines() == [
        "data/findings.csv: missing (listed in manifest.json)",
        "evidence-pack.pdf: changed (sha256 does not match manifest.json)",
        "extra.txt: unexpected file (not in manifest.json)",
    ]


def test_verify_cli_usage_errors_exit_2(tmp_path, capsys):
    code, _, err = run_cli(capsys, "verify", tmp_path / "nope")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "nope: not a folder" in err
    code, _, err = run_cli(capsys, "verify")
    assert code == 2 and "PACK_DIR" in err


def test_verify_as_a_real_process(built):
    proc = subprocess.run([sys.executable, "-m", "reportgen", "verify", str(built[1])], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("OK"), proc.stderr


@pytest.mark.skipif(not (shutil.which("jq") and shutil.which("sha256sum") and shutil.which("bash")),
                    reason="needs jq, sha256sum and bash")
def test_readme_verification_commands_without_reportgen_work(pack):
    text = (pack / "README.txt").read_text()
    check = "jq -r '.files[] | \"\\(.sha256)  \\(.path)\"' manifest.json | sha256sum --check --strict -"
    listing = ("diff <(jq -r '.files[].path' manifest.json | sort) \\\n"
               "         <(find . -type f ! -name manifest.json ! -name manifest.json.sig | sed 's|^\\./||' | sort)")
    odd = "find . ! -type f ! -type d"
    assert check in text and listing in text and f"\n    {odd}\n" in text
    for command in (check, listing):
        proc = subprocess.run(["bash", "-c", command], cwd=pack, capture_output=True, text=True)
        assert proc.returncode == 0, (command, proc.stdout, proc.stderr)
    assert subprocess.run(["bash", "-c", odd], cwd=pack, capture_output=True, text=True).stdout == ""
    flip_byte(pack / "summary.json")
    (pack / "added.txt").write_text("x")
    for command, name in ((check, "summary.json: FAILED"), (listing, "added.txt")):
        proc = subprocess.run(["bash", "-c", command], cwd=pack, capture_output=True, text=True)
        assert proc.returncode != 0 and name in proc.stdout, (command, proc.stdout)
    # a link to an identical copy passes sha256sum, which follows it; the third command names it
    shutil.copyfile(pack / "data/findings.csv", pack.parent / "findings.csv")
    (pack / "data/findings.csv").unlink()
    (pack / "data/findings.csv").symlink_to(pack.parent / "findings.csv")
    assert subprocess.run(["bash", "-c", odd], cwd=pack, capture_output=True, text=True).stdout == "./data/findings.csv\n"


# --- README.txt -----------------------------------------------------------------------------

def test_readme_indexes_every_file_scope_period_and_commands(built):
    snapshot, pack = built
    text = (pack / "README.txt").read_text(encoding="utf-8")
    for rel in pack_files(pack) + ["manifest.json", "manifest.json.sig"]:
        assert f"\n  {rel} " in text or f"\n  {rel}\n" in text, rel
    meta = json.loads((snapshot / "snapshot.json").read_text())
    for expected in (f"{meta['period']['start']} to {meta['period']['end']}", meta["collected_at"], meta["run_id"],
                     "reportgen verify PACK", "reportgen verify PACK --public-key PUBLIC_KEY.pem",
                     "openssl pkeyutl -verify -pubin -inkey PUBLIC_KEY.pem -rawin -in manifest.json",
                     "reportgen render PACK/snapshot --out REPACK", "Known limits of this pack's evidence",
                     "SAMPLE tenant", "How the figures were produced", "Critical 15 days"):
        assert expected in " ".join(text.split()), expected  # wrapped lines joined
    assert max(len(line) for line in text.splitlines() if not line.startswith("    ")) <= 92
    assert str(pack) not in text and str(snapshot) not in text  # nothing about where it was rendered


def test_readme_states_skipped_and_partial_datasets(built, tmp_path):
    snapshot, _ = built
    snap = read_snapshot(snapshot)
    provenance = {
        "assessment_history": DatasetInfo(name="assessment_history", rows=0, status="skipped",
                                          warnings=("no Log Analytics workspace configured",)),
        "findings": DatasetInfo(name="findings", rows=0, status="partial", pages=3,
                                warnings=("subscription batch 2 of 3 failed: HTTP 403",)),
    }
    frames = dict(snap.frames)
    frames["assessment_history"] = frames["assessment_history"].iloc[0:0]
    meta = snap.meta
    period = (date.fromisoformat(meta["period"]["start"]), date.fromisoformat(meta["period"]["end"]))
    out = write_snapshot(tmp_path / "gappy", frames, collected_at=meta["collected_at"], period=period,
                         source="azure", run_id="run-gaps", scope=meta["scope"], provenance=provenance)
    model = pipeline.build(out, RunConfig())
    model = replace(model, meta=replace(model.meta, source="azure"))
    text = readme_text(model, ["evidence-pack.pdf"])
    flat = " ".join(text.split())
    assert ("Dataset assessment_history is SKIPPED: its rows are missing from every figure that uses it "
            "(no Log Analytics workspace configured).") in flat
    assert "Dataset findings is PARTIAL: some of its rows may be missing (subscription batch 2 of 3 failed: HTTP 403)." in flat
    assert "SAMPLE" not in text


def test_readme_gives_no_figure_without_evidence(tmp_path):
    from tests import builders as b
    model = pipeline.build(b.no_policy_evidence(tmp_path / "snap"), RunConfig())
    flat = " ".join(readme_text(model, ["evidence-pack.pdf"]).split())
    for cid in ("DS-6", "PV-6"):
        assert f"{cid} has no compliance figure: no cluster has a counted policy state for it (status No data)." in flat
        assert re.search(rf"{cid} [^:]+: No data, no compliance figure, as no cluster has a counted policy state", flat)
    results = flat[flat.find("Results in brief"):flat.find("Files ---")]
    assert "%" not in results
    assert "100 when nothing is evaluated" not in flat and "With no counted state there is no figure" in flat


def test_readme_states_recorded_gaps_the_retired_assessment_and_the_derived_verdict_rule(tmp_path):
    from tests import builders as b
    model = pipeline.build(b.retired_assessment(tmp_path / "snap"), RunConfig())
    flat = " ".join(readme_text(model, ["evidence-pack.pdf"]).split())
    limits = flat[flat.find("Known limits of this pack's evidence"):]
    assert (f"1 subscription could not be read. Resource Graph returned nothing for 1 of the 2 subscriptions asked "
            f"for: the collecting identity may lack Reader on it. Concerns: {b.UNREADABLE_SUB}.") in limits
    assert ("Dataset finding_history FAILED: every request for it failed, so its rows are missing from every figure "
            "that uses it (HTTP 403 from the workspace). Every request to the Log Analytics workspace failed.") in limits
    assert "SKIPPED" not in limits
    assert "1 package has more CVEs than were read." in limits
    assert "Evidence gap (future-kind). A gap this version of reportgen does not know yet." in limits
    assert ("2 of 5 clusters have vulnerability findings from the individual recommendations but no c609cf0f "
            "assessment.") in limits
    assert b.cluster_id("aks-ind-open") in limits
    assert "Derived verdict: beside each cluster's policy state" in flat
    assert "Unhealthy when the cluster has an open finding" in flat


# --- summary.json and README.txt show the period evidence (issue 10), on the hand-built model ---

def test_summary_json_carries_the_period_population_rebuilt_lineages_sample_and_ipe():
    from reportgen.render.summary import summary_dict
    from tests.test_excel import small_model
    s = summary_dict(small_model())
    assert s["changes"]["rebuilt_still_vulnerable"] == 1
    p = s["period_population"]
    # worked by hand in tests/test_excel.py (POPULATION): opening 3 + new 2 - closed 3 = closing 2
    assert {k: p[k] for k in ("opening", "new", "closed", "closing", "closed_by_reason", "sla",
                              "sla_attainment_pct", "by_severity")} == {
        "opening": 3, "new": 2, "closed": 3, "closing": 2,
        "closed_by_reason": {"fixed": 2, "exempt": 1, "out_of_scope": 0},
        "sla": {"met": 1, "missed": 1, "open_overdue": 1, "open_within": 1},
        "sla_attainment_pct": 50.0,
        "by_severity": {"Critical": {"opening": 1, "new": 0, "closed": 0, "closing": 1},
                        "High": {"opening": 1, "new": 1, "closed": 2, "closing": 0},
                        "Medium": {"opening": 0, "new": 1, "closed": 0, "closing": 1},
                        "Low": {"opening": 1, "new": 0, "closed": 1, "closing": 0},
                        "Unknown": {"opening": 0, "new": 0, "closed": 0, "closing": 0}},
    }
    assert p["reconciles"] is True and p["opening_as_of"] == "2026-09-30T06:00:00Z"
    assert p["monthly"][1] == {"month": "2026-10", "severity": "High", "fixed": 2, "met": 1, "missed": 1,
                               "attainment_pct": 50.0, "mean_days_to_fix": 32.75, "median_days_to_fix": 32.75}
    assert p["monthly"][0]["attainment_pct"] is None
    a = s["audit_sample"]
    assert (a["size"], a["seed"], a["drawn"], a["population"]) == (2, 7, 2, 5)
    assert a["items"] == ["L-000000000000000a", "L-000000000000000c"]
    assert a["strata"][0] == {"stratum": "Critical / open-overdue", "population": 1, "drawn": 1}
    ipe = s["ipe"]
    assert ipe["datasets"][0] == {"name": "findings", "status": "complete", "query_sha256": "ef" * 32, "rows": 5,
                                  "total_records": 5, "pages": 1, "subscriptions_asked": 1, "subscriptions_seen": 1}
    assert ipe["reconciliations"][1] == {"check": "Assessed clusters", "ours": 2, "defender": 3, "difference": -1}
    assert ipe["collector"]["upn"] == "auditor@contoso.com" and ipe["collector"]["app_id"] is None
    json.dumps(s, allow_nan=False)   # plain JSON values only


def test_summary_json_of_a_model_without_period_sample_or_ipe_has_nulls():
    from reportgen.render.summary import summary_dict
    from tests.test_excel import small_model
    model = small_model()
    s = summary_dict(replace(model, period=None, ipe=None, audit_sample=None, changes=None))
    assert s["period_population"] is None and s["audit_sample"] is None and s["ipe"] is None
    assert s["changes"] is None
    no_fix = replace(model.period, sla_attainment_pct=None)
    assert summary_dict(replace(model, period=no_fix))["period_population"]["sla_attainment_pct"] is None


def test_readme_txt_states_the_roll_forward_the_sample_and_the_lineage_rules():
    from tests.test_excel import small_model
    model = small_model()
    flat = " ".join(readme_text(model, ["evidence-pack.pdf", "data/period_population.csv"]).split())
    assert ("Period population (lineages): opening 3 + new 2 - closed 3 = closing 2; closed as fixed 2, exempt 1, "
            "out of scope 0; SLA met 1, missed 1, open and overdue 1, open within SLA 1; SLA attainment 50.00%.") in flat
    assert "Audit sample: 2 of 5 lineages of the period population (size 2, seed 7)" in flat
    assert "a rebuilt image that still carries the CVE keeps its clock" in flat
    assert "the age is a lower bound" in flat and "not applicable to this policy" in flat
    broken = replace(model, period=replace(model.period, total=replace(model.period.total, closing=9)))
    assert "= closing 9 (DOES NOT reconcile)" in " ".join(readme_text(broken, []).split())
    older = " ".join(readme_text(replace(model, period=None, audit_sample=None), []).split())
    assert "Period population: not computed for this pack." in older and "Audit sample:" not in older
