"""Reproducible and atomic packs.

The same snapshot, config and tool version give byte-identical files, whatever the
process (hash seed), time zone, working directory or output folder: one pack is rendered
in this process, the other by the command line in a separate process from the first
pack's snapshot/ copy, exactly as an auditor re-renders. The known sources of
non-determinism (zip entry times, workbook properties, PDF dates and id, chart metadata)
are pinned one by one. A failed or interrupted render leaves no pack and no partial folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from reportgen import pipeline
from reportgen.config import RunConfig
from reportgen.errors import RenderError
from reportgen.pack.verify import verify_pack
from reportgen.progress import QUIET
from tests import builders as b
from tests.test_evidence import make_sample, render_pack, tree_hashes


@pytest.fixture(scope="module")
def packs(tmp_path_factory) -> tuple[Path, Path, Path | None]:
    root = tmp_path_factory.mktemp("repro")
    snapshot, history = make_sample(root / "in", months=1)
    first = render_pack(snapshot, root / "first", history=history)
    env = {**os.environ, "PYTHONHASHSEED": "4242", "TZ": "Pacific/Chatham", "LC_ALL": "C"}
    cwd = root / "elsewhere"
    cwd.mkdir()
    proc = subprocess.run([sys.executable, "-m", "reportgen", "render", str(first / "snapshot"),
                           "--out", str(root / "second-pack"), "--history-dir", str(history)],
                          capture_output=True, text=True, env=env, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return first, root / "second-pack", history


def test_rendering_twice_gives_identical_bytes_for_every_file(packs):
    first, second, _ = packs
    a, b_ = tree_hashes(first), tree_hashes(second)
    assert set(a) == set(b_)
    differing = sorted(rel for rel in a if a[rel] != b_[rel])
    assert differing == [], f"files differ between two renders: {differing}"
    for name in ("evidence-pack.pdf", "evidence-pack.xlsx", "summary.json", "manifest.json", "README.txt",
                 "oscal/assessment-results.json", "charts/compliance-trend.png", "charts/compliance-trend.svg"):
        assert name in a
    assert verify_pack(first) == [] and verify_pack(second) == []


def test_workbook_zip_entries_and_properties_carry_the_as_of_time(packs):
    first, _, _ = packs
    as_of = json.loads((first / "manifest.json").read_text())["as_of"]        # 2026-10-31T06:00:00Z
    stamp = tuple(int(x) for x in as_of[:19].replace("-", " ").replace("T", " ").replace(":", " ").split())
    with zipfile.ZipFile(first / "evidence-pack.xlsx") as z:
        assert {i.date_time for i in z.infolist()} == {stamp}
        core = z.read("docProps/core.xml").decode()
    assert core.count(as_of) == 2  # dcterms:created and dcterms:modified


def test_pdf_dates_and_id_come_from_the_snapshot(packs):
    from pypdf import PdfReader
    first, _, _ = packs
    manifest = json.loads((first / "manifest.json").read_text())
    reader = PdfReader(first / "evidence-pack.pdf")
    stamp = "D:" + manifest["as_of"].replace("-", "").replace(":", "").replace("T", "")
    assert reader.metadata["/CreationDate"] == stamp and reader.metadata["/ModDate"] == stamp
    first_id = reader.trailer["/ID"][0]
    first_id = first_id if isinstance(first_id, str) else bytes(first_id).decode("latin-1")
    assert first_id == manifest["snapshot_sha256"][:32]


def test_charts_carry_no_software_or_time_metadata(packs):
    first, _, _ = packs
    for png in (first / "charts").glob("*.png"):
        data = png.read_bytes()
        assert b"tIME" not in data and b"Software" not in data and b"matplotlib" not in data, png.name
    for svg in (first / "charts").glob("*.svg"):
        text = svg.read_text()
        assert "<dc:date>" not in text and "Matplotlib v" not in text, svg.name


# --- atomic packs ---------------------------------------------------------------------------

@pytest.fixture
def tiny(tmp_path) -> Path:
    rid = b.cluster_id("aks-1")
    return b.write(tmp_path / "snap", clusters=[b.cluster("aks-1")], policy_states=[b.policy_state(rid, "NonCompliant")],
                   assessments=[b.assessment(rid)], findings=[b.finding(rid, "CVE-2024-0001")])


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "snap")


@pytest.mark.parametrize("error", [RenderError("layout failed"), KeyboardInterrupt()])
def test_a_failed_render_leaves_no_pack_and_no_partial_folder(tiny, tmp_path, monkeypatch, error):
    from reportgen.render import pdf
    seen = {}

    def failing_pdf(model, path, charts_dir, **_):
        seen["partial"] = Path(path).parent
        seen["verifies"] = verify_pack(Path(path).parent)
        raise error

    monkeypatch.setattr(pdf, "write_pdf", failing_pdf)
    with pytest.raises(type(error)):
        pipeline.render(tiny, tmp_path / "pack", RunConfig(), progress=QUIET)
    assert _leftovers(tmp_path) == []
    assert not seen["partial"].exists()
    assert len(seen["verifies"]) == 1 and "unfinished or replaced pack, not a pack" in seen["verifies"][0]


def test_a_failed_render_keeps_the_previous_pack_intact(tiny, tmp_path, monkeypatch):
    from reportgen.render import pdf
    out = tmp_path / "pack"
    pipeline.render(tiny, out, RunConfig(), progress=QUIET)
    assert out.stat().st_mode & 0o777 == 0o777 & ~_umask()  # not left private by the temporary folder
    before = tree_hashes(out)

    def failing_pdf(model, path, charts_dir, **_):
        raise RenderError("layout failed")

    monkeypatch.setattr(pdf, "write_pdf", failing_pdf)
    with pytest.raises(RenderError):
        pipeline.render(tiny, out, RunConfig(), progress=QUIET)
    assert tree_hashes(out) == before and verify_pack(out) == []
    assert _leftovers(tmp_path) == ["pack"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
