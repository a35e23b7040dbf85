"""executive-summary.pdf (issue 11 item 1): one landscape page whose figures are summary.json's executive ones.

One pack of the small sample tenant with two months of history, split by owner, rendered once per
module: page count and size, the printed figures against summary.json (text read with pdftotext
-layout from poppler-utils, skipped when absent), PDF/A-3b with summary.json embedded as /Data
(pikepdf), the manifest and README.txt, byte-identical re-rendering and ``verify --deep``, and one
executive page per owner pack. A large synthetic estate (hundreds of owners, very long names,
million-scale counts, thirteen months) is rendered from the same model with its executive figures
replaced, to show the page stays one page and clips names instead of overflowing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from reportgen import pipeline
from reportgen.aggregate.executive import Executive, ImageExposure, Rag, Trend
from reportgen.config import RunConfig
from reportgen.errors import RenderError
from reportgen.pack.verify import deep_check, verify_pack
from reportgen.render import executive_pdf as ex
from reportgen.render.summary import write_summary

pikepdf = pytest.importorskip("pikepdf")
PDFTOTEXT = shutil.which("pdftotext")
needs_pdftotext = pytest.mark.skipif(PDFTOTEXT is None, reason="pdftotext (poppler-utils) is not installed")
A4_LANDSCAPE_PT = (841.89, 595.28)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("execpdf")
    pipeline.make_sample(root / "snap", scale=3, history_dir=root / "history", months=2)
    result = pipeline.render(root / "snap", root / "pack", RunConfig(), history_dir=root / "history",
                             split_by="owner")
    return root, result.pack_dir, result.model


def _text(pdf: Path, layout: bool = True) -> str:
    """The page's text: in columns as laid out (``-layout``: a table row on one line), or in reading
    order (a sentence that wraps in its column stays together)."""
    args = [PDFTOTEXT, *(["-layout"] if layout else []), str(pdf), "-"]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return re.sub(r"[ \t]+", " ", out)


def _flat(text: str) -> str:
    """The page's text as one line (a sentence may wrap in its column)."""
    return re.sub(r"\s+", " ", text)


def _pages(pdf: Path) -> list:
    with pikepdf.open(pdf) as doc:
        return [tuple(float(v) for v in page.MediaBox) for page in doc.pages]


def _executive(pack: Path) -> dict:
    return json.loads((pack / "summary.json").read_text(encoding="utf-8"))["executive"]


# --- the sample tenant ------------------------------------------------------------------------------

def test_one_landscape_a4_page(rendered):
    _, pack, _ = rendered
    (box,) = _pages(pack / ex.PDF)
    assert box[2] - box[0] == pytest.approx(A4_LANDSCAPE_PT[0], abs=1)
    assert box[3] - box[1] == pytest.approx(A4_LANDSCAPE_PT[1], abs=1)


