"""The executive one-pager's figures (issue 11 item 1), computed from the finished model.

Status rule (stated on the page): green when the value meets its target; amber when it misses
it by at most AMBER_MARGIN_PCT points (percentages) or by at most AMBER_MARGIN_COUNT findings
above a count target; red otherwise; "No data" without a figure. Arrows compare the current
snapshot with the previous history point: "up", "down" or "same" -- never "same" when the
figures differ. Base images: Defender's per-CVE findings carry no base-image field that this
tool reads, so the page says "not reported by Defender" instead of guessing one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import pandas as pd

from reportgen.aggregate.common import text
from reportgen.aggregate.owners import tag_levels

AMBER_MARGIN_PCT = 5.0
AMBER_MARGIN_COUNT = 5
TOP_IMAGES = 5
BASE_IMAGES_NOTE = "not reported by Defender"
ENV_CLASSES = ("production", "non-production", "untagged")


@dataclass(frozen=True)
class Rag:
    name: str                  # "DS-6 compliance", "Overdue critical findings", "SLA attainment"
    value: float | None
    target: float
    comparison: str            # ">=" | "<="
    status: str                # green | amber | red | No data


@dataclass(frozen=True)
class Trend:
    name: str                  # open | overdue | overdue_critical | compliance:<control>
    current: float | None
    previous: float | None
    change: float | None
    direction: str             # up | down | same | none (no earlier figure)
    series: tuple[tuple[str, float | None], ...]   # (month label, value), oldest first, up to 12


@dataclass(frozen=True)
class ImageExposure:
    image: str                 # registry/repository
    critical: int              # open critical findings
    clusters: int              # clusters they are on
    cves: int                  # distinct CVEs among them
    fixable: int | None = None  # of the critical findings, those with a fix published (None: not known)

    @property
    def leverage(self) -> str:
        """What rebuilding the image buys, in one sentence: "rebuild payments/payouts-api: clears 31
        critical findings on 4 clusters". A rebuild clears only the findings that have a fix, so when
        some have none the sentence says "up to" and how many stay."""
        def n(count: int, word: str) -> str:
            return f"{count:,} {word}{'' if count == 1 else 's'}"
        where = f"{n(self.critical, 'critical finding')} ({n(self.cves, 'distinct CVE')}) on {n(self.clusters, 'cluster')}"
        if self.fixable is None or self.fixable >= self.critical:
            return f"rebuild {self.image}: clears {where}"
        stay = self.critical - self.fixable
        return (f"rebuild {self.image}: clears up to {self.fixable:,} of its {where}; "
                f"{stay:,} {'has' if stay == 1 else 'have'} no published fix")


@dataclass(frozen=True)
class Executive:
    rag: tuple[Rag, ...]
    trends: tuple[Trend, ...]
    monthly: tuple[tuple[str, float | None, float | None], ...]   # (month, SLA attainment %, median days to fix), "All"
    top_images: tuple[ImageExposure, ...]
    base_images: str           # BASE_IMAGES_NOTE
    unique_cves: Mapping[str, tuple[int, int]]   # severity -> (distinct CVEs, open findings)
    environments: Mapping[str, Mapping[str, int]]   # class -> open, critical, overdue, clusters
    owners_overdue_critical: tuple[tuple[str, int, int], ...]   # (owner, overdue critical, clusters)
    environment_tag_keys: tuple[str, ...] = field(default=())     # [environment] tag_keys, in lookup order
    production_values: tuple[str, ...] = field(default=())        # [environment] production_values
    amber_rule: str = (f"green: target met; amber: missed by at most {AMBER_MARGIN_PCT:g} points or "
                       f"{AMBER_MARGIN_COUNT} findings; red: missed by more")


def rag_status(value: float | None, target: float, comparison: str) -> str:
    if value is None:
        return "No data"
    gap = (target - value) if comparison == ">=" else (value - target)
    if gap <= 0:
        return "green"
    margin = AMBER_MARGIN_PCT if comparison == ">=" else AMBER_MARGIN_COUNT
    return "amber" if gap <= margin else "red"


def direction(current: float | None, previous: float | None) -> str:
    if current is None or previous is None:
        return "none"
    return "up" if current > previous else "down" if current < previous else "same"


def _trend(name: str, series: list[tuple[str, float | None]]) -> Trend:
    series = series[-12:]
    cur = series[-1][1] if series else None
    prev = series[-2][1] if len(series) > 1 else None
    change = None if cur is None or prev is None else round(cur - prev, 2)
    return Trend(name, cur, prev, change, direction(cur, prev), tuple(series))


def environment_of(clusters: pd.DataFrame, resource_containers: pd.DataFrame, tag_keys: tuple[str, ...],
                   production_values: tuple[str, ...]) -> pd.Series:
    """Environment class per cluster rid: the first tag key on the cluster, then its resource group, then
    its subscription (as owner tags, reportgen.aggregate.owners); no tag = "untagged"."""
    value = pd.Series([None] * len(clusters), index=clusters.index, dtype=object)
    for _, level in tag_levels(clusters, resource_containers, tuple(k.lower() for k in tag_keys)):
        value = value.where(value.notna(), level)
    prod = set(production_values)
    cls = value.map(lambda v: "untagged" if v is None or (isinstance(v, float)) else
                    "production" if v in prod else "non-production")
    return pd.Series(cls.to_numpy(), index=clusters["rid"].to_numpy())


def build_executive(model, env_by_rid: pd.Series, targets) -> Executive:
    f = model.tables.findings
    open_ = f[f["state"].eq("Open")]
    crit = open_[open_["severity"].eq("Critical")]
    rag = [Rag(f"{c.id} compliance", c.compliance_pct, targets.compliance_min_pct, ">=",
               rag_status(c.compliance_pct, targets.compliance_min_pct, ">="))
           for c in model.controls]
    oc = int(model.findings.overdue_by_severity.get("Critical", 0))
    rag.append(Rag("Overdue critical findings", oc, targets.overdue_critical_max, "<=",
                   rag_status(oc, targets.overdue_critical_max, "<=")))
    sla = model.period.sla_attainment_pct if model.period is not None else None
    rag.append(Rag("SLA attainment", sla, targets.sla_attainment_min_pct, ">=",
                   rag_status(sla, targets.sla_attainment_min_pct, ">=")))

    h = model.history
    trends = [
        _trend("open", [(p.label, float(sum(p.open_by_severity.values()))) for p in h]),
        _trend("overdue", [(p.label, float(p.overdue)) for p in h]),
    ]
    # overdue critical per month is not kept in history points: only the current figure, no arrow
    trends.append(Trend("overdue_critical", float(oc), None, None, "none", ()))
    for c in model.controls:
        trends.append(_trend(f"compliance:{c.id}", [(p.label, p.compliance_pct.get(c.id)) for p in h]))

    monthly = tuple((m.month, m.attainment_pct, m.median_days_to_fix)
                    for m in (model.period.monthly if model.period is not None else ()) if m.severity == "All")

    image = text(crit["registryHost"]) + "/" + text(crit["repositoryName"])
    grouped = pd.DataFrame({"image": image, "rid": text(crit["resourceId"]).str.lower(), "cve": text(crit["cveId"]),
                            "fix": crit["fixable"].fillna(False).astype(bool) if "fixable" in crit else False})
    tops = []
    if len(grouped):
        agg = grouped.groupby("image").agg(critical=("cve", "size"), clusters=("rid", "nunique"), cves=("cve", "nunique"),
                                         fixable=("fix", "sum"))
        agg = agg.reset_index().sort_values(["critical", "image"], ascending=[False, True]).head(TOP_IMAGES)
        tops = [ImageExposure(r.image, int(r.critical), int(r.clusters), int(r.cves), int(r.fixable)) for r in agg.itertuples()]

    unique = {s: (int(text(g["cveId"]).nunique()), int(len(g))) for s, g in open_.groupby("severity", sort=False)}
    order = ("Critical", "High", "Medium", "Low", "Unknown")
    unique = {s: unique.get(s, (0, 0)) for s in order}

    env = text(open_["resourceId"]).str.lower().map(env_by_rid).fillna("untagged")
    envs = {}
    for cls in ENV_CLASSES:
        sel = open_[env.eq(cls).to_numpy()]
        envs[cls] = {"open": int(len(sel)), "critical": int(sel["severity"].eq("Critical").sum()),
                     "overdue": int(sel["overdue"].astype(bool).sum()),
                     "clusters": int((env_by_rid == cls).sum())}

    ocf = model.tables.overdue_critical
    owners = []
    if len(ocf):
        g = ocf.groupby("owner").agg(n=("cveId", "size"), clusters=("resourceId", lambda s: s.str.lower().nunique()))
        g = g.reset_index().sort_values(["n", "owner"], ascending=[False, True])
        owners = [(str(r.owner), int(r.n), int(r.clusters)) for r in g.itertuples()]
    return Executive(rag=tuple(rag), trends=tuple(trends), monthly=monthly, top_images=tuple(tops),
                     base_images=BASE_IMAGES_NOTE, unique_cves=unique, environments=envs,
                     owners_overdue_critical=tuple(owners))
