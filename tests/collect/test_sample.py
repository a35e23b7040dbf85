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
    # every Resource Graph row has the full envelope, and ARM's systemData where the resource has it
    envelope = {"id", "name", "type", "tenantId", "kind", "location", "resourceGroup", "subscriptionId", "managedBy",
                "sku", "plan", "properties", "tags", "identity", "zones", "extendedLocation", "systemData"}
    for table in arg.values():
        assert set(table.column_names) == envelope
    policy = arg["policyresources"].to_pylist()
    exemptions = [r for r in policy if r["type"] == "microsoft.authorization/policyexemptions"]
    assert exemptions and all(json.loads(r["systemData"])["createdAt"] for r in exemptions)
    assert all(r["systemData"] is None for r in policy if r["type"] != "microsoft.authorization/policyexemptions")


def test_fast_records_equal_the_reference_records():
    """The individual recommendations joined from parts in DuckDB are exactly the records of records.py."""
    tenant = MonthTenant(world("small", seed=5), -4)   # July: both models, several statuses
    reference = sorted(tenant.individual_recommendations(), key=lambda r: r["id"])
    fast = sorted(tenant.individual_recommendation_parts().materialize(
        load_tables()["resource_graph"]["securityresources"]).to_pylist(), key=lambda r: r["id"])
    assert len(reference) == len(fast) > 100
    for ref, row in zip(reference, fast):
        assert row.pop("systemData") is None   # assessments carry none
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
    # (except one package, whose records carry none: its age is capped by history, see test_issue10_cases)
    missing = fd[fd["firstEvaluationDate"].isna()]
    assert missing["id"].nunique() >= 1 and missing["resourceId"].nunique() == 1
    assert missing["packageName"].nunique() == 1 and (missing["statusCode"] == "Unhealthy").all()
    assert (fd["firstEvaluationDate"].dropna() < AS_OF).all()
    per_package = fd.dropna(subset=["firstEvaluationDate"]).groupby("id").agg(
        first=("firstEvaluationDate", "min"), published=("publishedDate", "min"))
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
        assert (s.frames["assessment_history"]["TimeGenerated"] >= RETIREMENT).all()
    for offset in (2, 1, 0):
        _, la = raw_records(12, seed=3, month_offset=offset)
        times = la["SecurityNestedRecommendation"].column("TimeGenerated").to_pylist()
        assert all(t < RETIREMENT for t in times)   # rows kept by the workspace's retention, none after
    # what remains is the export of the individual recommendations, of one subscription's few clusters
    export_sub = world(12, seed=3).export_sub
    for s in history[1:]:
        fh = s.frames["finding_history"]
        subs = set(fh["AssessedResourceId"].str.extract(r"(?i)^/subscriptions/([^/]+)/")[0].str.lower())
        assert len(fh) and subs == {world(12, seed=3).subs[export_sub]["id"]}
        assert fh["AssessedResourceId"].str.lower().nunique() < len(s.frames["clusters"]) / 2


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


# -- issue 10: the sample tenant shows every case of the lineage, due-date and exemption rules -------------
# Lineages are computed here with plain pandas, as DESIGN §6 defines them: (cluster, registryHost/
# repositoryName, CVE, package), case-insensitive, no digest; finding_history rows take their repository
# from findings rows with the same digest (any snapshot).

PERIOD_START = pd.Timestamp("2026-10-01T00:00:00Z")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo's snapshots (small, seed 1, six months of history), oldest first."""
    base = tmp_path_factory.mktemp("demo")
    paths = write_sample(base / "current", "small", seed=1, history_dir=base / "history", months=6)
    return [read_snapshot(p) for p in [*paths[1:], paths[0]]]


def _lineage(cluster: pd.Series, repository: pd.Series, cve: pd.Series, package: pd.Series) -> pd.Series:
    return cluster.str.lower() + "|" + repository.str.lower() + "|" + cve.str.upper() + "|" + package.str.lower()


def _rows(snapshot) -> pd.DataFrame:
    """The snapshot's findings rows with their lineage and whether they keep it open."""
    fd = snapshot.frames["findings"]
    return fd.assign(lineage=_lineage(fd["resourceId"], fd["registryHost"] + "/" + fd["repositoryName"],
                                      fd["cveId"], fd["packageName"]),
                     open=fd["statusCode"].str.lower() == "unhealthy")


