"""Never lose a user's files: refusals before any work, and atomic replacement under kills.

Each refusal is checked through the command line (exit 2, one line naming the folder) and
by comparing the folder's files before and after. The kill tests run the real command in a
subprocess and kill it at random moments, then check that the target holds a complete
pack (the old or the new one) and that no other folder passes ``verify``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reportgen import outdir
from reportgen.pack.verify import verify_pack
from tests import builders as b


def reportgen(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reportgen", *map(str, args)], capture_output=True, text=True, **kw)


def tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def snapshot(path: Path, cve: str = "CVE-2024-0001") -> Path:
    rid = b.cluster_id("aks-1")
    return b.write(path, clusters=[b.cluster("aks-1")], policy_states=[b.policy_state(rid, "NonCompliant")],
                   assessments=[b.assessment(rid)], findings=[b.finding(rid, cve)])


@pytest.fixture(scope="module")
def snaps(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("snaps")
    return snapshot(root / "a"), snapshot(root / "b", "CVE-2024-0002")


@pytest.fixture(scope="module")
def pack_a(snaps, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("packs") / "pack"
    proc = reportgen("render", snaps[0], "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out


def refused(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --out "), proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


# --- refusals before any work -------------------------------------------------------------

def test_a_folder_with_an_unrelated_manifest_is_refused_and_kept(snaps, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"files": [], "name": "my app"}))
    (folder / "notes.txt").write_text("keep me")
    before = tree(folder)
    refused(reportgen("render", snaps[0], "--out", folder), str(folder), "not a reportgen evidence pack")
    assert tree(folder) == before


def test_a_pack_holding_an_unlisted_file_is_refused_and_kept(pack_a, snaps, tmp_path):
    import shutil
    folder = tmp_path / "pack"
    shutil.copytree(pack_a, folder)
    (folder / "data" / "my-analysis.xlsx").write_text("mine")
    before = tree(folder)
    refused(reportgen("render", snaps[1], "--out", folder), "data/my-analysis.xlsx", "does not list")
    assert tree(folder) == before


def test_the_refusal_comes_before_reading_the_snapshot(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "manifest.json").write_text("{}")
    # the snapshot does not even exist: the --out check must come first
    refused(reportgen("render", tmp_path / "no-such-snapshot", "--out", folder), str(folder))


def test_rendering_into_the_folder_that_holds_the_input_snapshot_is_refused(snaps, tmp_path):
    import shutil
    x = tmp_path / "x"
    shutil.copytree(snaps[0], x / "snap")
    before = tree(x)
    refused(reportgen("render", x / "snap", "--out", x), "contains the input snapshot")
    assert tree(x) == before


def test_rerendering_a_pack_from_its_own_snapshot_in_place_is_refused(pack_a, tmp_path):
    import shutil
    pack = tmp_path / "pack"
    shutil.copytree(pack_a, pack)
    before = tree(pack)
    refused(reportgen("render", pack / "snapshot", "--out", pack), "contains the input snapshot")
    assert tree(pack) == before and verify_pack(pack) == []


def test_a_history_folder_inside_out_is_refused(pack_a, snaps, tmp_path):
    import shutil
    pack = tmp_path / "pack"
    shutil.copytree(pack_a, pack)
    refused(reportgen("render", snaps[1], "--out", pack, "--history-dir", pack / "snapshot"),
            "contains the history folder")


@pytest.mark.parametrize("kind", ["file", "symlink", "missing-parent"])
def test_bad_out_paths_get_a_clear_error(snaps, tmp_path, kind):
    if kind == "file":
        out = tmp_path / "report.pdf"
        out.write_text("mine")
        words = ("exists and is not a folder",)
    elif kind == "symlink":
        (tmp_path / "real").mkdir()
        out = tmp_path / "link"
        out.symlink_to(tmp_path / "real")
        words = ("symbolic link",)
    else:
        out = tmp_path / "no" / "such" / "pack"
        words = ("parent folder", "does not exist")
    refused(reportgen("render", snaps[0], "--out", out), *words)
    if kind == "file":
        assert out.read_text() == "mine"
    if kind == "missing-parent":
        assert not (tmp_path / "no").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_parent_that_is_not_writable_is_refused(snaps, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        refused(reportgen("render", snaps[0], "--out", locked / "pack"), "not writable")
    finally:
        locked.chmod(0o755)


def test_a_snapshot_folder_with_foreign_files_is_not_replaced(tmp_path):
    folder = tmp_path / "snap"
    folder.mkdir()
    (folder / "snapshot.json").write_text("{}")
    (folder / "thesis.docx").write_text("mine")
    before = tree(folder)
    refused(reportgen("sample", "--out", folder, "--scale", "2"), str(folder), "not a reportgen snapshot")
    assert tree(folder) == before


def test_demo_refuses_a_folder_that_is_not_an_earlier_demo(tmp_path):
    folder = tmp_path / "docs"
    (folder / "input" / "history").mkdir(parents=True)
    (folder / "input" / "history" / "2025-taxes").mkdir()
    (folder / "input" / "history" / "2025-taxes" / "receipt.txt").write_text("mine")
    before = tree(folder)
    refused(reportgen("demo", "--out", folder), "not a sample snapshot")
    assert tree(folder) == before


# --- atomic replacement ---------------------------------------------------------------------

def test_replacing_a_pack_swaps_it_in_one_step_and_removes_the_old(pack_a, snaps, tmp_path):
    import shutil
    out = tmp_path / "pack"
    shutil.copytree(pack_a, out)
    proc = reportgen("render", snaps[1], "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert verify_pack(out) == [] and tree(out) != tree(pack_a)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pack"]


def test_the_fallback_without_an_atomic_exchange_still_replaces(pack_a, tmp_path, monkeypatch):
    import shutil
    out, new = tmp_path / "pack", tmp_path / ".pack.partial-new"
    shutil.copytree(pack_a, out)
    new.mkdir()
    (new / "marker").write_text("new")
    monkeypatch.setattr(outdir, "exchange", lambda a, b: False)
    assert outdir.swap_into_place(new, out) == "renamed twice"
    assert (out / "marker").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pack"]


def test_exchange_is_atomic_on_this_system(tmp_path):
    a, c = tmp_path / "a", tmp_path / "c"
    a.mkdir(), c.mkdir()
    (a / "f").write_text("a"), (c / "f").write_text("c")
    assert outdir.exchange(a, c) is True
    assert (a / "f").read_text() == "c" and (c / "f").read_text() == "a"


SWAPPER = r"""
import sys, shutil
from pathlib import Path
from reportgen.outdir import build_beside, swap_into_place
out = Path(sys.argv[1])
n = 0
while True:
    n += 1
    with build_beside(out) as tmp:
        for i in range(40):
            (tmp / f"f{i:02}").write_text(str(n))
        (tmp / "complete").write_text(str(n))
        swap_into_place(tmp, out)
