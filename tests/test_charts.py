"""Executive charts: pure functions of the model, deterministic files, honest empty states.

The model comes from the hand-made fixture tenant of test_pdf.py (two earlier months).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import matplotlib
import pytest
from matplotlib import font_manager
from matplotlib.figure import Figure

from reportgen import pipeline
from reportgen.aggregate.model import SEVERITY_ORDER, OwnerResult, SlaRow
from reportgen.assets import asset_dir
from reportgen.config import RunConfig
from reportgen.render import charts

from tests.test_pdf import _period, write_fixture_tenant


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """With the hand-made period population of tests/test_pdf.py (one month: 4 met, 2 missed)."""
    root = tmp_path_factory.mktemp("charts")
    snapshot_dir, history_dir = write_fixture_tenant(root)
    return replace(pipeline.build(snapshot_dir, RunConfig(), history_dir), period=_period())


@pytest.fixture(scope="module")
def quiet_model(model):
    """Nothing open, no history: every chart must say so instead of drawing empty axes."""
    findings = model.tables.findings
    zero = {s: 0 for s in SEVERITY_ORDER}
    return replace(
        model, history=(), period=None,
        owners=tuple(replace(o, open_findings=0, by_severity=zero, overdue=0, overdue_critical=0) for o in model.owners),
        sla=tuple(SlaRow(severity=r.severity, days=r.days, open=0, within_sla=0, overdue=0) for r in model.sla),
        tables=replace(model.tables, findings=findings[findings["state"].ne("Open")]),
    )


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def _bars(fig: Figure) -> int:
    return sum(len(ax.patches) for ax in fig.axes)


def test_every_chart_draws_data(model):
    with charts.style():
        for name, _title, _alt, draw, _wide in charts.CHARTS:
            fig = draw(model)
            assert isinstance(fig, Figure), name
            assert fig.axes and fig.axes[0].axison, name
            assert _bars(fig) or any(ax.lines for ax in fig.axes), name


def test_charts_show_the_models_figures(model):
    with charts.style():
        owners = charts.owners_by_severity(model)
        labels = [t.get_text() for t in owners.axes[0].get_yticklabels()]
        charted = [o for o in model.owners if o.open_findings]
        assert labels == [o.owner for o in charted]
        assert [t.strip() for t in _texts(owners)] == [f"{o.open_findings:,}" for o in charted]
        sla = charts.sla_status(model)
        for row in model.sla:
            if row.open:
                assert (f"  {row.overdue:,} overdue" if row.overdue else "  none overdue") in _texts(sla)
        trend = charts.compliance_trend(model)
        for line, control in zip(trend.axes[0].lines, model.controls):
            assert list(line.get_ydata()) == [p.compliance_pct[control.id] for p in model.history]
        flows = charts.new_vs_resolved(model)
        heights = [round(p.get_height()) for p in flows.axes[0].patches]
        months = [p for p in model.history if p.new is not None]
        assert heights == [p.new for p in months] + [p.resolved for p in months]


def test_age_buckets_cover_every_open_finding(model):
    buckets = charts.open_age_buckets(model)
    assert [label for label, _ in buckets] == [label for label, _, _ in charts.AGE_BUCKETS]
    for severity in SEVERITY_ORDER:
        assert sum(counts[severity] for _, counts in buckets) == model.findings.by_severity[severity]
    assert sum(sum(c.values()) for _, c in buckets) == model.findings.open


def test_empty_states_say_so(quiet_model):
    with charts.style():
        assert _texts(charts.compliance_trend(quiet_model)) == ["No compliance history"]
        assert _texts(charts.new_vs_resolved(quiet_model)) == ["Needs at least two months of history"]
        for draw in (charts.owners_by_severity, charts.sla_status, charts.age_of_open_findings):
            assert _texts(draw(quiet_model)) == ["No open findings"]
        assert _texts(charts.sla_attainment(quiet_model)) == ["No lineage was fixed in the period"]


def test_one_month_of_history_is_a_point_not_an_error(model):
    with charts.style():
        fig = charts.compliance_trend(replace(model, history=model.history[-1:]))
        assert len(fig.axes[0].lines[0].get_xdata()) == 1
        assert _texts(charts.new_vs_resolved(replace(model, history=model.history[:1]))) == [
            "Needs at least two months of history"]


def test_many_owners_are_cut_to_the_top(model):
    many = tuple(OwnerResult(owner=f"team-{i:02d}", source="tag:resource", clusters=1, non_compliant_clusters=1,
                             open_findings=100 - i, by_severity={"Critical": 100 - i}, overdue=0, overdue_critical=0)
                 for i in range(30))
    with charts.style():
        fig = charts.owners_by_severity(replace(model, owners=many))
    assert len(fig.axes[0].get_yticklabels()) == charts.TOP_OWNERS


def test_style_restores_matplotlib_settings(model):
    before = dict(matplotlib.rcParams)
    with charts.style():
        assert matplotlib.rcParams["font.family"] == [charts.FONT_FAMILY]
        assert matplotlib.rcParams["svg.hashsalt"] == "reportgen"
        charts.sla_status(model)
    after = dict(matplotlib.rcParams)
    assert after == before


def test_charts_use_the_shipped_font(model):
    with charts.style():
        path = font_manager.findfont(font_manager.FontProperties(family=charts.FONT_FAMILY), fallback_to_default=False)
    assert Path(path).parent == asset_dir("templates") / "fonts"


def test_severity_colours_darken_with_severity():
    def luminance(hex_colour: str) -> float:
        channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    values = [luminance(charts.SEVERITY_COLORS[s]) for s in SEVERITY_ORDER]  # Critical first
    assert values == sorted(values)
    # neighbours differ visibly in greyscale
    assert all(b - a > 0.05 for a, b in zip(values, values[1:]))


def test_written_files_are_deterministic_and_carry_no_timestamp(model, tmp_path):
    first = charts.write_charts(model, tmp_path / "a")
    second = charts.write_charts(model, tmp_path / "b")
    assert [c.name for c in first] == [name for name, *_ in charts.CHARTS]
    assert first == charts.planned_charts(tmp_path / "a")
    for a, b in zip(first, second):
        for x, y in ((a.svg, b.svg), (a.png, b.png)):
            assert hashlib.sha256(x.read_bytes()).digest() == hashlib.sha256(y.read_bytes()).digest(), x.name
        svg = a.svg.read_text(encoding="utf-8")
        assert "<dc:date>" not in svg and "Matplotlib v" not in svg
        png = a.png.read_bytes()
        assert b"tIME" not in png and b"Software" not in png and b"matplotlib" not in png.lower()


def test_a_month_without_a_figure_is_a_labelled_gap_not_a_point(model):
    """No data is neither 0 nor 100: the line breaks there and the month says No data."""
    history = list(model.history)
    history[1] = replace(history[1], compliance_pct={c.id: None for c in model.controls})
    history[2] = replace(history[2], compliance_pct={model.controls[0].id: None,
                                                     **{c.id: 80.0 for c in model.controls[1:]}})
    with charts.style():
        fig = charts.compliance_trend(replace(model, history=tuple(history)))
    ax = fig.axes[0]
    first, second = ax.lines[0].get_ydata(), ax.lines[1].get_ydata()
    assert first[0] == history[0].compliance_pct[model.controls[0].id]
    assert first[1] != first[1] and first[2] != first[2]          # NaN: no point
    assert second[1] != second[1] and second[2] == 80.0
    texts = _texts(fig)
    assert "No data" in texts                                     # the month where no control has a figure
    assert f"{model.controls[0].id}\nno data" in texts            # the month where one control has none
    assert "80.0%" in texts                                       # the last figure that exists is labelled


def test_sla_attainment_shows_each_months_exact_figures(model):
    """One month: 4 met, 2 missed = 66.67 %, median 19.75 days to fix (hand-made in tests/test_pdf.py)."""
    with charts.style():
        fig = charts.sla_attainment(model)
    bars, line_axis = fig.axes
    assert [round(p.get_height(), 2) for p in bars.patches] == [66.67]
    assert "66.67%" in _texts(fig) and "19.8 d" in _texts(fig)
    assert list(line_axis.lines[0].get_ydata()) == [19.75]
    assert bars.get_ylabel() == "SLA attainment" and line_axis.get_ylabel() == "median days to fix"
    assert [t.get_text() for t in bars.get_xticklabels()] == ["Oct\n2026"]


def test_a_month_without_a_fix_that_had_a_due_date_is_labelled_not_100(model):
    from reportgen.aggregate.model import MonthlySla
    months = (MonthlySla("2026-09", "All", 2, 0, 0, None, None, None),
              MonthlySla("2026-10", "All", 6, 4, 2, 66.67, 24.0, 19.75),
              MonthlySla("2026-10", "High", 4, 3, 1, 75.0, 20.25, 18.0))   # per severity: not charted
    with charts.style():
        fig = charts.sla_attainment(replace(model, period=replace(model.period, monthly=months)))
    bars = fig.axes[0]
    assert [round(p.get_height(), 2) for p in bars.patches] == [0, 66.67]
    assert "no fix with a due date" in _texts(fig) and "100.00%" not in _texts(fig)
    assert [v == v for v in fig.axes[1].lines[0].get_ydata()] == [False, True]   # no median: a gap (NaN)