def _history_rows(snapshot, repository_of: dict[str, str]) -> pd.DataFrame:
    fh = snapshot.frames["finding_history"]
    repo = fh["imageDigest"].str.lower().map(repository_of).fillna(fh["imageDigest"])
    return fh.assign(lineage=_lineage(fh["AssessedResourceId"], repo, fh["VulnerabilityId"], fh["packageName"]),
                     open=fh["RecommendationState"].str.lower() == "unhealthy")


@pytest.fixture(scope="module")
def lineages(demo):
    """Per snapshot: its rows with lineages; and every sighting (snapshot or history row) of every lineage."""
    rows = [_rows(s) for s in demo]
    repository_of = {d: r for f in rows for d, r in zip(f["imageDigest"].str.lower(),
                                                        f["registryHost"] + "/" + f["repositoryName"])}
    history = [_history_rows(s, repository_of) for s in demo]
    sightings = pd.concat(
        [pd.DataFrame({"lineage": f["lineage"], "at": s.collected_at, "open": f["open"]}) for s, f in zip(demo, rows)]
        + [pd.DataFrame({"lineage": h["lineage"], "at": h["TimeGenerated"], "open": h["open"]}) for h in history],
        ignore_index=True)
    first_open = sightings[sightings["open"]].groupby("lineage")["at"].min()
    allrows = pd.concat(rows, ignore_index=True)
    evaluated = allrows.dropna(subset=["firstEvaluationDate"])
    raised = evaluated["firstEvaluationDate"].where(evaluated["publishedDate"].isna()
                                                    | (evaluated["firstEvaluationDate"] >= evaluated["publishedDate"]),
                                                    evaluated["publishedDate"])
    first_eval = raised.groupby(evaluated["lineage"]).min()
    first_seen = pd.concat([first_open, first_eval], axis=1).min(axis=1)
    return {"rows": rows, "history": history, "sightings": sightings, "first_seen": first_seen,
            "first_eval": first_eval, "all": allrows}


def _open(f: pd.DataFrame) -> set[str]:
    return set(f.loc[f["open"], "lineage"])


def test_demo_is_the_expected_timeline(demo):
    assert [str(s.collected_at.date()) for s in demo] == ["2026-04-30", "2026-05-31", "2026-06-30", "2026-07-31",
                                                          "2026-08-31", "2026-09-30", "2026-10-31"]


def test_case_rebuild_that_persists(lineages):
    """1. Open last month under digest A, open now under a new digest B of the same repository."""
    prev, cur = lineages["rows"][-2], lineages["rows"][-1]
    persisting = _open(prev) & _open(cur)
    digests_then = prev[prev["open"]].groupby("lineage")["imageDigest"].agg(set)
    digests_now = cur[cur["open"]].groupby("lineage")["imageDigest"].agg(set)
    rebuilt = [k for k in persisting if digests_now[k] - digests_then[k]]
    assert rebuilt
    k = min(rebuilt)
    repos = set(cur.loc[cur["lineage"] == k, "repositoryName"]) | set(
        prev.loc[prev["lineage"] == k, "repositoryName"])
    assert len(repos) == 1   # the same repository, a different build


def test_case_real_fix(lineages, demo):
    """2. Open last month, not open now, its cluster still in scope and no row of it left (not exempt)."""
    prev, cur = lineages["rows"][-2], lineages["rows"][-1]
    in_scope = set(demo[-1].frames["clusters"]["id"].str.lower())
    fixed = [k for k in _open(prev) - _open(cur) if k.split("|")[0] in in_scope and k not in set(cur["lineage"])]
    assert fixed


