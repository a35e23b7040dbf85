"""The one jinja2 environment for the PDF templates, and its formatting filters.

Autoescape is always on (tag values, cluster names and CVE titles come from tenants) and
undefined names fail loudly, so a template can never silently print nothing. Filters only
format finished values from the report model: no arithmetic that changes a figure.

Every printed value passes through ``finalize``, so no template can forget it: a value
that is not markup or a number is shown as a name by ``reportgen.render.text.shown``
(capped, controls and bidi characters visible, long runs breakable). Kinds that may be
longer say so with a filter: ``resource_id``, ``prose``, ``query_text``. ``join`` shows
each item the same way. A render that passes a ``TextCuts`` as ``text_cuts`` learns how
many values were cut.
"""

from __future__ import annotations

import functools
import math
from datetime import date, datetime
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup, escape

from reportgen.assets import asset_dir
from reportgen.render import text

DASH = "\u2014"

SEVERITY_CLASSES = {"Critical": "sev-critical", "High": "sev-high", "Medium": "sev-medium", "Low": "sev-low"}
STATUS_CLASSES = {
    "Passed": "st-pass", "Failed": "st-fail", "No data": "st-none",
    "complete": "st-pass", "partial": "st-warn", "skipped": "st-fail", "failed": "st-fail",
    "Compliant": "st-pass", "NonCompliant": "st-fail", "Exempt": "st-warn", "Conflict": "st-warn",
    "Active": "st-pass", "Expiring": "st-warn", "Expired": "st-fail",
    "Healthy": "st-pass", "Unhealthy": "st-fail", "NotApplicable": "st-none", "Not assessed": "st-fail",
    "Skipped": "st-none", "Unsupported": "st-none",
    "No findings": "st-none", "No evidence": "st-warn", "No policy state": "st-none",
}
VERDICT_CLASSES = {"met": "st-pass", "missed": "st-fail", "open-overdue": "st-fail", "open-within": "st-warn"}


def is_missing(value: Any) -> bool:
    """None, NaN, NaT and pandas NA all display as a dash."""
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return False


def fmt_int(value: Any) -> str:
    """1234567 -> '1,234,567'."""
    if is_missing(value):
        return DASH
    return f"{int(value):,}"


def fmt_pct(value: Any, digits: int = 2) -> str:
    """A percentage already computed by the model -> '97.50%'."""
    if is_missing(value):
        return DASH
    return f"{float(value):.{digits}f}%"


def fmt_compliance(value: Any, digits: int = 2) -> str:
    """A compliance figure, or 'No data' where there is none (never a dash that could pass for 0)."""
    if is_missing(value):
        return "No data"
    return fmt_pct(value, digits)


def fmt_points(value: Any) -> str:
    """A change in percentage points: '+1.25 pts', '\u22120.50 pts', 'no change'; dash when unknown."""
    if is_missing(value):
        return DASH
    value = float(value)
    if value == 0:
        return "no change"
    sign = "+" if value > 0 else "\u2212"
    return f"{sign}{abs(value):.2f} pts"


def fmt_days(value: Any, digits: int = 0) -> str:
    if is_missing(value):
        return DASH
    return f"{float(value):,.{digits}f}"


def fmt_date(value: Any) -> str:
    """Dates as ISO 'YYYY-MM-DD' (unambiguous for an international audit trail)."""
    if is_missing(value):
        return DASH
    if isinstance(value, (pd.Timestamp, datetime)):
        ts = pd.Timestamp(value)
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC")
        return ts.strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def fmt_long_date(value: Any) -> str:
    """'31 October 2026' for prose and the cover."""
    if is_missing(value):
        return DASH
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC")
    return f"{ts.day} {ts.strftime('%B %Y')}"


def fmt_datetime(value: Any) -> str:
    """UTC timestamps: '2026-10-31 23:00 UTC'."""
    if is_missing(value):
        return DASH
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.strftime("%Y-%m-%d %H:%M UTC")


def fmt_iso(value: Any) -> str:
    """UTC ISO 8601, for machine-readable metadata ('2026-10-31T23:00:00Z')."""
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def fmt_score(value: Any) -> str:
    if is_missing(value):
        return DASH
    return f"{float(value):.1f}"


def short_hash(value: Any, head: int = 12) -> str:
    """A sha256 shown by its first characters; the full value is in the workbook and manifest."""
    if is_missing(value) or not str(value):
        return DASH
    return str(value)[:head]


