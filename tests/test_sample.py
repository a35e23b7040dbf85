"""The built-in sample tenant: valid, reproducible, realistic, with its special cases and history."""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from reportgen.collect import sample_catalog as cat
from reportgen.collect.sample import DEFAULT_AS_OF, SCALES, generate, parse_scale, write_sample
from reportgen.errors import UsageError
from reportgen.snapshot import DATASETS, read_snapshot

POLICY = cat.POLICY_DEFINITION_ID.lower()
KEY = cat.ASSESSMENT_KEY
AS_OF = pd.Timestamp("2026-10-31T06:00:00Z")


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _main_states(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    ps = frames["policy_states"]
    return ps[ps["policyDefinitionId"].str.lower() == POLICY]


def _finding_keys(df: pd.DataFrame, rid: str = "resourceId", cve: str = "cveId") -> pd.Series:
    return df[rid].str.lower() + "|" + df["imageDigest"] + "|" + df[cve] + "|" + df["packageName"]


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("small") / "snap"
    assert write_sample(out, "small", seed=1) == [out]
    return out


@pytest.fixture(scope="module")
def snap(small):
    return read_snapshot(small)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    base = tmp_path_factory.mktemp("hist")
    paths = write_sample(base / "current", "small", seed=3, history_dir=base / "history", months=3)
    return [read_snapshot(p) for p in [*paths[1:], paths[0]]]   # oldest first


# -- scale ------------------------------------------------------------------------------------------

def test_parse_scale_names_and_numbers():
    assert parse_scale("small") == 12 and parse_scale("MEDIUM") == 200 and parse_scale(" large ") == 2000
    assert SCALES == {"small": 12, "medium": 200, "large": 2000}
    assert parse_scale("5") == 5 and parse_scale(7) == 7 and parse_scale(3) == 3


@pytest.mark.parametrize("bad", ["huge", "", "2", "0", "-4", "1.5", "12x", 2, -1, 10**9, True])
def test_parse_scale_rejects_bad_values(bad):
    with pytest.raises(UsageError) as err:
        parse_scale(bad)
    assert "--scale" in err.value.one_line()


def test_write_sample_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="--scale"):
        write_sample(tmp_path / "x", scale="enormous")
    with pytest.raises(UsageError, match="--history-dir"):
        write_sample(tmp_path / "x", months=2)
    assert not (tmp_path / "x").exists()


# -- validity and metadata ----------------------------------------------------------------------------

def test_every_dataset_is_valid_and_provenance_is_complete(small, snap):
    meta = snap.meta
    assert meta["source"] == "sample" and meta["findings_source"] == "sample"
    assert meta["collected_at"] == "2026-10-31T06:00:00Z"
    assert meta["period"] == {"start": "2026-10-01", "end": "2026-10-31"}
    assert meta["sample"] == {"scale": "small", "seed": 1, "clusters": 12, "anchor_as_of": "2026-10-31",
                              "month_offset": 0}
    assert re.fullmatch(r"[0-9a-f]{32}", meta["run_id"])
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["scope"]["tenant_id"])
    subs = snap.frames["resource_containers"].query("type == 'microsoft.resources/subscriptions'")
    assert sorted(meta["scope"]["subscriptions"]) == sorted(subs["subscriptionId"])
    for name in DATASETS:
        info = snap.datasets[name]
        assert info.status == "complete" and info.rows == len(snap.frames[name])
        assert info.pages == math.ceil(info.rows / 1000)
        assert info.rows > 0, name
    assert not (small / "queries").exists()


def test_json_columns_hold_the_documented_shapes(snap):
    f = snap.frames
    for name, cols in DATASETS.items():
        for col, kind in cols.items():
            if kind == "json":
                parsed = f[name][col].map(json.loads)
                assert parsed.map(type).isin([dict] if col == "tags" else [list]).all(), (name, col)
    wl = f["findings"]["workloads"].map(json.loads)
    assert wl.map(len).min() >= 1
    assert all(set(w) == {"namespace", "kind", "name", "container"} for ws in wl for w in ws)
    assert f["findings"]["imageTags"].map(json.loads).map(len).min() >= 1