@needs_pdftotext
def test_printed_figures_are_summary_json_executive_figures(rendered):
    _, pack, model = rendered
    e = _executive(pack)
    text = _text(pack / ex.PDF)
    flat = _flat(_text(pack / ex.PDF, layout=False))
    words = []
    for s in e["status"]:
        is_pct = s["comparison"] == ">=" and s["name"] != "Overdue critical findings"
        value = "No data" if s["value"] is None else (ex.pct(s["value"]) if is_pct else f"{int(s['value']):,}")
        sign = "\u2265" if s["comparison"] == ">=" else "\u2264"
        target = f"{s['target']:g} %" if is_pct else f"{int(s['target']):,}"
        word = s["status"] if s["status"] == "No data" else s["status"].upper()
        assert f"{value} (target {sign} {target})" in flat, s
        words.append(word)
    laid_out = _flat(text)
    tiles = laid_out[:laid_out.index("Status rule")]   # the tiles come first, side by side, in summary.json's order
    assert re.findall(r"GREEN|AMBER|RED|No data", tiles) == words
    assert [n for n in re.findall("|".join(re.escape(s["name"]) for s in e["status"]), tiles)] == \
        [s["name"] for s in e["status"]]
    assert e["status_rule"] in flat
    assert e["top_images"], "the sample tenant has critical findings"
    for image in e["top_images"]:
        assert image["leverage"] in flat
        assert image["leverage"].startswith(f"rebuild {image['image']}: clears ")
    assert e["base_images"] in flat
    for owner in e["owners_overdue_critical"][:ex.OWNERS]:
        assert re.search(re.escape(owner["owner"]) + r" +" + f"{owner['overdue_critical']:,}" + r" +"
                         + f"{owner['clusters']:,}", text), owner
    crit = e["unique_cves"]["Critical"]
    assert f"{crit['findings']:,} critical findings, {crit['cves']:,} distinct CVEs" in flat
    sevs = list(e["unique_cves"])
    assert re.search(r"Severity +" + " +".join(sevs), text)     # one column per severity, in summary.json's order
    for row, key in (("Open findings", "findings"), ("Distinct CVEs", "cves")):
        values = " +".join(f"{e['unique_cves'][sev][key]:,}" for sev in sevs)
        assert re.search(rf"{row} +{values}\b", text), row
    for cls, v in e["environments"].items():
        assert re.search(rf"{cls} +{v['clusters']:,} +{v['open']:,} +{v['critical']:,} +{v['overdue']:,}", text), cls
    assert ", ".join(e["environment_tag_keys"]) in flat   # the configured keys are named
    months = e["monthly"][-ex.MONTHS:]
    assert months, "the sample tenant fixes findings in its history"
    sla = next(l for l in text.splitlines() if l.strip().startswith("SLA met (%)")).split("(%)", 1)[1].split()
    assert sla == [ex.number(m["sla_attainment_pct"]) for m in months]
    med = next(l for l in text.splitlines() if l.strip().startswith("Median days")).split("days", 1)[1].split()
    assert med == " ".join("No data" if m["median_days_to_fix"] is None else ex.days(m["median_days_to_fix"])[:-2]
                           for m in months).split()
    meta = model.meta
    for item in (meta.organization, meta.run_id, meta.snapshot_fingerprint[:12], ex.FOOTER):
        assert item in flat


@needs_pdftotext
def test_arrows_follow_the_trends(rendered):
    _, pack, _ = rendered
    text = _text(pack / ex.PDF)
    for t in _executive(pack)["trends"]:
        row = ex._trend_row(Trend(t["name"], t["current"], t["previous"], t["change"], t["direction"],
                                  tuple(tuple(p) for p in t["series"])))
        line = next(l for l in text.splitlines() if l.strip().startswith(row["label"]) and row["current"] in l)
        if t["direction"] == "none":
            assert "\u2191" not in line and "\u2193" not in line and "\u2192" not in line
            assert "no monthly history" in line or "no earlier month" in line
        else:
            assert f"{ex.ARROW[t['direction']]} {row['change']}" in line
            if t["current"] != t["previous"]:
                assert "same" not in line


def test_pdfa_3b_tagged_with_summary_json_embedded(rendered):
    _, pack, model = rendered
    with pikepdf.open(pack / ex.PDF) as pdf:
        meta = pdf.open_metadata()
        assert meta.get("pdfaid:part") == "3" and meta.get("pdfaid:conformance") == "B"
        assert str(pdf.Root.Lang) == "en" and bool(pdf.Root.MarkInfo.Marked) and "/StructTreeRoot" in pdf.Root
        assert meta.get("xmp:CreateDate")[:16] == model.meta.as_of.strftime("%Y-%m-%dT%H:%M")
        (name,) = pdf.attachments
        assert name == "summary.json"
        spec = pdf.attachments[name]
        assert spec.obj.AFRelationship == "/Data"
        assert spec.get_file().read_bytes() == (pack / "summary.json").read_bytes()
        assert len(pdf.Root.AF) == 1


def test_listed_in_the_manifest_and_readme(rendered):
    _, pack, _ = rendered
    manifest = (pack / "manifest.json").read_text(encoding="utf-8")
    assert ex.PDF in manifest
    readme = (pack / "README.txt").read_text(encoding="utf-8")
    assert ex.PDF in readme and "one landscape A4 page" in _flat(readme)
    assert verify_pack(pack) == []


def test_byte_identical_and_deep_verify_passes(rendered, tmp_path):
    root, pack, model = rendered
    shutil.copy(pack / "summary.json", tmp_path / "summary.json")
    again = ex.write_executive_pdf(model, tmp_path / ex.PDF)
    assert again.read_bytes() == (pack / ex.PDF).read_bytes()
    check = deep_check(pack, history_dir=root / "history")
    assert check.not_run is None and not check.problems, (check.not_run, check.problems)