def test_case_governance_due_date_before_and_after_first_seen(lineages, demo):
    """3. One cluster with a governance due date has lineages first seen on or before it (the governance
    date applies) and lineages first seen after it (first seen + SLA days applies)."""
    cur = lineages["rows"][-1]
    gov = demo[-1].frames["governance_assignments"]
    first_seen = lineages["first_seen"]
    both = []
    for assessment_id, due in zip(gov["assessmentId"].str.lower(), gov["remediationDueDate"]):
        cluster = assessment_id.split("/providers/microsoft.security/assessments/")[0]
        seen = first_seen[sorted(_open(cur[cur["resourceId"].str.lower() == cluster]))]
        if (seen <= due).any() and (seen > due).any():
            both.append((cluster, int((seen <= due).sum()), int((seen > due).sum())))
    assert both, "no governance cluster with lineages first seen both before and after its due date"


def _exemption_clusters(ex: pd.Series, clusters: pd.Series) -> list[str]:
    scope = ex["scope"].lower()
    return [c for c in clusters if c == scope or c.startswith(scope + "/")]


def test_case_exemptions_of_other_policies_and_one_that_applies(demo):
    """4. An exemption naming an assignment without our definition, one naming only other reference ids,
    and an applicable, active one whose cluster's findings are exempt in Defender."""
    s = demo[-1]
    ex, states = s.frames["exemptions"], s.frames["policy_states"]
    assert (states["policyDefinitionId"].str.lower() == POLICY).all()
    carrying = {a: set(g.str.lower()) for a, g in states.groupby(states["policyAssignmentId"].str.lower())[
        "policyDefinitionReferenceId"]}
    clusters = s.frames["clusters"]["id"].str.lower()
    fd = _rows(s)
    open_clusters = set(fd.loc[fd["open"], "resourceId"].str.lower())
    refs = ex["policyDefinitionReferenceIds"].map(json.loads)
    other_assignment = [e for _, e in ex.iterrows() if e["policyAssignmentId"].lower() not in carrying]
    assert other_assignment
    # a naive reading credits it: no reference ids (the whole assignment), scope on a cluster with open findings
    assert any(not json.loads(e["policyDefinitionReferenceIds"]) and set(_exemption_clusters(e, clusters))
               & open_clusters for e in other_assignment)
    other_refs = [e for (_, e), r in zip(ex.iterrows(), refs) if e["policyAssignmentId"].lower() in carrying
                  and r and not {x.lower() for x in r} & carrying[e["policyAssignmentId"].lower()]]
    assert len(other_refs) >= 3
    applicable = [e for (_, e), r in zip(ex.iterrows(), refs) if e["policyAssignmentId"].lower() in carrying
                  and (not r or {x.lower() for x in r} & carrying[e["policyAssignmentId"].lower()])
                  and (pd.isna(e["expiresOn"]) or e["expiresOn"] > s.collected_at)]
    assert applicable
    credited = []
    for e in applicable:
        rows = fd[fd["resourceId"].str.lower().isin(_exemption_clusters(e, clusters))]
        if len(rows) and (rows["statusCode"] == "NotApplicable").all() and (rows["statusCause"] == "Exempt").all():
            credited.append((e["name"], len(rows)))
    assert credited


def test_case_missing_expiry(demo):
    """5. An exemption that never expires."""
    assert demo[-1].frames["exemptions"]["expiresOn"].isna().any()


def test_case_exemption_approval_evidence(demo):
    """6. Every exemption carries metadata (requester, ticket, another key; one without an approver) and
    the ARM systemData (who created and last changed it, when), as of each snapshot."""
    for s in demo:
        ex = s.frames["exemptions"]
        meta = ex["metadata"].map(json.loads)
        assert meta.map(lambda m: isinstance(m, dict) and "requestedBy" in m).all()
        assert meta.map(lambda m: bool({"ticket", "ticketRef"} & set(m))).all()
        assert meta.map(lambda m: len(set(m) - {"approvedBy", "approver", "requestedBy", "ticket", "ticketRef"})
                        >= 1).all()
        assert (~meta.map(lambda m: bool({"approvedBy", "approver"} & set(m)))).sum() >= 1
        assert meta.map(lambda m: bool(re.fullmatch(r"SEC-\d+", m.get("ticket", "")))).any()
        for col in ("createdBy", "createdAt", "lastModifiedBy", "lastModifiedAt"):
            assert ex[col].notna().all() and (ex[col] != "").all(), col
        assert (ex["createdAt"] <= ex["lastModifiedAt"]).all() and (ex["lastModifiedAt"] <= s.collected_at).all()
    current = demo[-1].frames["exemptions"]
    assert (current["lastModifiedAt"] > current["createdAt"]).any()            # some were changed later
    assert current["createdBy"].str.fullmatch(r"[0-9a-f-]{36}").any()         # an application (pipeline)
    arg, _ = raw_records("small")
    raw = [json.loads(r["systemData"]) for r in arg["policyresources"].to_pylist()
           if r["type"] == "microsoft.authorization/policyexemptions"]
    assert raw and all(list(d) == ["createdBy", "createdByType", "createdAt", "lastModifiedBy", "lastModifiedByType",
                                   "lastModifiedAt"] for d in raw)
    assert {d["createdByType"] for d in raw} == {"User", "Application"}