def test_same_seed_and_as_of_give_identical_files(small, tmp_path):
    again = tmp_path / "again"
    write_sample(again, "small", seed=1, as_of=DEFAULT_AS_OF)
    assert _files(again) == _files(small)
    other = tmp_path / "other"
    write_sample(other, "small", seed=2)
    assert _files(other)["data/findings.parquet"] != _files(small)["data/findings.parquet"]


# -- realism ---------------------------------------------------------------------------------------------

def test_estate_looks_real(snap):
    f = snap.frames
    clusters = f["clusters"]
    assert len(clusters) == 12
    assert clusters["name"].str.fullmatch(r"aks-[a-z]+-[a-z]+-[a-z0-9]+-\d{2}").all()
    assert clusters["id"].str.contains("/providers/Microsoft.ContainerService/managedClusters/").all()
    assert clusters["location"].nunique() >= 2
    containers = f["resource_containers"]
    subs = containers[containers["type"] == "microsoft.resources/subscriptions"]
    assert len(subs) == 3 and subs["name"].str.startswith("contoso-").all()
    rgs = containers[containers["type"] == "microsoft.resources/subscriptions/resourcegroups"]
    assert rgs["id"].str.fullmatch(r"/subscriptions/[0-9a-f-]{36}/resourceGroups/[^/]+").all()
    assert (rgs["resourceGroup"] == rgs["name"].str.lower()).all()
    assert not containers["id"].str.lower().duplicated().any() and not clusters["id"].str.lower().duplicated().any()
    assert clusters["resourceGroup"].isin(rgs["resourceGroup"]).all()
    # owner tags: mixed key casing, messy values, and nobody at all for some clusters
    keys = {k for t in pd.concat([clusters["tags"], containers["tags"]]).map(json.loads) for k in t
            if k.lower() == "owner"}
    assert len(keys) >= 2
    values = [v for t in pd.concat([clusters["tags"], containers["tags"]]).map(json.loads)
              for k, v in t.items() if k.lower() == "owner"]
    assert any(v != v.strip() or v != v.lower() for v in values)
    assert {"environment", "costcenter", "app"} <= set(json.loads(clusters["tags"].iloc[0]))


def test_findings_are_realistic(snap):
    fd = snap.frames["findings"]
    assert 1500 <= len(fd) <= 3500
    assert fd["cveId"].str.fullmatch(r"CVE-\d{4}-\d{4,}").all()
    assert fd["cveId"].nunique() >= 60
    sev = fd["severity"].value_counts(normalize=True)
    assert 0.005 < sev["Critical"] < 0.12 and sev["High"] > 0.2 and sev["Medium"] > 0.3 and sev["Low"] > 0.03
    fixable = fd["fixStatus"].eq("FixAvailable")
    assert 0.55 <= fixable.mean() <= 0.8
    assert (fd.loc[fixable, "fixedVersion"] != "").all() and (fd.loc[~fixable, "fixedVersion"] == "").all()
    assert set(fd.loc[~fixable, "fixStatus"]) <= {"NoFixAvailable", "WontFix"}
    assert fd["exploitable"].any() and not fd["exploitable"].all()
    assert fd["imageDigest"].str.fullmatch(r"sha256:[0-9a-f]{64}").all()
    assert fd["registryHost"].nunique() >= 4
    assert fd["osVersion"].nunique() >= 3 and (fd["osPlatform"] == "linux").all()
    assert fd["id"].str.contains(f"/providers/Microsoft.Security/assessments/{KEY}/subassessments/").all()
    assert (fd["assessmentKey"] == KEY).all()
    assert set(fd["statusCode"]) == {"Unhealthy", "NotApplicable"}
    assert (fd.loc[fd["statusCode"] == "NotApplicable", "statusCause"] == "Exempt").all()
    assert (fd["timeGenerated"] <= AS_OF).all() and (fd["publishedDate"] <= AS_OF).all()
    # real CVEs with their real packages
    pkgs = fd.groupby("cveId")["packageName"].agg(set)
    for cve, pkg in (("CVE-2023-44487", {"golang.org/x/net", "libnghttp2-14", "nghttp2-libs"}),
                     ("CVE-2023-4863", {"libwebp7", "libwebp6", "libwebp"})):
        if cve in pkgs:
            assert pkgs[cve] & pkg