def short_digest(value: Any, head: int = 8, tail: int = 4) -> str:
    """'sha256:0123abcd\u20269f3e': enough to recognise a digest, not enough to overflow a cell."""
    if is_missing(value) or not str(value):
        return DASH
    text = str(value)
    algo, sep, digest = text.partition(":")
    if not sep:
        algo, digest = "", text
    if len(digest) <= head + tail + 1:
        return text
    return f"{algo}{sep}{digest[:head]}\u2026{digest[-tail:]}"


def arm_tail(value: Any, parts: int = 2) -> str:
    """The last segments of an ARM id ('resourceGroups/rg-x' style) for narrow cells."""
    if is_missing(value) or not str(value):
        return DASH
    segments = [s for s in str(value).split("/") if s]
    return "/".join(segments[-parts:]) if len(segments) > parts else str(value)


def dash(value: Any) -> Any:
    """Missing or empty values display as an em dash."""
    if is_missing(value) or (isinstance(value, str) and not value.strip()):
        return DASH
    return value


def plural(count: Any, singular: str, plural_form: str | None = None) -> str:
    """'1 cluster', '3 clusters' (grammar, not arithmetic)."""
    n = 0 if is_missing(count) else int(count)
    word = singular if n == 1 else (plural_form or singular + "s")
    return f"{n:,} {word}"


def severity_class(severity: Any) -> str:
    return SEVERITY_CLASSES.get(str(severity), "sev-unknown")


SEVERITY_SHORT = {"Critical": "Crit.", "High": "High", "Medium": "Med.", "Low": "Low", "Unknown": "Unkn."}


def severity_short(severity: Any) -> str:
    """Column headings for narrow severity columns."""
    return SEVERITY_SHORT.get(str(severity), str(severity))


def status_class(status: Any) -> str:
    return STATUS_CLASSES.get(str(status), "st-none")


def verdict_class(verdict: Any) -> str:
    """The pill colour of an SLA verdict of the period population."""
    return VERDICT_CLASSES.get(str(verdict), "st-none")


class TextCuts:
    """How many values one render cut (the PDF then says what the cut mark means)."""

    def __init__(self) -> None:
        self.count = 0


def _shown(ctx: jinja2.runtime.Context, value: Any, kind: str) -> str:
    shown, cut = text.shown(value, kind)
    if cut:
        cuts = ctx.get("text_cuts")
        if cuts is not None:
            cuts.count += 1
    return shown


@jinja2.pass_context
def finalize(ctx: jinja2.runtime.Context, value: Any) -> Any:
    """Every ``{{ ... }}``: markup (a macro's output, a filter's below) and numbers as they are,
    anything else shown as a name."""
    if value is None or isinstance(value, (Markup, int, float)):
        return value
    return _shown(ctx, value, "name")


def _kind_filter(kind: str):
    @jinja2.pass_context
    def show(ctx: jinja2.runtime.Context, value: Any) -> Markup:
        return escape(_shown(ctx, value, kind))
    show.__doc__ = f"A value shown as text of kind {kind!r} (at most {text.LIMITS[kind]:,} characters)."
    return show


@jinja2.pass_context
def join(ctx: jinja2.runtime.Context, values: Any, separator: str = "", attribute: str | None = None) -> Markup:
    """jinja's ``join``, each item shown as a name (its result is markup, which ``finalize`` passes)."""
    if attribute is not None:
        values = map(jinja2.filters.make_attrgetter(ctx.environment, attribute), values)
    return escape(separator).join(v if isinstance(v, Markup) else escape(_shown(ctx, v, "name")) for v in values)


FILTERS = {
    "num": fmt_int, "pct": fmt_pct, "compliance": fmt_compliance, "points": fmt_points, "days": fmt_days, "date": fmt_date,
    "long_date": fmt_long_date, "datetime": fmt_datetime, "iso": fmt_iso, "score": fmt_score,
    "short_hash": short_hash, "short_digest": short_digest, "arm_tail": arm_tail, "dash": dash,
    "plural": plural, "sev_class": severity_class, "sev_short": severity_short,
    "status_class": status_class, "verdict_class": verdict_class,
    "resource_id": _kind_filter("id"), "prose": _kind_filter("text"), "query_text": _kind_filter("query"),
    "join": join,
}


@functools.lru_cache(maxsize=4)
def environment(templates_dir: str | None = None) -> jinja2.Environment:
    """The jinja environment over ``templates/`` (found with ``asset_dir``), cached per folder."""
    folder = templates_dir or str(asset_dir("templates"))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=finalize,
    )
    env.filters.update(FILTERS)
    return env
