"""A lone surrogate is invalid Unicode that JSON can still carry ("\\ud800"): it must never crash
a run, and it shows up as U+FFFD wherever it is printed."""

from __future__ import annotations

import json

import pandas as pd

from reportgen import pipeline
from reportgen.collect.frames import to_frame
from reportgen.config import RunConfig
from reportgen.progress import QUIET
from reportgen.snapshot import write_snapshot
from tests import builders as b


def test_a_lone_surrogate_from_a_server_is_replaced_visibly_when_collected():
    rows = [b.cluster("aks-\udfff-2"), b.cluster("aks-3")]      # as the SDK's JSON parser gives "\udfff"
    frame, notes = to_frame("clusters", rows)
    assert sorted(frame["name"]) == ["aks-3", "aks-\ufffd-2"]
    assert notes == ["clusters: 2 text values held a lone surrogate (invalid Unicode), replaced with U+FFFD"]


def test_lone_surrogates_in_tags_and_names_render_as_replacement_characters(tmp_path):
    rid = b.cluster_id("aks-1")
    tagged = b.cluster("aks-1", tags={"owner": "team-\ud800-payments"})   # json.dumps escapes it: "\ud800"
    assert "\\ud800" in tagged["tags"]
    named, _ = to_frame("clusters", [b.cluster("aks-\udfff-2")])
    frames = b.frames(clusters=[tagged], policy_states=[b.policy_state(rid, "NonCompliant")],
                      assessments=[b.assessment(rid)], findings=[b.finding(rid, "CVE-2024-0001")])
    frames["clusters"] = pd.concat([frames["clusters"], named], ignore_index=True)
    ts = pd.Timestamp(b.AS_OF)
    snap = write_snapshot(tmp_path / "snap", frames, collected_at=ts, period=(ts.date().replace(day=1), ts.date()),
                          source="test", run_id="run-test")

    result = pipeline.render(snap, tmp_path / "pack", RunConfig(), progress=QUIET)
    assert "team-\ufffd-payments" in {o.owner for o in result.model.owners}
    summary = (tmp_path / "pack" / "summary.json").read_bytes().decode("utf-8")   # strict: valid UTF-8
    json.loads(summary)

    from pypdf import PdfReader
    text = " ".join(page.extract_text() or "" for page in PdfReader(str(tmp_path / "pack" / "evidence-pack.pdf")).pages)
    assert "aks-\ufffd-2" in text and "team-\ufffd-payments" in text


def test_a_snapshot_write_replaces_a_lone_surrogate_and_says_so(tmp_path):
    from reportgen.snapshot import read_meta, read_snapshot
    frames = b.frames(clusters=[b.cluster("aks-1")])
    clusters = frames["clusters"].astype(object)
    clusters.loc[0, "name"] = "aks-\ud800-1"          # object columns can hold what Arrow cannot
    frames["clusters"] = clusters
    ts = pd.Timestamp(b.AS_OF)
    snap = write_snapshot(tmp_path / "snap", frames, collected_at=ts, period=(ts.date().replace(day=1), ts.date()),
                          source="test", run_id="run-test")
    assert read_snapshot(snap).frames["clusters"]["name"].tolist() == ["aks-\ufffd-1"]
    assert "1 text value held a lone surrogate (invalid Unicode), replaced with U+FFFD" in \
        read_meta(snap)["datasets"]["clusters"]["warnings"]