@needs_pdftotext
def test_each_owner_pack_has_its_own_executive_page(rendered):
    _, pack, _ = rendered
    entries = json.loads((pack / "summary.json").read_text(encoding="utf-8"))["by_owner"]
    assert entries
    for entry in entries:
        sub = pack / entry["folder"]
        assert len(_pages(sub / ex.PDF)) == 1
        e = _executive(sub)
        flat = _flat(_text(sub / ex.PDF, layout=False))
        for owner in e["owners_overdue_critical"]:
            assert owner["owner"] == entry["owner"]     # only this owner's findings
        for image in e["top_images"]:
            assert image["leverage"] in flat
        assert ex.PDF in (sub / "manifest.json").read_text(encoding="utf-8")


# --- formatting and a large estate -------------------------------------------------------------------

def test_numbers_are_exact_never_abbreviated():
    assert ex.count(1249) == "1,249"
    assert ex.count(1_020_431) == "1,020,431"
    assert ex.pct(4.55) == "4.55 %" and ex.pct(50.0) == "50.0 %" and ex.pct(0) == "0.0 %" and ex.pct(None) == "No data"
    assert ex.pct(33.333) == "33.33 %" and ex.pct(96.4) == "96.4 %"
    assert ex.days(12) == "12 d" and ex.days(7.4) == "7.4 d" and ex.days(None) == "No data"
    assert ex.target_text(">=", 90.0, True) == "target \u2265 90 %"
    assert ex.target_text("<=", 0, False) == "target \u2264 0"


def test_an_arrow_never_says_same_when_figures_differ():
    up = ex._trend_row(Trend("overdue", 1838.0, 1665.0, 173.0, "up", (("2026-09", 1665.0), ("2026-10", 1838.0))))
    assert (up["arrow"], up["change"], up["verdict"]) == ("\u2191", "up 173", "worse")
    down = ex._trend_row(Trend("compliance:DS-6", 88.5, 92.25, -3.75, "down", (("a", 92.25), ("b", 88.5))))
    assert (down["arrow"], down["change"], down["verdict"]) == ("\u2193", "down 3.75 pts", "worse")
    same = ex._trend_row(Trend("open", 5.0, 5.0, 0.0, "same", (("a", 5.0), ("b", 5.0))))
    assert same["change"] == "same" and same["verdict"] == ""
    none = ex._trend_row(Trend("overdue_critical", 117.0, None, None, "none", ()))
    assert none["arrow"] == "" and none["change"] == "no monthly history" and none["spark"] is None


def test_sparklines_and_chart_are_deterministic():
    series = (("2026-01", 3.0), ("2026-02", None), ("2026-03", 7.5), ("2026-04", 1.0))
    assert ex.sparkline(series) == ex.sparkline(series)
    assert ex.sparkline(series) != ex.sparkline(series[:-1] + (("2026-04", 2.0),))
    monthly = (("2026-03", 96.4, 12.0), ("2026-04", None, None), ("2026-05", 80.0, 30.5))
    assert ex.month_chart(monthly) == ex.month_chart(monthly)
    assert ex.month_chart(()) is None


LONG = "x" * 180
HOSTILE = "R&D <script>alert(1)</script>"


def large_model(model):
    """``model`` with the executive figures of a very large estate: 900 owners with 200-character
    names, 1.2 million findings, 13 months, images with very long names, a long organisation name."""
    months = [f"20{25 + (m + 2) // 12}-{(m + 2) % 12 + 1:02d}" for m in range(13)]
    series = tuple((m, float(1_000_000 + 7_919 * i)) for i, m in enumerate(months))[-12:]
    falling = tuple((m, float(2_000_000 - 7_919 * i)) for i, m in enumerate(months))[-12:]
    pct_series = tuple((m, round(60 + i * 2.37, 2)) for i, m in enumerate(months))[-12:]
    e = model.executive
    big = Executive(
        rag=tuple(Rag(f"{c.id} compliance", 61.37, 90.0, ">=", "red") for c in model.controls)
        + (Rag("Overdue critical findings", 48_213, 0, "<=", "red"), Rag("SLA attainment", 93.5, 95.0, ">=", "amber")),
        trends=(Trend("open", series[-1][1], series[-2][1], 7_919.0, "up", series),
                Trend("overdue", falling[-1][1], falling[-2][1], -7_919.0, "down", falling),
                Trend("overdue_critical", 48_213.0, None, None, "none", ()))
        + tuple(Trend(f"compliance:{c.id}", pct_series[-1][1], pct_series[-2][1], 2.37, "up", pct_series)
                for c in model.controls),
        monthly=tuple((m, round(90 + (i % 5) * 2.13, 2), 1_234.5 - i) for i, m in enumerate(months)),
        top_images=tuple(ImageExposure(f"registry{i}.azurecr.io/team-{i}/{LONG}-{i}", 45_000 - i, 8_000 + i,
                                       1_500 + i, 40_000) for i in range(5)),
        base_images=e.base_images,
        unique_cves={"Critical": (4_321, 250_000), "High": (12_345, 400_000), "Medium": (23_456, 450_000),
                     "Low": (3_456, 100_000), "Unknown": (12, 34)},
        environments={"production": {"open": 600_000, "critical": 120_000, "overdue": 500_000, "clusters": 4_000},
                      "non-production": {"open": 500_000, "critical": 100_000, "overdue": 450_000, "clusters": 5_000},
                      "untagged": {"open": 104_034, "critical": 30_000, "overdue": 90_000, "clusters": 1_000}},
        owners_overdue_critical=((HOSTILE, 901, 2),) + tuple((f"owner-{i:03d}-" + "y" * 190 + "@example.com", 900 - i, 40)
                                                         for i in range(899)),
        environment_tag_keys=("environment", "env", "z" * 150), production_values=("prod", "production"))
    meta = replace(model.meta, organization="The Very Long Organisation Name " * 8, run_id="run-" + "r" * 150)
    return replace(model, executive=big, meta=meta)


