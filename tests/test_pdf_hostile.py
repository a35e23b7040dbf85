"""Hostile tenant text in the PDF: it renders, stays short, says what it left out, shows
what is invisible, and cannot reorder the text around it.

A small hand-built tenant (tests/builders.py) is rendered clean once, then with one kind of
hostile value each: a 100 KB unbroken owner tag, a right-to-left override in a cluster name
(both through the snapshot), an owner with a lone surrogate and C0 controls, and 10,000
unassessed clusters (both put into the model: a pandas string column, Arrow-backed, cannot
hold a lone surrogate, so such an owner only reaches the PDF through the model's own
values). Checks read the PDF's text with pypdf. Speed is measured by
benchmarks/hostile_bench.py, not here.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pandas as pd
import pytest

from reportgen import pipeline
from reportgen.config import RunConfig
from tests import builders as b

EXTRA_PAGES = 5         # what one hostile value may add
FULL_LISTS_PAGES = 12   # what filling every capped cluster list adds to a three-cluster pack
BIG = "x" * 100_000
SURROGATE_OWNER = "team-\ud800-bell\x07-esc\x1b-nul\x00-end"
RTL_NAME = "aks-\u202egnp.exe"   # displayed reversed ("aks-exe.png") if the override took effect
NAMES = ("aks-a", "aks-b", "aks-c")
MANY = 10_000


def _snapshot(path: Path, owner_a: str = "team-a", name_c: str = "aks-c") -> Path:
    """Three clusters with findings and policy states; ``owner_a`` is aks-a's owner tag, ``name_c``
    the third cluster's name."""
    names = ("aks-a", "aks-b", name_c)
    ids = [b.cluster_id(n) for n in names]
    return b.write(path, clusters=[b.cluster("aks-a", tags={"owner": owner_a}),
                                   b.cluster("aks-b", tags={"owner": "team-b"}),
                                   b.cluster(name_c, tags={"owner": "team-c"})],
                   policy_states=[b.policy_state(ids[0], "NonCompliant"), b.policy_state(ids[1], "Compliant"),
                                  b.policy_state(ids[2], "NonCompliant")],
                   assessments=[b.assessment(i) for i in ids],
                   findings=[b.finding(i, f"CVE-2026-{n:04d}", sev, package=f"pkg{n}")
                             for n, (i, sev) in enumerate((i, s) for i in ids for s in ("Critical", "High", "Low"))])


def _render(model, pack: Path) -> dict:
    from pypdf import PdfReader

    from reportgen.render.charts import write_charts
    from reportgen.render.pdf import write_pdf
    write_charts(model, pack / "charts")
    write_pdf(model, pack / "evidence-pack.pdf", charts_dir=pack / "charts")
    pages = [p.extract_text() or "" for p in PdfReader(str(pack / "evidence-pack.pdf")).pages]
    return {"model": model, "pack": pack, "pages": pages, "text": "\n".join(pages)}


def _build_and_render(root: Path, **kw) -> dict:
    return _render(pipeline.build(_snapshot(root / "snap", **kw), RunConfig()), root / "pack")


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return _build_and_render(tmp_path_factory.mktemp("clean"))


@pytest.fixture(scope="module")
def big_tag(tmp_path_factory):
    return _build_and_render(tmp_path_factory.mktemp("big"), owner_a=BIG)


@pytest.fixture(scope="module")
def controls(clean, tmp_path_factory):
    return _render(b.renamed_owner(clean["model"], "team-a", SURROGATE_OWNER), tmp_path_factory.mktemp("controls"))


@pytest.fixture(scope="module")
def bidi(tmp_path_factory):
    return _build_and_render(tmp_path_factory.mktemp("bidi"), name_c=RTL_NAME)


def _with_unassessed(model, n: int):
    """``model`` with ``n`` more clusters in the inventory, none assessed by Defender."""
    clusters = model.tables.clusters
    row = clusters.iloc[0].to_dict()
    names = [f"aks-unassessed-{i:05d}" for i in range(n)]
    extra = pd.DataFrame([{**row, "name": name, "id": b.cluster_id(name), "assessed": False,
                           "assessmentStatus": "Not assessed", "policyState": "NonCompliant", "openFindings": 0,
                           "critical": 0, "high": 0, "medium": 0, "low": 0, "unknown": 0, "overdue": 0,
                           "derivedVerdict": "No evidence", "findingsSources": "", "findingsWithoutAssessment": False}
                          for name in names], columns=clusters.columns)
    cov = model.coverage
    return dataclasses.replace(
        model, tables=dataclasses.replace(model.tables, clusters=pd.concat([clusters, extra], ignore_index=True)),
        coverage=dataclasses.replace(cov, clusters=cov.clusters + n,
                                     not_assessed=cov.not_assessed + tuple(b.cluster_id(x) for x in names)))