def test_catalogue_is_consistent():
    ids = [c.id for c in cat.CVES]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"CVE-\d{4}-\d{4,}", i) for i in ids)
    band = lambda s: "Critical" if s >= 9 else "High" if s >= 7 else "Medium" if s >= 4 else "Low"  # noqa: E731
    assert all(band(c.cvss) == c.severity for c in cat.CVES)
    assert all(c.published <= "2026-01-01" for c in cat.CVES)
    assert all((v.fixed == "") == (v.fix_status != "FixAvailable") for v in cat.VARIANTS)
    by_id = {c.id: c for c in cat.CVES}
    assert by_id["CVE-2021-44228"].exploitable and by_id["CVE-2024-3094"].severity == "Critical"
    assert {v.package for v in cat.VARIANTS if cat.CVES[v.cve].id == "CVE-2021-44228"} == {
        "org.apache.logging.log4j:log4j-core"}


# -- special cases and cross-dataset consistency ---------------------------------------------------------

def _special_cases(frames: dict[str, pd.DataFrame], as_of: pd.Timestamp) -> None:
    clusters = frames["clusters"]
    cid = clusters["id"].str.lower()
    main = _main_states(frames)
    assert sorted(main["resourceId"].str.lower()) == sorted(cid)          # one row per cluster
    assert (main["resourceId"] == main["resourceId"].str.lower()).all()   # ARG returns ids lower-cased
    assert not main["resourceId"].isin(clusters["id"]).all()              # ... unlike the clusters dataset
    assert set(main["policyDefinitionGroupNames"].map(json.loads).map(tuple)) == {cat.POLICY_GROUPS}
    assert (main["policySetDefinitionId"] == cat.POLICY_SET_ID.lower()).all()
    assert (main["policyAssignmentName"] == "SecurityCenterBuiltIn").all()

    # exactly one exempt cluster, with a matching active policy exemption
    exempt = main[main["complianceState"] == "Exempt"]
    assert len(exempt) == 1
    ex = frames["exemptions"]
    match = ex[(ex["scope"].str.lower() == exempt["resourceId"].iloc[0])
               & ex["policyDefinitionReferenceIds"].str.contains(cat.POLICY_REFERENCE_ID)]
    assert len(match) == 1 and match["expiresOn"].iloc[0] > as_of
    assert match["category"].iloc[0] in ("Waiver", "Mitigated")

    # exactly one cluster without a Defender assessment: not assessed, NonCompliant
    assessed = frames["assessments"]["resourceId"].str.lower()
    missing = set(cid) - set(assessed)
    assert len(missing) == 1
    assert main.set_index(main["resourceId"].str.lower()).loc[missing.pop(), "complianceState"] == "NonCompliant"

    # policy state follows the assessment: Compliant iff Healthy / NotApplicable
    a = frames["assessments"].assign(rid=assessed)
    state = main.set_index(main["resourceId"].str.lower())["complianceState"]
    for rid, code in zip(a["rid"], a["statusCode"]):
        if state[rid] != "Exempt":
            assert (state[rid] == "Compliant") == (code in ("Healthy", "NotApplicable")), rid
    assert (a["id"].str.lower() == a["rid"] + f"/providers/microsoft.security/assessments/{KEY}").all()

    # Unhealthy assessments are exactly the clusters with open findings
    fd = frames["findings"]
    open_clusters = set(fd.loc[fd["statusCode"] == "Unhealthy", "resourceId"].str.lower())
    assert open_clusters == set(a.loc[a["statusCode"] == "Unhealthy", "rid"])
    assert set(fd["resourceId"].str.lower()) <= set(a["rid"])

    # a few exact duplicates, some differing only in the case of the resource id
    keys = _finding_keys(fd)
    assert 1 <= keys.duplicated().sum() <= max(3, len(fd) // 200)
    assert fd.duplicated().sum() >= 1

    # regulatory compliance agrees with the assessments, per subscription
    rc = frames["regulatory_compliance"]
    assert set(rc["control"]) == {"DS.6", "PV.6"} and (rc["standard"] == cat.STANDARD).all()
    for sub, grp in a.groupby("subscriptionId"):
        row = rc[(rc["subscriptionId"] == sub)].iloc[0]
        assert row["failedResources"] == (grp["statusCode"] == "Unhealthy").sum()
        assert row["passedResources"] == (grp["statusCode"] == "Healthy").sum()
        assert row["skippedResources"] == (grp["statusCode"] == "NotApplicable").sum()
        expected = "Failed" if row["failedResources"] else "Passed" if row["passedResources"] else "Skipped"
        assert row["state"] == expected

    # other policies are present (and must be ignored by the aggregator)
    assert frames["policy_states"]["policyDefinitionId"].str.lower().nunique() >= 3


def test_special_cases_small(snap):
    _special_cases(snap.frames, AS_OF)


@pytest.mark.parametrize("clusters", [3, 5, 30])
def test_special_cases_exist_at_every_scale(clusters):
    frames = generate(clusters, seed=11, as_of=date(2026, 10, 31))
    assert len(frames["clusters"]) == clusters
    _special_cases(frames, AS_OF)


def test_scale_n_row_counts():
    frames = generate(30, seed=2, as_of=date(2026, 10, 31))
    subs = frames["resource_containers"].query("type == 'microsoft.resources/subscriptions'")
    assert len(frames["clusters"]) == 30 and len(frames["assessments"]) == 29
    assert 4 <= len(subs) <= 6
    assert 6000 <= len(frames["findings"]) <= 20000
    assert len(_main_states(frames)) == 30 and len(frames["policy_states"]) > 30


def test_owners_and_governance(snap):
    f = snap.frames
    gov = f["governance_assignments"]
    assert len(gov) >= 1
    ids = set(f["assessments"]["id"].str.lower())
    assert gov["assessmentId"].str.lower().isin(ids).all()
    assert (gov["remediationDueDate"] < AS_OF).any()
    assert gov["owner"].str.strip().str.contains("@").all()
    # at least one cluster has no owner anywhere (no governance, no tag on cluster, group or subscription)
    tags = {r.id.lower(): json.loads(r.tags) for r in f["resource_containers"].itertuples()}
    gov_clusters = {i.split("/providers/microsoft.security/")[0] for i in gov["assessmentId"].str.lower()}
    unowned = []
    for r in f["clusters"].itertuples():
        cid = r.id.lower()
        sub = f"/subscriptions/{r.subscriptionId}"
        rg = f"{sub}/resourcegroups/{r.resourceGroup}"
        chain = [json.loads(r.tags), tags.get(rg, {}), tags.get(sub, {})]
        if cid not in gov_clusters and not any(k.lower() == "owner" for t in chain for k in t):
            unowned.append(cid)
    assert unowned


def test_exemptions_cover_every_lifecycle_state(snap):
    ex = snap.frames["exemptions"]
    expires = ex["expiresOn"]
    assert expires.isna().any()                                               # never expires
    assert (expires < AS_OF).any()                                            # expired
    assert ((expires > AS_OF) & (expires <= AS_OF + pd.Timedelta(days=30))).any()   # expiring soon
    assert (expires > AS_OF + pd.Timedelta(days=30)).any()                    # active
    assert set(ex["category"]) <= {"Waiver", "Mitigated"}
    assert (ex["id"].str.lower() == ex["scope"].str.lower() + "/providers/microsoft.authorization/policyexemptions/"
            + ex["name"].str.lower()).all()


def test_log_analytics_history_is_consistent_with_the_snapshot(snap):
    f = snap.frames
    fh, ah = f["finding_history"], f["assessment_history"]
    for h in (fh, ah):
        assert (h["TimeGenerated"] <= AS_OF).all()
        assert (h["TimeGenerated"] >= AS_OF - pd.Timedelta(days=61)).all()
        assert h["IsSnapshot"].any() and not h["IsSnapshot"].all()
    assert set(fh["RecommendationState"]) == {"Unhealthy", "Healthy", "NotApplicable"}
    assert (ah["RecommendationName"] == KEY).all()
    # every finding open now has been exported, and its latest export says so
    fd = f["findings"]
    now = set(_finding_keys(fd))
    hist = fh.assign(key=_finding_keys(fh, "AssessedResourceId", "VulnerabilityId"))
    last = hist.sort_values("TimeGenerated", kind="stable").groupby("key")["RecommendationState"].last()
    assert now <= set(last.index)
    assert (last[list(now)] != "Healthy").all()
    assert (last.drop(list(now)) == "Healthy").all()
    # cluster history ends in the assessment's current status
    a = f["assessments"].set_index(f["assessments"]["resourceId"].str.lower())["statusCode"]
    last_c = ah.sort_values("TimeGenerated", kind="stable").groupby(ah["AssessedResourceId"].str.lower()) \
        ["RecommendationState"].last()
    assert (last_c == a.reindex(last_c.index)).all()


# -- history over months -------------------------------------------------------------------------------------

def test_history_snapshots_are_monthly_and_consistent(history):
    stamps = [s.collected_at for s in history]
    assert [str(t.date()) for t in stamps] == ["2026-07-31", "2026-08-31", "2026-09-30", "2026-10-31"]
    assert len({s.run_id for s in history}) == 4
    assert [s.meta["sample"]["month_offset"] for s in history] == [3, 2, 1, 0]
    assert history[0].path.name == "2026-07" and history[0].path.parent.name == "history"
    for s in history:
        _special_cases(s.frames, s.collected_at)


def test_findings_appear_persist_and_get_fixed(history):
    open_sets = []
    for s in history:
        fd = s.frames["findings"]
        open_sets.append(set(_finding_keys(fd[fd["statusCode"] == "Unhealthy"])))
    everything = [set(_finding_keys(s.frames["findings"])) for s in history]
    for k in range(1, len(history)):
        prev, now = open_sets[k - 1], open_sets[k]
        assert now - prev and prev - now and now & prev     # new, resolved and persisting
        assert len(now & prev) > len(now - prev)            # mostly persisting
    # a finding fixed in month k never comes back later
    for k in range(1, len(history)):
        gone = everything[k - 1] - everything[k]
        for later in everything[k + 1:]:
            assert not gone & later


def test_first_seen_in_history_matches_the_monthly_snapshots(history):
    prev, cur = history[-2], history[-1]
    fh = cur.frames["finding_history"]
    first = fh.assign(key=_finding_keys(fh, "AssessedResourceId", "VulnerabilityId")).groupby("key")[
        "TimeGenerated"].min()
    before = set(_finding_keys(prev.frames["findings"]))
    now = set(_finding_keys(cur.frames["findings"]))
    new, persisting = sorted(now - before), sorted(now & before)
    assert new and persisting
    assert (first[new] > prev.collected_at).all() and (first[new] <= cur.collected_at).all()
    assert (first[persisting] <= prev.collected_at).all()


def test_compliance_moves_and_mostly_improves(tmp_path):
    paths = write_sample(tmp_path / "c", "small", seed=1, history_dir=tmp_path / "h", months=6)
    pct = []
    for p in [*paths[1:], paths[0]]:
        main = _main_states(read_snapshot(p, datasets=["policy_states"]).frames)
        pct.append(main["complianceState"].isin(["Compliant", "Exempt"]).mean())
    assert len(set(pct)) >= 2 and pct[-1] > pct[0]


def test_generate_matches_history_snapshot(history):
    frames = generate(12, seed=3, as_of=date(2026, 10, 31), month_offset=1)
    ours = frames["findings"].reset_index(drop=True)
    theirs = history[-2].frames["findings"]
    assert len(ours) == len(theirs)
    assert list(ours["id"]) == list(theirs["id"])