def test_case_finding_opened_and_closed_inside_the_month(lineages, demo):
    """7. The continuous export of the individual recommendations (SecurityRecommendation, a few clusters,
    weekly snapshots and streamed changes) has a lineage that opens after the period start and closes
    (a Healthy row) before the as-of time, open in neither the previous snapshot nor the current one."""
    h = lineages["history"][-1]
    assert h["IsSnapshot"].any() and (~h["IsSnapshot"]).any()
    assert h["AssessedResourceId"].str.lower().nunique() < len(demo[-1].frames["clusters"]) / 2
    prev, cur = lineages["rows"][-2], lineages["rows"][-1]
    known_digests = set(cur["imageDigest"].str.lower())
    inside = []
    for k, g in h.sort_values("TimeGenerated", kind="stable").groupby("lineage"):
        opened = g.loc[g["open"], "TimeGenerated"]
        healthy = g.loc[g["RecommendationState"] == "Healthy", "TimeGenerated"]
        if len(opened) and len(healthy) and opened.min() > PERIOD_START and healthy.max() < demo[-1].collected_at \
                and healthy.max() > opened.max() and k not in _open(prev) | _open(cur) \
                and set(g["imageDigest"].str.lower()) <= known_digests:
            inside.append((k, opened.min(), healthy.max(), int(g["IsSnapshot"].sum())))
    assert inside
    assert any(snapshots >= 1 for *_, snapshots in inside)   # a weekly snapshot saw it open


def test_case_age_capped_by_history(lineages, demo):
    """8. A lineage open in the oldest snapshot with no firstEvaluationDate on any of its rows, still open
    now: its first seen is its first sighting, at the start of the evidence."""
    oldest, cur = lineages["rows"][0], lineages["rows"][-1]
    all_rows = lineages["all"]
    with_eval = set(all_rows.dropna(subset=["firstEvaluationDate"])["lineage"])
    capped = sorted((_open(oldest) & _open(cur)) - with_eval)
    assert capped
    evidence_start = min(lineages["sightings"]["at"].min(), demo[0].collected_at)
    first_seen = lineages["first_seen"][capped]
    assert (first_seen < evidence_start + pd.Timedelta(days=7)).all()   # seen open at the first weekly export
    assert (first_seen < demo[0].collected_at).all()
    assert not any(k in lineages["first_eval"].index for k in capped)


@pytest.mark.parametrize("clusters", [5, 30])
def test_issue10_cases_exist_at_other_scales(clusters):
    """The cases that live in one month's records exist at other scales too."""
    frames = generate(clusters, seed=11, as_of=date(2026, 10, 31))
    ex, states = frames["exemptions"], frames["policy_states"]
    carrying = set(states["policyAssignmentId"].str.lower())
    assert (~ex["policyAssignmentId"].str.lower().isin(carrying)).any()
    assert ex["expiresOn"].isna().any() and ex["createdBy"].notna().all()
    assert ex["metadata"].map(json.loads).map(lambda m: "requestedBy" in m).all()
    fd = frames["findings"]
    assert fd["firstEvaluationDate"].isna().any()
    fh = frames["finding_history"]
    assert (fh["RecommendationState"] == "Healthy").any() and (fh["RecommendationState"] == "Unhealthy").any()
    gov = frames["governance_assignments"]
    assert gov["assessmentId"].str.lower().isin(set(frames["assessments"]["id"].str.lower())).all() and len(gov)
