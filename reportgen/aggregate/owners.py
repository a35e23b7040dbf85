"""Owner of each cluster, with the source of the attribution (DESIGN.md §6).

First that applies: the Defender governance assignment owner for the cluster's
assessment; the first configured tag key on the cluster, then its resource group, then
its subscription; the owner mapping file; else the fallback. Owner values are trimmed
and lower-cased. A finding's owner is its cluster's owner.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from reportgen.aggregate.common import lower_id, parse_arm, tag_lookup, text
from reportgen.errors import ConfigError

SOURCES = ("governance", "tag:resource", "tag:resource-group", "tag:subscription", "mapping", "fallback")


def load_mapping(path: Path) -> list[tuple[str, str]]:
    """Owner mapping CSV with columns ``scope,owner``: an ARM id prefix (subscription,
    resource group or cluster id) and the owner for everything under it. Longest prefix wins."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            cols = [c.strip().lower() for c in (reader.fieldnames or [])]
            for needed in ("scope", "owner"):
                if needed not in cols:
                    raise ConfigError(f"owner mapping file {path}: missing column {needed!r}",
                                      hint="the header must be: scope,owner")
            rows = []
            for lineno, row in enumerate(reader, start=2):
                row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
                if not row["scope"] or not row["owner"]:
                    raise ConfigError(f"owner mapping file {path}: line {lineno} needs both scope and owner")
                rows.append((row["scope"].rstrip("/").lower(), row["owner"].lower()))
    except FileNotFoundError:
        raise ConfigError(f"owner mapping file {path} not found", hint="check [owners] mapping_file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"owner mapping file {path}: not UTF-8 text") from None
    return sorted(rows, key=lambda r: -len(r[0]))


def cluster_universe(clusters: pd.DataFrame, extra_ids: pd.Series) -> pd.DataFrame:
    """Clusters of the inventory plus any resource seen only in policy states or findings.

    Columns: rid (lower id), id, name, subscriptionId, resourceGroup, location, tags.
    """
    base = pd.DataFrame({
        "rid": lower_id(clusters["id"]), "id": text(clusters["id"]), "name": text(clusters["name"]),
        "subscriptionId": text(clusters["subscriptionId"]), "resourceGroup": text(clusters["resourceGroup"]),
        "location": text(clusters["location"]), "tags": clusters["tags"], "inInventory": True,
    }).drop_duplicates("rid", keep="first")
    # distinct ids first: a million finding rows name a few thousand clusters
    extra = pd.Series([str(v) for v in pd.unique(extra_ids.dropna().to_numpy(dtype=object))], dtype=object)
    extra = extra[~lower_id(extra).isin(set(base["rid"])) & extra.str.strip().ne("")]
    if len(extra):
        extra = extra.groupby(lower_id(extra)).first()
        parsed = [parse_arm(i) for i in extra]
        base = pd.concat([base, pd.DataFrame({
            "rid": extra.index, "id": extra.to_numpy(), "name": [p[2] for p in parsed],
            "subscriptionId": [p[0] for p in parsed], "resourceGroup": [p[1] for p in parsed],
            "location": "", "tags": None, "inInventory": False,
        })], ignore_index=True)
    return base.reset_index(drop=True)


def resolve_owners(
    universe: pd.DataFrame,
    resource_containers: pd.DataFrame,
    assessments: pd.DataFrame,
    governance: pd.DataFrame,
    assessment_keys: tuple[str, ...],
    tag_keys: tuple[str, ...],
    mapping: list[tuple[str, str]],
    fallback: str,
) -> pd.DataFrame:
    """Return ``universe`` with added columns owner, ownerSource, governanceDueDate, ownerTag (the owner the
    configured tags name, "" if none) and ownerConflict (a governance owner that differs from ownerTag)."""
    keys_lower = tuple(k.strip().lower() for k in tag_keys)
    out = universe.copy()
    n = len(out)
    owner = pd.Series([None] * n, index=out.index, dtype=object)
    source = pd.Series([None] * n, index=out.index, dtype=object)

    # 1. Governance: assignment on the cluster's assessment (assessmentId = assessments.id).
    akeys = {k.lower() for k in assessment_keys}
    assess = assessments[text(assessments["assessmentKey"]).str.lower().isin(akeys)]
    assess_map = pd.DataFrame({"aid": lower_id(assess["id"]), "rid": lower_id(assess["resourceId"])})
    gov = pd.DataFrame({
        "aid": lower_id(governance["assessmentId"]),
        "gowner": text(governance["owner"]).str.strip().str.lower(),
        "due": governance["remediationDueDate"],
    })
    gov = gov.merge(assess_map, on="aid", how="inner")
    # The due date counts even when the assignment names no owner; the earliest one wins.
    due_by_rid = gov.groupby("rid")["due"].min() if len(gov) else pd.Series(dtype="datetime64[us, UTC]")
    out["governanceDueDate"] = pd.Series(due_by_rid.reindex(out["rid"]).to_numpy(), index=out.index,
                                         dtype="datetime64[us, UTC]")
    named = gov[gov["gowner"].ne("")].sort_values(["rid", "due", "gowner"], na_position="last")
    gov_by_rid = named.drop_duplicates("rid", keep="first").set_index("rid")
    g_owner = out["rid"].map(gov_by_rid["gowner"])
    has = g_owner.notna()
    owner[has], source[has] = g_owner[has], "governance"

    # 2. Tags: the cluster, then its resource group, then its subscription.
    levels = tag_levels(out, resource_containers, keys_lower)
    tag_owner = pd.Series([None] * n, index=out.index, dtype=object)
    for label, values in levels:
        take = owner.isna() & values.notna()
        owner[take], source[take] = values[take], label
        tag_owner = tag_owner.where(tag_owner.notna(), values)

    # 3. Mapping file (longest ARM id prefix), 4. fallback.
    if mapping:
        for i in out.index[owner.isna()]:
            rid = out.at[i, "rid"]
            for prefix, mapped in mapping:
                if rid == prefix or rid.startswith(prefix + "/"):
                    owner[i], source[i] = mapped, "mapping"
                    break
    rest = owner.isna()
    owner[rest], source[rest] = fallback, "fallback"
    out["owner"], out["ownerSource"] = owner, source
    # The owner the tags name, beside a governance owner that may contradict it (flagged, not resolved).
    out["ownerTag"] = tag_owner.fillna("").astype(object)
    out["ownerConflict"] = (source.eq("governance") & out["ownerTag"].ne("") & out["ownerTag"].ne(owner)).astype(bool)
    return out


def tag_levels(clusters: pd.DataFrame, resource_containers: pd.DataFrame,
               keys_lower: tuple[str, ...]) -> tuple[tuple[str, pd.Series], ...]:
    """The first of ``keys_lower`` tagged on each cluster, on its resource group and on its subscription:
    (level, values indexed like ``clusters``), most specific first; None where that level has no such tag."""
    rc_type = text(resource_containers["type"]).str.lower()
    rgs = resource_containers[rc_type.eq("microsoft.resources/subscriptions/resourcegroups")]
    subs = resource_containers[rc_type.eq("microsoft.resources/subscriptions")]
    rg_tag = pd.Series(
        [tag_lookup(t, keys_lower) for t in rgs["tags"]],
        index=lower_id(rgs["subscriptionId"]) + "/" + text(rgs["resourceGroup"]).where(
            text(rgs["resourceGroup"]).ne(""), text(rgs["name"])).str.lower(), dtype=object)
    rg_tag = rg_tag[~rg_tag.index.duplicated()]
    sub_tag = pd.Series([tag_lookup(t, keys_lower) for t in subs["tags"]], index=lower_id(subs["subscriptionId"]),
                        dtype=object)
    sub_tag = sub_tag[~sub_tag.index.duplicated()]
    subscription = lower_id(clusters["subscriptionId"])
    return (
        ("tag:resource", pd.Series([tag_lookup(t, keys_lower) for t in clusters["tags"]], index=clusters.index,
                                   dtype=object)),
        ("tag:resource-group", (subscription + "/" + text(clusters["resourceGroup"]).str.lower()).map(rg_tag)),
        ("tag:subscription", subscription.map(sub_tag)),
    )