@pytest.fixture(scope="module")
def large_pdf(rendered, tmp_path_factory):
    _, _, model = rendered
    out = tmp_path_factory.mktemp("large")
    big = large_model(model)
    write_summary(big, out / "summary.json")
    return ex.write_executive_pdf(big, out / ex.PDF), big


def test_large_estate_is_still_one_page(large_pdf):
    path, _ = large_pdf
    assert len(_pages(path)) == 1


@needs_pdftotext
def test_large_estate_clips_names_and_says_how_many_more(large_pdf):
    path, big = large_pdf
    text = _text(path)
    flat = _flat(_text(path, layout=False))
    assert HOSTILE in flat and "&amp;" not in flat and "&lt;" not in flat    # escaped once, shown as written
    assert "And 895 more owners with" in flat
    more = sum(n for _, n, _ in big.executive.owners_overdue_critical[ex.OWNERS:])
    assert f"{more:,} overdue critical findings" in flat
    assert LONG not in flat and "\u2026" in flat            # long names are clipped, not overflowing
    assert "250,000" in flat and "1,233.5" in flat        # exact values, never "250k"
    assert "48,213 (target \u2264 0)" in flat and "AMBER" in flat
    assert not re.search(r"\d(\.\d)?k\b", flat)
    for line in text.splitlines():   # nothing runs past the page's text width (pdftotext keeps columns)
        assert len(line) < 260, line[:120]


def test_a_second_page_is_refused_not_shipped(rendered, tmp_path, monkeypatch):
    _, pack, model = rendered
    monkeypatch.setattr(ex, "OWNERS", 60)    # far more rows than the page holds
    big = large_model(model)
    write_summary(big, tmp_path / "summary.json")
    with pytest.raises(RenderError, match="not one"):
        ex.write_executive_pdf(big, tmp_path / ex.PDF)
    assert not (tmp_path / ex.PDF).exists()


@needs_pdftotext
def test_no_figures_say_no_data(rendered, tmp_path):
    _, _, model = rendered
    e = model.executive
    empty = replace(e, rag=tuple(replace(r, value=None, status="No data") for r in e.rag),
                    trends=tuple(Trend(t.name, None, None, None, "none", ()) for t in e.trends),
                    monthly=(), top_images=(), owners_overdue_critical=(),
                    unique_cves={s: (0, 0) for s in e.unique_cves},
                    environments={k: {"open": 0, "critical": 0, "overdue": 0, "clusters": 0} for k in e.environments})
    nothing = replace(model, executive=empty)
    write_summary(nothing, tmp_path / "summary.json")
    path = ex.write_executive_pdf(nothing, tmp_path / ex.PDF)
    assert len(_pages(path)) == 1
    flat = _flat(_text(path, layout=False))
    assert "No data (target \u2265 90 %)" in flat and "No data (target \u2264 0)" in flat
    assert "No open critical finding" in flat and "No owner has an overdue critical finding" in flat
    assert "No data: no finding was fixed" in flat
    assert flat.count("no monthly history") == len(e.trends)
    assert "GREEN" not in flat and "RED" not in flat
