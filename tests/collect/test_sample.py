"""The built-in sample tenant: raw Azure records, collected by the real queries; valid, reproducible,
realistic, with its special cases, Microsoft's change of 31 July 2026, and consistent history."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from reportgen.collect.sample import (DEFAULT_AS_OF, SCALES, generate, parse_scale, raw_records, world,
                                      write_sample)
from reportgen.collect.sample import catalogue as cat
from reportgen.collect.sample.tenant import MonthTenant
from reportgen.errors import UsageError
from reportgen.kql.catalog import load_queries, load_tables
from reportgen.snapshot import DATASETS, read_snapshot

POLICY = cat.POLICY_DEFINITION_ID.lower()
KEY = cat.ASSESSMENT_KEY
AS_OF = pd.Timestamp("2026-10-31T06:00:00Z")
RETIREMENT = pd.Timestamp("2026-08-01T00:00:00Z")


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


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
    """Four months around the retirement: July (both models), August, September, October."""
    base = tmp_path_factory.mktemp("hist")
    paths = write_sample(base / "current", "small", seed=3, history_dir=base / "history", months=3)
    return [read_snapshot(p) for p in [*paths[1:], paths[0]]]   # oldest first


# -- scale ------------------------------------------------------------------------------------------

def test_parse_scale_names_and_numbers():
    assert parse_scale("small") == SCALES["small"] == 12
    assert parse_scale("LARGE") == 2000 and parse_scale("37") == 37 and parse_scale(3) == 3


@pytest.mark.parametrize("bad", ["tiny", "2", "-5", "20001", "1e3", True])
def test_parse_scale_rejects_bad_values(bad):
    with pytest.raises(UsageError, match="--scale"):
        parse_scale(bad)


def test_write_sample_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="--months needs --history-dir"):
        write_sample(tmp_path / "x", months=2)
    with pytest.raises(UsageError, match="--seed"):
        write_sample(tmp_path / "x", seed=-1)
    with pytest.raises(UsageError, match="--months 40"):
        write_sample(tmp_path / "x", history_dir=tmp_path / "h", months=40)


# -- the records are Azure's, the snapshot is made by the query files ----------------------------------

def test_records_are_raw_azure_rows_with_json_string_fields():
    arg, la = raw_records("small")
    schemas = load_tables()
    assert set(arg) == set(schemas["resource_graph"]) and set(la) == set(schemas["log_analytics"])
    sec = arg["securityresources"].to_pylist()
    recs = [r for r in sec if r["type"] == "microsoft.security/assessments"
            and "/securityentitydata/" in r["id"]]
    assert recs, "individual recommendations"
    props = json.loads(recs[0]["properties"])
    assert props["metadata"]["recommendationCategory"] == "SoftwareUpdate"
    assert props["resourceDetails"] == {"Source": "Azure", "Id": recs[0]["id"].split("/providers/Microsoft.Security/")[0],
                                        "ResourceType": "K8s-container", "ResourceProvider": "Microsoft.Security"}
    # Azure keeps these two as JSON strings inside properties
    assert isinstance(props["additionalData"]["CvesDetails"], str)
    assert isinstance(props["resourceAdditionalData"], str)
    cves = json.loads(props["additionalData"]["CvesDetails"])
    assert {"CveId", "Severity", "Cvss", "ExploitabilityDetails", "PublishedDate"} <= set(cves[0])
    assert cves[0]["Cvss"][0]["Key"] == "3" and set(cves[0]["ExploitabilityDetails"]["IsInExploitKit"]) <= set("truefals")
    workload = json.loads(props["resourceAdditionalData"])
    assert re.fullmatch(r"[^/]+\.[^/]+/.+:[^:/@]+@sha256:[0-9a-f]{64}", workload["ImageDetails"]["ImageUri"])
    # every Resource Graph row has the full envelope
    envelope = {"id", "name", "type", "tenantId", "kind", "location", "resourceGroup", "subscriptionId", "managedBy",
                "sku", "plan", "properties", "tags", "identity", "zones", "extendedLocation"}
    for table in arg.values():
        assert set(table.column_names) == envelope


def test_fast_records_equal_the_reference_records():
    """The individual recommendations joined from parts in DuckDB are exactly the records of records.py."""
    tenant = MonthTenant(world("small", seed=5), -4)   # July: both models, several statuses
    reference = sorted(tenant.individual_recommendations(), key=lambda r: r["id"])
    fast = sorted(tenant.individual_recommendation_parts().materialize(
        load_tables()["resource_graph"]["securityresources"]).to_pylist(), key=lambda r: r["id"])
    assert len(reference) == len(fast) > 100
    for ref, row in zip(reference, fast):
        assert {**row, "properties": json.loads(row["properties"])} == ref


def test_every_dataset_is_valid_and_collected_with_the_query_files(small, snap):
    meta = snap.meta
    assert meta["source"] == "sample"
    assert meta["collected_at"] == "2026-10-31T06:00:00Z"
    assert meta["period"] == {"start": "2026-10-01", "end": "2026-10-31"}
    assert meta["collection"]["sample"] == {"scale": "small", "seed": 1, "clusters": 12, "anchor_as_of": "2026-10-31",
                                            "month_offset": 0}
    assert "duckdb-kql" in meta["collection"]["engine"]
    assert re.fullmatch(r"[0-9a-f]{32}", meta["run_id"])
    subs = snap.frames["resource_containers"].query("type == 'microsoft.resources/subscriptions'")
    assert sorted(meta["scope"]["subscriptions"]) == sorted(subs["subscriptionId"])
    assert meta["gaps"] == []      # every subscription is readable, nothing failed
    for name in DATASETS:
        info = snap.datasets[name]
        assert info.status == "complete" and info.rows == len(snap.frames[name])
        assert info.rows > 0 or name == "finding_history", name   # the sub-assessment export stopped in July
    # the exact texts run are kept, as for Azure, and they are the query files
    texts = {q.name: q.text for q in load_queries()}
    for name in DATASETS:
        sent = (small / "queries" / f"{name}.kql").read_text()
        assert f"// dataset: {name}\n" in sent and "let " not in sent
    assert texts["findings.recommendations"] in (small / "queries" / "findings.kql").read_text()


def test_json_columns_hold_the_documented_shapes(snap):
    f = snap.frames
    for name, cols in DATASETS.items():
        for col, kind in cols.items():
            if kind == "json":
                parsed = f[name][col].dropna().map(json.loads)
                assert parsed.map(type).isin([dict] if col == "tags" else [list]).all(), (name, col)
    wl = f["findings"]["workloads"].map(json.loads)
    assert (wl.map(len) == 1).all()   # an individual recommendation is one container
    assert all(set(w) == {"namespace", "kind", "name", "container"} for ws in wl for w in ws)
    assert (f["findings"]["imageTags"].map(json.loads).map(len) == 1).all()


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
    keys = {k for t in pd.concat([clusters["tags"], containers["tags"]]).map(json.loads) for k in t
            if k.lower() == "owner"}
    assert len(keys) >= 2
    values = [v for t in pd.concat([clusters["tags"], containers["tags"]]).map(json.loads)
              for k, v in t.items() if k.lower() == "owner"]
    assert any(v != v.strip() or v != v.lower() for v in values)
    assert {"environment", "costcenter", "app"} <= set(json.loads(clusters["tags"].iloc[0]))


def test_findings_are_realistic(snap):
    fd = snap.frames["findings"]
    assert 1500 <= len(fd) <= 4000
    assert fd["cveId"].str.fullmatch(r"CVE-\d{4}-\d{4,}").all()
    assert fd["cveId"].nunique() >= 60
    sev = fd["severity"].value_counts(normalize=True)
    assert 0.005 < sev["Critical"] < 0.12 and sev["High"] > 0.2 and sev["Medium"] > 0.3 and sev["Low"] > 0.03
    fixable = fd["fixStatus"].eq("FixAvailable")
    assert 0.5 <= fixable.mean() <= 0.85
    assert (fd.loc[fixable, "fixedVersion"] != "").all() and (fd.loc[~fixable, "fixedVersion"] == "").all()
    assert set(fd.loc[~fixable, "fixStatus"]) <= {"NoFixAvailable", "WontFix"}
    assert fd["exploitable"].any() and not fd["exploitable"].all()
    assert fd["imageDigest"].str.fullmatch(r"sha256:[0-9a-f]{64}").all()
    assert fd["registryHost"].nunique() >= 4 and (fd["repositoryName"] != "").all()
    assert fd["cvssScore"].between(0.1, 10).all()
    # individual recommendations: one row per CVE per container, from Defender's own id
    assert (fd["source"] == "individual-recommendations").all()
    assert fd["id"].str.contains("/securityentitydata/").all()
    assert (fd["resourceId"].str.lower() + "/securityentitydata/" == fd["id"].str.lower().str.extract(
        r"^(.*?/securityentitydata/)")[0]).all()
    assert set(fd["statusCode"]) == {"Unhealthy", "NotApplicable"}
    assert (fd.loc[fd["statusCode"] == "NotApplicable", "statusCause"] == "Exempt").all()
    assert (fd["timeGenerated"] <= AS_OF).all() and (fd["publishedDate"] <= AS_OF).all()
    # Defender's first evaluation of the package: before the as-of time, after its first CVE was published
    # (a CVE published later joins a package already flagged: the lineage rule raises it to publishedDate)
    assert fd["firstEvaluationDate"].notna().all() and (fd["firstEvaluationDate"] < AS_OF).all()
    per_package = fd.groupby("id").agg(first=("firstEvaluationDate", "min"), published=("publishedDate", "min"))
    assert (per_package["first"] >= per_package["published"]).all()
    assert (fd["firstEvaluationDate"] < fd["publishedDate"]).any()
    assert fd["firstEvaluationDate"].nunique() > len(fd) // 20
    assert (fd["packageCveCount"] >= 1).all()
    # several containers run the same image: the same finding key on several rows
    assert _finding_keys(fd).duplicated().any()
    pkgs = fd.groupby("cveId")["packageName"].agg(set)
    for cve, pkg in (("CVE-2023-44487", {"golang.org/x/net", "libnghttp2-14", "nghttp2-libs"}),
                     ("CVE-2023-4863", {"libwebp7", "libwebp6", "libwebp"})):
        if cve in pkgs:
            assert pkgs[cve] & pkg


def test_catalogue_is_data_and_consistent():
    assert (Path(cat.__file__).parent / "data" / "cves.txt").is_file()
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
    main = frames["policy_states"]
    assert (main["policyDefinitionId"].str.lower() == POLICY).all()       # the query keeps the definition only
    assert sorted(main["resourceId"].str.lower()) == sorted(cid)          # one row per cluster
    assert (main["resourceId"] == main["resourceId"].str.lower()).all()   # ARG returns ids lower-cased
    assert set(main["policyDefinitionGroupNames"].map(json.loads).map(tuple)) == {cat.POLICY_GROUPS}
    assert (main["policySetDefinitionId"] == cat.POLICY_SET_ID.lower()).all()

    # exactly one exempt cluster, with a matching active policy exemption
    exempt = main[main["complianceState"] == "Exempt"]
    assert len(exempt) == 1
    ex = frames["exemptions"]
    match = ex[(ex["scope"].str.lower() == exempt["resourceId"].iloc[0])
               & ex["policyDefinitionReferenceIds"].str.contains(cat.POLICY_REFERENCE_ID)]
    assert len(match) == 1 and match["expiresOn"].iloc[0] > as_of

    # one cluster Defender does not cover at all: no assessment, no finding, NonCompliant. After the
    # retirement a clean cluster whose c609cf0f assessment is gone shows no evidence either (it is compliant).
    assessed = set(frames["assessments"]["resourceId"].str.lower())
    found = set(frames["findings"]["resourceId"].str.lower())
    uncovered = set(cid) - assessed - found
    by_rid = main.set_index(main["resourceId"].str.lower())["complianceState"]
    assert (by_rid[sorted(uncovered)] == "NonCompliant").sum() == 1
    if as_of < RETIREMENT:
        assert len(uncovered) == 1

    # policy state follows the cluster's status, assessed by c609cf0f or not
    a = frames["assessments"].assign(rid=frames["assessments"]["resourceId"].str.lower())
    state = main.set_index(main["resourceId"].str.lower())["complianceState"]
    for rid, code in zip(a["rid"], a["statusCode"]):
        if state[rid] != "Exempt":
            assert (state[rid] == "Compliant") == (code in ("Healthy", "NotApplicable")), rid
    assert (a["id"].str.lower() == a["rid"] + f"/providers/microsoft.security/assessments/{KEY}").all()

    # where c609cf0f is still there, Unhealthy is exactly "has an open finding"
    fd = frames["findings"]
    open_clusters = set(fd.loc[fd["statusCode"] == "Unhealthy", "resourceId"].str.lower())
    assert open_clusters & set(a["rid"]) == set(a.loc[a["statusCode"] == "Unhealthy", "rid"])

    # regulatory compliance agrees with the clusters' status, per subscription
    rc = frames["regulatory_compliance"]
    assert set(rc["control"]) == {"DS.6", "PV.6"} and (rc["standard"] == cat.STANDARD).all()


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
    assert len(frames["clusters"]) == 30 and len(frames["policy_states"]) == 30
    assert 4 <= len(subs) <= 6
    assert 6000 <= len(frames["findings"]) <= 25000


def test_the_retired_assessment_is_gone_from_part_of_the_estate_after_july(history):
    july, *_, october = history
    # July: both models, every covered cluster has its c609cf0f assessment
    fj = july.frames["findings"]
    assert set(fj["source"]) == {"individual-recommendations", "legacy-subassessments"}
    both = set(_finding_keys(fj[fj["source"] == "legacy-subassessments"]))
    assert both and both <= set(_finding_keys(fj[fj["source"] == "individual-recommendations"]))
    assert july.meta["findings_source"] == "both"
    with_findings = set(fj["resourceId"].str.lower())
    assert with_findings <= set(july.frames["assessments"]["resourceId"].str.lower())
    # October: individual recommendations only, and clusters with findings but no c609cf0f assessment
    fo = october.frames["findings"]
    assert set(fo["source"]) == {"individual-recommendations"} and october.meta["findings_source"] == \
        "individual-recommendations"
    missing = set(fo["resourceId"].str.lower()) - set(october.frames["assessments"]["resourceId"].str.lower())
    assert 1 <= len(missing) < len(set(fo["resourceId"].str.lower()))
    # governance assignments live under their assessment: none left on a retired one
    gov = october.frames["governance_assignments"]
    assert gov["assessmentId"].str.lower().isin(set(october.frames["assessments"]["id"].str.lower())).all()


def test_owners_and_governance(history):
    f = history[0].frames
    gov = f["governance_assignments"]
    assert len(gov) >= 1
    ids = set(f["assessments"]["id"].str.lower())
    assert gov["assessmentId"].str.lower().isin(ids).all()
    assert gov["owner"].str.strip().str.contains("@").all()
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
    assert expires.isna().any()
    assert (expires < AS_OF).any()
    assert ((expires > AS_OF) & (expires <= AS_OF + pd.Timedelta(days=30))).any()
    assert (expires > AS_OF + pd.Timedelta(days=30)).any()
    assert set(ex["category"]) <= {"Waiver", "Mitigated"}
    assert (ex["id"].str.lower() == ex["scope"].str.lower() + "/providers/microsoft.authorization/policyexemptions/"
            + ex["name"].str.lower()).all()


def test_log_analytics_history_before_the_retirement(history):
    july = history[0]
    f = july.frames
    fh, ah = f["finding_history"], f["assessment_history"]
    start = pd.Timestamp("2026-07-01T00:00:00Z")
    for h in (fh, ah):
        assert len(h) and (h["TimeGenerated"] >= start).all() and (h["TimeGenerated"] <= july.collected_at).all()
        assert h["IsSnapshot"].any() and not h["IsSnapshot"].all()
    assert set(fh["RecommendationState"]) == {"Unhealthy", "Healthy", "NotApplicable"}
    assert (ah["RecommendationName"] == KEY).all()
    # the raw rows give RecommendationId both as the bare key and as the full id: both are read
    _, la = raw_records(12, seed=3, month_offset=3)
    ids = la["SecurityRecommendation"].column("RecommendationId").to_pylist()
    assert KEY in ids and any(i.endswith(f"/assessments/{KEY}") for i in ids)
    # every finding open now has been exported, and its latest export says so
    fd = f["findings"]
    fd = fd[fd["source"] == "legacy-subassessments"]
    now = set(_finding_keys(fd))
    hist = fh.assign(key=_finding_keys(fh, "AssessedResourceId", "VulnerabilityId"))
    last = hist.sort_values("TimeGenerated", kind="stable").groupby("key")["RecommendationState"].last()
    assert now <= set(last.index)
    assert (last[list(now)] != "Healthy").all()


def test_the_sub_assessment_export_stops_at_the_retirement(history):
    for s in history[1:]:
        assert s.frames["finding_history"].empty
        assert (s.frames["assessment_history"]["TimeGenerated"] >= RETIREMENT).all()


# -- history over months -------------------------------------------------------------------------------------

def test_history_snapshots_are_monthly(history):
    stamps = [s.collected_at for s in history]
    assert [str(t.date()) for t in stamps] == ["2026-07-31", "2026-08-31", "2026-09-30", "2026-10-31"]
    assert len({s.run_id for s in history}) == 4
    assert [s.meta["collection"]["sample"]["month_offset"] for s in history] == [3, 2, 1, 0]
    assert history[0].path.name == "2026-07" and history[0].path.parent.name == "history"
    for s in history:
        _special_cases(s.frames, s.collected_at)


def test_findings_appear_persist_and_get_fixed(history):
    open_sets = []
    for s in history:
        fd = s.frames["findings"]
        fd = fd[fd["source"] == "individual-recommendations"]
        open_sets.append(set(_finding_keys(fd[fd["statusCode"] == "Unhealthy"])))
    for k in range(1, len(history)):
        prev, now = open_sets[k - 1], open_sets[k]
        assert now - prev and prev - now and now & prev     # new, resolved and persisting
        assert len(now & prev) > len(now - prev)            # mostly persisting


def test_first_evaluation_is_stable_across_months(history):
    """Defender's first evaluation of a package on a container does not move from month to month."""
    prev, cur = history[-2].frames["findings"], history[-1].frames["findings"]
    key = lambda f: f["id"] + "|" + f["cveId"]  # noqa: E731
    a = prev.assign(k=key(prev)).drop_duplicates("k").set_index("k")["firstEvaluationDate"]
    b = cur.assign(k=key(cur)).drop_duplicates("k").set_index("k")["firstEvaluationDate"]
    common = a.index.intersection(b.index)
    assert len(common) > 100
    assert (a[common] == b[common]).mean() > 0.95   # moves only when the package's earliest CVE is fixed


def test_compliance_moves_and_mostly_improves(tmp_path):
    paths = write_sample(tmp_path / "c", "small", seed=1, history_dir=tmp_path / "h", months=6)
    pct = []
    for p in [*paths[1:], paths[0]]:
        main = read_snapshot(p, datasets=["policy_states"]).frames["policy_states"]
        pct.append(main["complianceState"].isin(["Compliant", "Exempt"]).mean())
    assert len(set(pct)) >= 2 and pct[-1] > pct[0]


def test_generate_matches_history_snapshot(history):
    frames = generate(12, seed=3, as_of=date(2026, 10, 31), month_offset=1)
    ours = frames["findings"].reset_index(drop=True)
    theirs = history[-2].frames["findings"]
    assert len(ours) == len(theirs) and list(ours["id"]) == list(theirs["id"])