@pytest.fixture(scope="module")
def unassessed(clean, tmp_path_factory):
    return _render(_with_unassessed(clean["model"], MANY), tmp_path_factory.mktemp("unassessed") / "pack")


@pytest.fixture(scope="module")
def hundred_unassessed(clean, tmp_path_factory):
    """Enough clusters to fill every capped cluster list: the PDF stops growing here."""
    return _render(_with_unassessed(clean["model"], 100), tmp_path_factory.mktemp("hundred") / "pack")


# ---------------------------------------------------------------- the PDF


def test_a_100_kb_owner_tag_is_cut_with_a_pointer_to_the_workbook(clean, big_tag):
    assert any(o.owner == BIG for o in big_tag["model"].owners)  # the value reached the model whole
    assert len(big_tag["pages"]) <= len(clean["pages"]) + EXTRA_PAGES
    text = _squash(big_tag["text"])
    runs = re.findall(r"x{50,}", text)
    assert runs and max(map(len, runs)) <= 200, max(map(len, runs))
    assert "x" * 200 + "\u2026[cut]" in text
    assert _squash("Long text is cut.") in text
    assert _squash("The CSV files in data/ hold every value in full, and the workbook up to Excel's 32,767 "
                   "characters per cell.") in text


def test_clean_text_is_not_cut(clean):
    assert "[cut]" not in clean["text"] and "Long text is cut" not in clean["text"]


def test_a_lone_surrogate_and_controls_show_as_visible_marks(controls):
    text = controls["text"]
    assert "team-\ufffd-bell\\x07-esc\\x1b-nul\\x00-end" in _squash(text)
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]", text)


def test_a_bidi_override_cannot_reorder_the_text(bidi):
    text = _squash(bidi["text"])
    assert "\u202e" not in bidi["text"]
    assert "aks-\\u202egnp.exe" in text
    assert "exe.png" not in text


def test_only_shipped_fonts_even_for_replacement_marks(controls):
    from pypdf import PdfReader
    names = set()
    for page in PdfReader(str(controls["pack"] / "evidence-pack.pdf")).pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            names.add(str(font.get_object()["/BaseFont"]).split("+", 1)[-1])
    assert names and all(n.startswith("Reportgen-") for n in names), names


def test_10000_unassessed_clusters_are_capped_with_a_pointer(clean, hundred_unassessed, unassessed):
    from reportgen.render.pdf import NOT_ASSESSED_ROWS, SCOPE_CLUSTER_ROWS
    assert len(unassessed["model"].coverage.not_assessed) == MANY
    pages = [len(r["pages"]) for r in (clean, hundred_unassessed, unassessed)]
    # the capped lists are full at 100 clusters; past that, only figures change
    assert pages[2] == pages[1] and pages[2] <= pages[0] + FULL_LISTS_PAGES, pages
    text = " ".join(unassessed["text"].split())
    assert f"{MANY:,} clusters are not assessed by Defender." in text
    assert (f"\u2026 and {MANY - NOT_ASSESSED_ROWS:,} more: see the Clusters sheet of evidence-pack.xlsx "
            f"(Assessed = FALSE) or clusters.csv.") in text
    assert f"Showing the first {SCOPE_CLUSTER_ROWS} of {MANY + len(NAMES):,} clusters (sorted by name)" in text
    listed = set(re.findall(r"aks-unassessed-\d{5}", _squash(unassessed["text"])))
    assert 0 < len(listed) <= NOT_ASSESSED_ROWS + SCOPE_CLUSTER_ROWS + 2 * 50  # scope lists and each control's


# ---------------------------------------------------------------- the rules, without a render


@pytest.mark.parametrize(("value", "kind", "expected"), [
    ("plain name", "name", ("plain name", False)),
    ("a\ud800b", "name", ("a\ufffdb", False)),
    ("\ud83d\ude00", "name", ("\U0001f600", False)),           # a surrogate pair, as JSON decodes it
    ("bell\x07 del\x7f c1\x85", "name", ("bell\\x07 del\\x7f c1\\x85", False)),
    ("line\nbreak\ttab", "name", ("line\\x0abreak\\x09tab", False)),
    ("line\nbreak\ttab", "text", ("line break tab", False)),
    ("a\r\nb\tc", "query", ("a\nb\tc", False)),
    ("x\u202ey\u2066z\u200ew\u061cv\u2028u", "name", ("x\\u202ey\\u2066z\\u200ew\\u061cv\\u2028u", False)),
    ("\U000e0041hidden", "name", ("\\U000e0041hidden", False)),   # tag characters smuggle invisible text
    ("emoji\u200djoined", "name", ("emoji\u200djoined", False)),
    ("sha256 " + "0" * 64, "name", ("sha256 " + "0" * 64, False)),  # a hash is not broken up
])
def test_shown(value, kind, expected):
    from reportgen.render.text import shown
    assert shown(value, kind) == expected


