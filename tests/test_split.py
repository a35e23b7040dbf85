"""--split-by owner: per-owner packs in by-owner/ (issue 11 item 4).

One split render of a tiny sample (scale 3, no history) is shared by the module; the slug and
filter rules are checked directly.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reportgen import pipeline
from reportgen.config import RunConfig
from reportgen.pack import split
from reportgen.pack.verify import verify_pack
from reportgen.snapshot import read_snapshot


@pytest.fixture(scope="module")
def split_pack(tmp_path_factory):
    root = tmp_path_factory.mktemp("split")
    pipeline.make_sample(root / "snap", scale=3)
    result = pipeline.render(root / "snap", root / "pack", RunConfig(), split_by="owner")
    return root / "pack", result


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_each_owner_pack_holds_only_its_clusters(split_pack):
    pack, result = split_pack
    summary = _json(pack / "summary.json")
    assert summary["by_owner"], "the main summary indexes the owner packs"
    clusters = result.model.tables.clusters
    for entry in summary["by_owner"]:
        sub = pack / entry["folder"]
        mine = {r.lower() for r, o in zip(clusters["id"], clusters["owner"]) if o == entry["owner"]}
        snap = read_snapshot(sub / "snapshot")
        assert {r.lower() for r in snap.frames["findings"]["resourceId"]} <= mine
        assert {r.lower() for r in snap.frames["clusters"]["id"]} <= mine
        derived = snap.meta["derived_from"]
        assert derived["run_id"] == result.model.meta.run_id
        assert derived["snapshot_sha256"] == result.model.meta.snapshot_fingerprint
        assert derived["filter"] == f"owner = {entry['owner']}"
        assert set(derived["cluster_ids"]) == mine
        owners = _json(sub / "summary.json")["owners"]
        assert [o["owner"] for o in owners] == [entry["owner"]]   # same attribution as the main model
        assert entry["clusters"] == len(mine)


def test_sums_over_owners_equal_main_figures(split_pack):
    pack, _ = split_pack
    main = _json(pack / "summary.json")
    subs = [_json(pack / e["folder"] / "summary.json") for e in main["by_owner"]]
    assert sum(s["findings"]["open"] for s in subs) == main["findings"]["open"]
    assert sum(e["open_findings"] for e in main["by_owner"]) == main["findings"]["open"]
    for sev, n in main["findings"]["by_severity"].items():
        assert sum(s["findings"]["by_severity"][sev] for s in subs) == n
    assert sum(s["coverage"]["clusters"] for s in subs) == main["coverage"]["clusters"]


def test_verify_main_and_each_sub_pack(split_pack):
    pack, _ = split_pack
    assert verify_pack(pack) == []
    manifest = {e["path"] for e in _json(pack / "manifest.json")["files"]}
    for entry in _json(pack / "summary.json")["by_owner"]:
        sub = pack / entry["folder"]
        assert verify_pack(sub) == []
        for f in sub.rglob("*"):
            if f.is_file():
                assert f.relative_to(pack).as_posix() in manifest
    readme = (pack / "README.txt").read_text(encoding="utf-8")
    assert all(e["folder"] + "/" in readme for e in _json(pack / "summary.json")["by_owner"])


def test_tampering_a_sub_pack_file_fails_main_verify(split_pack, tmp_path):
    import shutil
    pack, _ = split_pack
    copy = tmp_path / "pack"
    shutil.copytree(pack, copy)
    folder = _json(copy / "summary.json")["by_owner"][0]["folder"]
    target = copy / folder / "summary.json"
    target.write_text(target.read_text(encoding="utf-8").replace('"open"', '"open" ', 1), encoding="utf-8")
    problems = verify_pack(copy)
    assert any(p.startswith(f"{folder}/summary.json: changed") for p in problems)
    (copy / folder / "extra.txt").write_text("x", encoding="utf-8")
    assert any("extra.txt: unexpected file" in p for p in verify_pack(copy))


HOSTILE = ["../../etc/passwd", "..", ".", "/abs/path", "a/b\\c", "CON", "", "   ", "x" * 500, "\x00nul",
           "Ünïcødé Team", "team\nnewline", "payments", "Payments", "payments!", "-lead-"]


def test_hostile_owner_names_stay_inside_by_owner(tmp_path):
    slugs = split.owner_slugs(HOSTILE)
    assert len(set(slugs.values())) == len(set(HOSTILE)), "unique"
    root = tmp_path / "by-owner"
    root.mkdir()
    for owner, slug in slugs.items():
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", slug), (owner, slug)
        assert len(slug) <= split.SLUG_MAX + 9
        assert (root / slug).resolve().parent == root.resolve()
    assert slugs["payments"] == "payments"            # a clean name is kept as it is
    assert slugs["Payments"] != slugs["payments"]
    assert split.owner_slugs(reversed(HOSTILE)) == slugs   # independent of order


def test_filter_keeps_only_the_clusters_rows(split_pack):
    pack, result = split_pack
    snap = read_snapshot(pack / "snapshot")
    rid = sorted({r.lower() for r in result.model.tables.clusters["id"]})[0]
    frames = split.filter_frames(snap.frames, {rid})
    assert set(frames["findings"]["resourceId"].str.lower()) <= {rid}
    assert set(frames["policy_states"]["resourceId"].str.lower()) <= {rid}
    sub = rid.split("/")[2]
    assert set(frames["resource_containers"]["subscriptionId"].str.lower()) <= {sub}
    assert set(frames["regulatory_compliance"]["subscriptionId"].str.lower()) <= {sub}


def test_an_owner_pack_rendered_with_history_deep_verifies_on_its_own(tmp_path):
    """With the main pack's history folder, verify --deep filters the history to the owner's clusters
    (as the split did) and re-renders the owner pack byte for byte; without it, it says what is needed."""
    from reportgen.pack.verify import deep_check
    pipeline.make_sample(tmp_path / "snap", scale=3, history_dir=tmp_path / "hist", months=2)
    pipeline.render(tmp_path / "snap", tmp_path / "pack", RunConfig(), history_dir=tmp_path / "hist",
                    split_by="owner")
    entry = _json(tmp_path / "pack" / "summary.json")["by_owner"][0]
    sub = tmp_path / "pack" / entry["folder"]
    assert _json(sub / "summary.json").get("changes"), "the owner pack uses the history"
    check = deep_check(sub, history_dir=tmp_path / "hist")
    assert check.not_run is None and check.problems == (), (check.not_run, check.problems)
    assert any("filtered to its" in n for n in check.notes)
    assert "--history-dir" in (deep_check(sub).not_run or "")


def test_owner_pack_workers_from_the_environment(monkeypatch):
    from reportgen.errors import UsageError
    monkeypatch.setenv(pipeline.OWNER_PACK_WORKERS_ENV, "3")
    assert pipeline.owner_pack_workers(10) == 3
    assert pipeline.owner_pack_workers(2) == 2          # never more processes than packs
    monkeypatch.setenv(pipeline.OWNER_PACK_WORKERS_ENV, "0")
    with pytest.raises(UsageError, match="REPORTGEN_WORKERS='0'"):
        pipeline.owner_pack_workers(10)
    monkeypatch.delenv(pipeline.OWNER_PACK_WORKERS_ENV)
    assert 1 <= pipeline.owner_pack_workers(10) <= 4