"""


def test_swapping_killed_at_random_moments_always_leaves_a_complete_folder(tmp_path):
    out = tmp_path / "target"
    rng = random.Random(9)
    for attempt in range(25):
        child = subprocess.Popen([sys.executable, "-c", SWAPPER, str(out)], stderr=subprocess.DEVNULL)
        time.sleep(0.4 + rng.random() * 0.3)
        child.send_signal(signal.SIGKILL)
        child.wait()
        if not out.exists():
            assert attempt == 0, "the target vanished"
            continue
        names = sorted(p.name for p in out.iterdir())
        assert names == sorted([f"f{i:02}" for i in range(40)] + ["complete"]), f"attempt {attempt}: {names}"
        values = {p.read_text() for p in out.iterdir()}
        assert len(values) == 1, f"attempt {attempt}: mixed folder {values}"
        for other in tmp_path.iterdir():
            assert other == out or outdir.is_hidden_work_folder(other.name) or other.name == ".target.lock"


def test_render_killed_at_random_points_leaves_the_old_or_the_new_pack(pack_a, snaps, tmp_path):
    import shutil
    out = tmp_path / "pack"
    shutil.copytree(pack_a, out)
    old_id = json.loads((out / "manifest.json").read_text())["snapshot_sha256"]
    started = time.monotonic()
    proc = reportgen("render", snaps[1], "--out", tmp_path / "timing")
    full = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    new_id = json.loads((tmp_path / "timing" / "manifest.json").read_text())["snapshot_sha256"]
    shutil.rmtree(tmp_path / "timing")
    rng = random.Random(5)
    for attempt in range(6):
        source = snaps[attempt % 2]
        child = subprocess.Popen([sys.executable, "-m", "reportgen", "render", str(source), "--out", str(out)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(full * (0.5 + 0.55 * rng.random()))   # mostly late, where the swap happens
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert verify_pack(out) == [], f"attempt {attempt}: the pack at the target does not verify"
        assert json.loads((out / "manifest.json").read_text())["snapshot_sha256"] in (old_id, new_id)
        for other in tmp_path.iterdir():
            if other != out and other.is_dir():
                assert verify_pack(other) != [], f"attempt {attempt}: {other.name} passes verify"
    # the next run removes what the killed ones left, naming each
    proc = reportgen("render", snaps[1], "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pack"]


def test_sigterm_removes_the_unfinished_folder(snaps, tmp_path):
    out = tmp_path / "pack"
    child = subprocess.Popen([sys.executable, "-m", "reportgen", "render", str(snaps[0]), "--out", str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(outdir.is_hidden_work_folder(p.name) for p in tmp_path.iterdir()):
        time.sleep(0.02)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    if child.returncode == 0:
        pytest.skip("the render finished before the signal arrived")
    assert child.returncode == 1 and "interrupted" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []
