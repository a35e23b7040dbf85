"""verify trusts nothing in the folder: no link is followed, no FIFO read, no unfinished
folder passes, and ``--deep`` re-renders the snapshot to catch a pack whose figures no
longer follow from it even when every hash was recomputed.

One tiny signed pack (tests/builders.py) is rendered per module and copied for every test
that damages it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from reportgen import pipeline
from reportgen.config import RunConfig
from reportgen.pack import signing
from reportgen.pack.manifest import MANIFEST, pack_files, write_manifest
from reportgen.pack.verify import deep_check, verify_pack
from reportgen.progress import QUIET
from tests import builders as b
from tests.test_evidence import flip_byte, run_cli

LINK = "a symbolic link, not a regular file or folder (verify follows no links)"


def tiny_snapshot(path: Path, collected_at: str = b.AS_OF, run_id: str = "run-test", cves: int = 1) -> Path:
    rid = b.cluster_id("aks-1")
    return b.write(path, collected_at=collected_at, run_id=run_id, clusters=[b.cluster("aks-1")],
                   policy_states=[b.policy_state(rid, "NonCompliant")], assessments=[b.assessment(rid)],
                   findings=[b.finding(rid, f"CVE-2024-{n:04d}") for n in range(1, cves + 1)])


def rewrite_manifest(pack: Path) -> None:
    """What someone who edits a file does next: recompute every hash."""
    m = json.loads((pack / MANIFEST).read_text())
    write_manifest(pack, run_id=m["run_id"], snapshot_fingerprint=m["snapshot_sha256"], as_of=m["as_of"],
                   period=m["period"])


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    root = tmp_path_factory.mktemp("keys")
    return signing.generate_keypair(root / "k.pem", root / "k.pub.pem")


@pytest.fixture(scope="module")
def signed(tmp_path_factory, keys) -> Path:
    root = tmp_path_factory.mktemp("verify")
    return pipeline.render(tiny_snapshot(root / "snap"), root / "pack", RunConfig(), progress=QUIET,
                           sign_key=keys.private_path).pack_dir


@pytest.fixture
def pack(signed, tmp_path) -> Path:
    return Path(shutil.copytree(signed, tmp_path / "pack", symlinks=True))


@pytest.fixture
def public(keys):
    return signing.load_public_key(keys.public_path)


# --- links, FIFOs and other entries that are not regular files -------------------------------

@pytest.mark.parametrize("rel", ["summary.json", "evidence-pack.xlsx", "snapshot/snapshot.json",
                                 "snapshot/data/findings.parquet", "manifest.json.sig"])
def test_a_listed_file_replaced_by_a_link_to_an_identical_copy_fails_with_and_without_the_key(
        pack, tmp_path, public, keys, capsys, rel):
    outside = tmp_path / "outside" / rel
    outside.parent.mkdir(parents=True)
    shutil.copyfile(pack / rel, outside)
    (pack / rel).unlink()
    (pack / rel).symlink_to(outside)
    expected = [f"{rel}: {LINK}"]
    assert verify_pack(pack) == expected
    assert verify_pack(pack, public_key=public) == expected
    code, out, err = run_cli(capsys, "verify", pack, "--public-key", keys.public_path)
    assert code == 1 and out == "" and err.splitlines() == expected


def test_a_relative_link_inside_the_pack_fails(pack):
    shutil.copyfile(pack / "summary.json", pack / "data" / "summary-copy.json")
    (pack / "summary.json").unlink()
    (pack / "summary.json").symlink_to("data/summary-copy.json")
    assert verify_pack(pack) == [f"summary.json: {LINK}", "data/summary-copy.json: unexpected file (not in manifest.json)"]


def test_a_manifest_replaced_by_a_link_fails(pack, tmp_path, public):
    shutil.copyfile(pack / MANIFEST, tmp_path / "manifest.json")
    (pack / MANIFEST).unlink()
    (pack / MANIFEST).symlink_to(tmp_path / "manifest.json")
    assert verify_pack(pack) == verify_pack(pack, public_key=public) == [f"manifest.json: {LINK}"]


def test_a_folder_replaced_by_a_link_to_an_identical_copy_fails_once(pack, tmp_path, public):
    shutil.copytree(pack / "snapshot", tmp_path / "snapshot-copy")
    shutil.rmtree(pack / "snapshot")
    (pack / "snapshot").symlink_to(tmp_path / "snapshot-copy")
    # one line for the link; the files below it are not listed again as missing
    assert verify_pack(pack) == verify_pack(pack, public_key=public) == [f"snapshot: {LINK}"]


@pytest.mark.parametrize("inside", [True, False], ids=["to-a-pack-folder", "to-an-outside-folder"])
def test_an_added_link_to_a_folder_fails_and_is_not_entered(pack, tmp_path, public, inside):
    if inside:
        target = pack / "data"
    else:
        target = tmp_path / "elsewhere"
        (target / "deeper").mkdir(parents=True)
        (target / "deeper" / "file.txt").write_text("x")
    (pack / "charts" / "more").symlink_to(target, target_is_directory=True)
    assert verify_pack(pack, public_key=public) == [f"charts/more: {LINK}"]


def test_an_added_link_to_a_file_and_a_dangling_link_fail(pack):
    (pack / "extra.json").symlink_to("summary.json")
    (pack / "data" / "gone.csv").symlink_to("/nonexistent/gone.csv")
    assert verify_pack(pack) == [f"data/gone.csv: {LINK}", f"extra.json: {LINK}"]


@pytest.mark.parametrize("rel", ["pipe", "snapshot/data/pipe.parquet", "summary.json"])
def test_a_fifo_fails_and_never_blocks(pack, public, keys, rel):
    if (pack / rel).exists():
        (pack / rel).unlink()  # a FIFO in place of a listed file
    os.mkfifo(pack / rel)
    expected = [f"{rel}: a FIFO (named pipe), not a regular file or folder (verify follows no links)"]
    # a real process with a timeout: a read from a FIFO without a writer would block for ever
    proc = subprocess.run([sys.executable, "-m", "reportgen", "verify", str(pack), "--public-key",
                           str(keys.public_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.splitlines() == expected, proc.stderr
    assert verify_pack(pack, public_key=public) == expected


def test_a_socket_fails(pack, tmp_path):
    # AF_UNIX paths are short: bind in a short folder, then move the socket into the pack
    short = Path("/tmp") / f"rg-{os.getpid()}.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(short))
        try:
            os.rename(short, pack / "data" / "sock")
        except OSError:
            short.unlink()
            pytest.skip("cannot move a socket into the test folder")
    assert verify_pack(pack) == ["data/sock: a socket, not a regular file or folder (verify follows no links)"]


def test_a_name_holding_a_newline_cannot_forge_an_output_line(pack, capsys):
    (pack / "x\nOK: every file matches").write_text("x")
    code, out, err = run_cli(capsys, "verify", pack)
    assert code == 1 and out == ""
    assert err.splitlines() == ["'x\\nOK: every file matches': unexpected file (not in manifest.json)"]


# --- the pack folder itself ------------------------------------------------------------------

def test_a_pack_path_that_is_a_link_is_refused(signed, tmp_path, keys, capsys):
    link = tmp_path / "pack-link"
    link.symlink_to(signed, target_is_directory=True)
    problems = verify_pack(link)
    assert len(problems) == 1 and problems[0].startswith(f"{link}: a symbolic link; verify follows no links")
    assert str(signed.resolve()) in problems[0]  # says which folder to name instead
    code, out, err = run_cli(capsys, "verify", link, "--public-key", keys.public_path)
    assert code == 1 and out == "" and err.splitlines() == problems
    assert verify_pack(signed) == []


def test_a_hidden_work_folder_is_refused(signed, tmp_path, monkeypatch, capsys):
    hidden = Path(shutil.copytree(signed, tmp_path / ".pack.partial-k2j4h1x9"))
    expected = [f"{hidden}: unfinished or replaced pack, not a pack (reportgen builds and removes packs under "
                f"hidden .NAME.partial-XXXX names)"]
    assert verify_pack(hidden) == expected
    monkeypatch.chdir(hidden)
    expected = [expected[0].replace(str(hidden), os.path.realpath(hidden), 1)]
    assert verify_pack(Path(".")) == expected  # named by its real name, however it is reached
    code, _, err = run_cli(capsys, "verify", ".")
    assert code == 1 and err.splitlines() == expected


def test_pack_files_and_the_manifest_never_list_a_link(pack):
    (pack / "data" / "link.csv").symlink_to("findings.csv")
    (pack / "linked-folder").symlink_to("data", target_is_directory=True)
    assert "data/link.csv" not in pack_files(pack) and not any(f.startswith("linked-folder") for f in pack_files(pack))
    rewrite_manifest(pack)
    listed = {e["path"] for e in json.loads((pack / MANIFEST).read_text())["files"]}
    assert "data/link.csv" not in listed and not any(f.startswith("linked-folder") for f in listed)
    assert verify_pack(pack) == [f"data/link.csv: {LINK}", f"linked-folder: {LINK}"]


# --- --deep ----------------------------------------------------------------------------------

def test_deep_passes_on_an_untouched_pack_and_names_differing_versions(pack, capsys):
    code, out, err = run_cli(capsys, "verify", pack, "--deep")
    assert code == 0 and err == "", err
    assert out.splitlines()[-1] == "OK: a re-render of snapshot/ gives the same files and the same figures in summary.json"
    assert "note: the pack was rendered with" not in out
    manifest = json.loads((pack / MANIFEST).read_text())
    manifest["environment"]["matplotlib"] = "0.0.1"  # as if rendered elsewhere; the manifest is not hashed
    (pack / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    (pack / "manifest.json.sig").unlink()
    code, out, err = run_cli(capsys, "verify", pack, "--deep")
    assert code == 0 and err == ""
    assert "note: the pack was rendered with matplotlib 0.0.1 (here " in out
    assert "files may differ because of these versions" in out


def test_deep_catches_edited_figures_even_with_a_recomputed_manifest(pack, capsys):
    summary = json.loads((pack / "summary.json").read_text())
    summary["findings"]["open"] += 1
    summary["controls"][0]["compliant"] += 5
    (pack / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    flip_byte(pack / "evidence-pack.xlsx", len((pack / "evidence-pack.xlsx").read_bytes()) - 30)
    rewrite_manifest(pack)
    (pack / "manifest.json.sig").unlink()  # unsigned: anyone can do all of this
    assert verify_pack(pack) == []
    code, out, err = run_cli(capsys, "verify", pack)
    assert code == 0
    code, out, err = run_cli(capsys, "verify", pack, "--deep")
    assert code == 1 and out.startswith("OK: every file")  # the plain checks hold ...
    lines = err.splitlines()  # ... the re-render does not
    n = summary["findings"]["open"]
    assert f"summary.json: findings.open {n} != {n - 1} (re-rendered)" in lines
    c = summary["controls"][0]["compliant"]
    assert f"summary.json: controls[0].compliant {c} != {c - 5} (re-rendered)" in lines
    assert any(line.startswith("evidence-pack.xlsx: differs from the re-rendered file (sha256 ") for line in lines)
    problems = [line for line in lines if not line.startswith("note: ")]
    assert len(problems) == 3, lines


def test_deep_is_not_run_on_a_pack_that_fails_the_plain_checks(pack, capsys):
    flip_byte(pack / "summary.json")
    code, out, err = run_cli(capsys, "verify", pack, "--deep")
    assert code == 1 and out == ""
    assert err.splitlines() == ["summary.json: changed (sha256 does not match manifest.json)",
                                "not checked: --deep (the pack must pass the checks above before it is re-rendered)"]


def test_config_and_history_dir_need_deep(signed, tmp_path, capsys):
    code, _, err = run_cli(capsys, "verify", signed, "--history-dir", tmp_path)
    assert code == 2 and "--config and --history-dir are for --deep" in err


@pytest.fixture(scope="module")
def with_history(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("history")
    history = root / "history"
    tiny_snapshot(history / "2026-09", collected_at="2026-09-30T06:00:00Z", run_id="run-sep", cves=2)
    snapshot = tiny_snapshot(root / "snap")
    pack = pipeline.render(snapshot, root / "pack", RunConfig(), history_dir=history, progress=QUIET).pack_dir
    return pack, history


def test_deep_on_a_pack_rendered_with_history_needs_that_history(with_history, capsys):
    pack, history = with_history
    assert json.loads((pack / "summary.json").read_text())["changes"] is not None
    result = deep_check(pack)
    assert result.problems == () and "pass --history-dir with the same history folder" in result.not_run
    code, out, err = run_cli(capsys, "verify", pack, "--deep")
    assert code == 1 and out.startswith("OK: every file")
    assert err.splitlines() == [
        "not checked: --deep: this pack was rendered with earlier snapshots (summary.json records changes since "
        "2026-09-30T06:00:00Z); a re-render without them would differ in every figure that uses history: pass "
        "--history-dir with the same history folder"]
    code, out, err = run_cli(capsys, "verify", pack, "--deep", "--history-dir", history)
    assert code == 0 and err == "" and out.splitlines()[-1].startswith("OK: a re-render of snapshot/")


def test_deep_draws_the_audit_sample_the_pack_records(tmp_path, capsys):
    from reportgen.config import with_audit_sample
    snap = tiny_snapshot(tmp_path / "snap", cves=6)
    pack = pipeline.render(snap, tmp_path / "pack", with_audit_sample(RunConfig(), 2, 7), progress=QUIET).pack_dir
    assert json.loads((pack / "summary.json").read_text())["audit_sample"]["seed"] == 7
    code, out, err = run_cli(capsys, "verify", pack, "--deep")
    assert code == 0 and err == "", out + err    # the default sample (25, seed 1) would differ in every sample file
    assert out.splitlines()[-1].startswith("OK: a re-render")