def test_shown_caps_each_kind_and_breaks_long_runs():
    from reportgen.render.text import BREAK_EVERY, CUT_MARK, LIMITS, ZWSP, shown
    for kind, limit in LIMITS.items():
        out, cut = shown("y" * (limit * 3), kind)
        assert cut and out.endswith(CUT_MARK)
        assert out.replace(ZWSP, "")[:-len(CUT_MARK)] == "y" * limit
        assert max(map(len, out[:-len(CUT_MARK)].split(ZWSP))) == BREAK_EVERY
    out, cut = shown("/sub/" + "z" * 65, "id")
    assert not cut and ZWSP in out and out.replace(ZWSP, "") == "/sub/" + "z" * 65
    out, cut = shown("\u202e" * 300, "name")  # escapes count towards the cap, and are never half shown
    assert cut and len(out.replace(ZWSP, "")) <= LIMITS["name"] + len(CUT_MARK)
    assert out.replace(ZWSP, "")[:-len(CUT_MARK)].endswith("\\u202e")


def test_every_printed_value_passes_the_sanitizer():
    from reportgen.render.environment import TextCuts, environment
    env = environment()
    cuts = TextCuts()
    html = env.from_string("{{ v }}|{{ items | join(', ') }}|{{ d | prose }}|{{ n }}|{{ m }}").render(
        v="<b>\u202e</b>" + "q" * 300, items=["ok", "\x07"], d="a\nb", n=12345, m=None, text_cuts=cuts)
    assert html.startswith("&lt;b&gt;\\u202e&lt;/b&gt;") and "\u202e" not in html
    assert "\u2026 [cut]|ok, \\x07|a b|12345|None" in html
    assert cuts.count == 1


def test_chart_labels_are_short_and_drawable(big_tag, controls):
    from reportgen.render import charts
    for rendered in (big_tag, controls):
        with charts.style():
            fig = charts.owners_by_severity(rendered["model"])
        labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
        assert labels and all(len(t) <= 38 for t in labels), labels
        assert not any(re.search("[\x00-\x1f\ud800-\udfff\u202a-\u202e]", t) for t in labels), labels
    assert "team-?-bell\\x07-esc\\x1b-nul\\x00-end" in labels


def test_every_other_list_is_capped_with_a_pointer(clean, tmp_path):
    from reportgen.aggregate.model import EvidenceGap
    from reportgen.render.charts import planned_charts
    from reportgen.render.pdf import (
        GAP_MEMBERS,
        GAP_ROWS,
        HISTORY_ROWS,
        SCOPE_ITEMS,
        WARNING_ROWS,
        render_html,
    )
    m = clean["model"]
    gaps = tuple(EvidenceGap(kind="future-kind", title=f"Gap {i}.", message="Something is missing.", dataset=None,
                             members=tuple(f"sub-{j}" for j in range(30)), details=tuple(f"detail {j}" for j in range(10)))
                 for i in range(40))
    warned = dataclasses.replace(m.datasets[0], warnings=tuple(f"warning {j}." for j in range(50)))
    months = tuple(dataclasses.replace(m.history[-1], label=f"m{i:03d}") for i in range(60))
    model = dataclasses.replace(
        m, gaps=gaps, datasets=(warned,) + m.datasets[1:], history=months,
        meta=dataclasses.replace(m.meta, scope_subscriptions=tuple(f"s-{i:03d}" for i in range(50))),
        coverage=dataclasses.replace(m.coverage, locations=tuple(f"region-{i:03d}" for i in range(50))))
    html = " ".join(render_html(model, planned_charts(tmp_path / "charts"), tmp_path).split())
    assert f"<strong>Gap {GAP_ROWS - 1}.</strong>" in html and f"<strong>Gap {GAP_ROWS}.</strong>" not in html
    assert f"&hellip; and {40 - GAP_ROWS} more: see summary.json for every evidence gap." in html
    assert f"and {30 - GAP_MEMBERS} more (all in summary.json)" in html
    assert f"detail {WARNING_ROWS - 1}. <span" in html and f"detail {WARNING_ROWS}." not in html
    assert f"&hellip; and {10 - WARNING_ROWS} more: see summary.json." in html
    assert html.count(f"&hellip; and {50 - WARNING_ROWS} more: see the Queries sheet of evidence-pack.xlsx.") == 3
    assert f"The latest {HISTORY_ROWS} of 60 months are shown; all of them are in" in html
    assert "m059" in html and f"m{60 - HISTORY_ROWS:03d}" in html and f"m{59 - HISTORY_ROWS:03d}" not in html
    assert f"&hellip; and {50 - SCOPE_ITEMS} more: see the scope in snapshot/snapshot.json." in html
    assert f"region-{SCOPE_ITEMS - 1:03d} " in html and f"region-{SCOPE_ITEMS:03d}" not in html
    assert f"&hellip; and {50 - SCOPE_ITEMS} more: see the Clusters sheet of evidence-pack.xlsx." in html
