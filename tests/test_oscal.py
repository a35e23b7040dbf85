"""oscal/assessment-results.json: valid OSCAL 1.1 (compliance-trestle's models), internally
consistent, tied to the pack's files by hash, and in agreement with summary.json."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError
from trestle.oscal.assessment_results import AssessmentResults, Model

from reportgen import pipeline
from reportgen.render import oscal
from reportgen.config import RunConfig
from reportgen.snapshot import sha256_file
from tests import builders as b
from tests.test_evidence import make_sample, render_pack

OSCAL = "oscal/assessment-results.json"


@pytest.fixture(scope="module")
def pack(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("oscal")
    snapshot, _ = make_sample(root)
    return render_pack(snapshot, root / "pack")


@pytest.fixture(scope="module")
def doc(pack) -> dict:
    return json.loads((pack / OSCAL).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def result(doc) -> dict:
    return doc["assessment-results"]["results"][0]


def props(obj: dict) -> dict[str, str]:
    return {p["name"]: p["value"] for p in obj.get("props", [])}


def walk(obj, key: str):
    """Every value stored under ``key`` anywhere in the document."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                yield v
            yield from walk(v, key)
    elif isinstance(obj, list):
        for item in obj:
            yield from walk(item, key)


def test_loads_in_trestle_assessment_results_model(pack, doc):
    ar = AssessmentResults.oscal_read(pack / OSCAL)
    assert isinstance(ar, AssessmentResults)
    r = doc["assessment-results"]["results"][0]
    assert str(ar.uuid) == doc["assessment-results"]["uuid"]
    assert [str(f.uuid) for f in ar.results[0].findings] == [f["uuid"] for f in r["findings"]]
    assert len(ar.results[0].observations) == len(r["observations"]) and len(ar.results[0].risks) == len(r["risks"])
    Model.model_validate(doc)


def test_trestle_validation_is_strict_enough_to_catch_mistakes(doc):
    broken = json.loads(json.dumps(doc))
    del broken["assessment-results"]["import-ap"]
    with pytest.raises(ValidationError):
        Model.model_validate(broken)
    broken = json.loads(json.dumps(doc))
    broken["assessment-results"]["results"][0]["findings"][0]["target"]["status"]["state"] = "fine"
    with pytest.raises(ValidationError):
        Model.model_validate(broken)


def test_metadata_period_and_reviewed_controls(doc, result, pack):
    summary = json.loads((pack / "summary.json").read_text())
    ar = doc["assessment-results"]
    md = ar["metadata"]
    assert md["oscal-version"] == "1.1.2"
    assert md["last-modified"] == summary["as_of"]
    assert md["version"] == summary["run_id"]
    assert ar["import-ap"]["href"].startswith("#")
    assert result["start"] == f"{summary['period']['start']}T00:00:00Z"
    assert result["end"] == min(summary["as_of"], f"{summary['period']['end']}T23:59:59Z")
    assert props(result)["as-of"] == summary["as_of"] and props(result)["run-id"] == summary["run_id"]
    selections = result["reviewed-controls"]["control-selections"]
    assert [c["control-id"] for s in selections for c in s["include-controls"]] == ["ds-6", "pv-6"]


def test_uuids_are_unique_and_every_reference_resolves(doc):
    ar = doc["assessment-results"]
    r = ar["results"][0]
    defined = list(walk(ar, "uuid"))
    assert len(defined) == len(set(defined))
    observations = {o["uuid"] for o in r["observations"]}
    risks = {x["uuid"] for x in r.get("risks", [])}
    items = {i["uuid"] for i in r["local-definitions"]["inventory-items"]}
    components = {c["uuid"] for c in r["local-definitions"]["components"]}
    parties = {p["uuid"] for p in ar["metadata"]["parties"]}
    resources = {x["uuid"] for x in ar["back-matter"]["resources"]}
    assert set(walk(ar, "observation-uuid")) <= observations
    assert set(walk(ar, "risk-uuid")) <= risks
    assert set(walk(ar, "subject-uuid")) <= items
    assert set(walk(ar, "actor-uuid")) <= components
    assert {u for ps in walk(ar, "party-uuids") for u in ps} <= parties
    local = {h[1:] for h in walk(ar, "href") if h.startswith("#")}
    assert local and local <= resources


def test_evidence_links_point_to_pack_files_with_their_hashes(pack, doc, result):
    manifest = {f["path"]: f["sha256"] for f in json.loads((pack / "manifest.json").read_text())["files"]}
    assert OSCAL in manifest  # the OSCAL file is itself part of the pack and hashed
    resources = {x["uuid"]: x for x in doc["assessment-results"]["back-matter"]["resources"]}
    linked = set()
    for obs in result["observations"]:
        assert obs["relevant-evidence"], obs["title"]
        for ev in obs["relevant-evidence"]:
            rel = props(ev)["path"]
            assert ev["href"] == f"../{rel}" and (pack / OSCAL).parent.joinpath(ev["href"]).resolve() == (pack / rel).resolve()
            resource = resources[ev["links"][0]["href"][1:]]
            if rel == "evidence-pack.pdf":  # written after OSCAL (it embeds it): cited by path, hashed by the manifest
                assert "sha256" not in props(ev) and "hashes" not in resource["rlinks"][0] and rel in manifest
                linked.add(rel)
                continue
            assert props(ev)["sha256"] == manifest[rel] == sha256_file(pack / rel)
            assert resource["rlinks"][0]["hashes"] == [{"algorithm": "SHA-256", "value": manifest[rel]}]
            linked.add(rel)
    assert {"evidence-pack.pdf", "evidence-pack.xlsx", "summary.json", "snapshot/snapshot.json",
            "snapshot/data/policy_states.parquet", "data/findings.csv"} <= linked
    assert OSCAL not in linked


def test_observations_per_control_carry_the_figures(result, pack):
    summary = {c["id"]: c for c in json.loads((pack / "summary.json").read_text())["controls"]}
    by_control = {}
    for obs in result["observations"]:
        assert obs["methods"] and set(obs["methods"]) <= {"EXAMINE", "TEST", "INTERVIEW", "UNKNOWN"}
        by_control.setdefault(props(obs)["control-id"], []).append(obs)
    assert set(by_control) == {"ds-6", "pv-6"}
    for cid, control in summary.items():
        main = next(o for o in by_control[cid.lower()] if "status" in props(o))
        p = props(main)
        assert p["status"] == control["status"] and float(p["compliance-pct"]) == control["compliance_pct"]
        assert int(p["non-compliant"]) == control["non_compliant"] and int(p["resources"]) == control["resources"]
        assert main["subjects"] and all(s["type"] == "inventory-item" for s in main["subjects"])


def test_findings_per_control_and_per_non_compliant_cluster(result, pack):
    import csv
    summary = {c["id"].lower(): c for c in json.loads((pack / "summary.json").read_text())["controls"]}
    with open(pack / "data/clusters.csv", encoding="utf-8") as fh:
        clusters = list(csv.DictReader(fh))
    non_compliant = {c["Resource id"].lower(): c for c in clusters if c["Policy state"] == "NonCompliant"}
    assert non_compliant, "the sample must have non-compliant clusters"
    findings = result["findings"]
    for cid, control in summary.items():
        mine = [f for f in findings if props(f)["control-id"] == cid]
        overall = [f for f in mine if "resource-id" not in props(f)]
        assert len(overall) == 1
        state = overall[0]["target"]["status"]["state"]
        assert state == ("satisfied" if control["status"] == "Passed" else "not-satisfied")
        assert overall[0]["target"]["type"] == "objective-id" and overall[0]["target"]["target-id"] == f"{cid}_obj"
        per_cluster = {props(f)["resource-id"].lower(): f for f in mine if "resource-id" in props(f)}
        assert set(per_cluster) == set(non_compliant)
        for rid, f in per_cluster.items():
            p = props(f)
            assert f["target"]["status"]["state"] == "not-satisfied"
            assert p["owner"] == non_compliant[rid]["Owner"] and p["owner-source"] == non_compliant[rid]["Owner source"]
            assert int(p["open-findings"]) == int(non_compliant[rid]["Open findings"])
            if int(non_compliant[rid]["Open findings"]):
                assert "due-date" in p


def test_risks_for_every_overdue_critical_finding(result, pack):
    import csv
    with open(pack / "data/findings.csv", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh)
                if r["State"] == "Open" and r["Severity"] == "Critical" and r["Overdue"] == "true"]
    assert rows, "the sample must have overdue critical findings"
    risks = result["risks"]
    assert len(risks) == len(rows)
    assert sorted(props(r)["cve-id"] for r in risks) == sorted(r["CVE"] for r in rows)
    for risk in risks:
        assert risk["status"] == "open" and risk["deadline"] < props(result)["as-of"]
        assert {"owner", "resource-id", "days-overdue", "image-digest"} <= set(props(risk))
    linked = {u["risk-uuid"] for f in result["findings"] for u in f.get("related-risks", [])}
    assert linked == {r["uuid"] for r in risks}


def test_owners_are_parties_and_own_their_clusters(doc, result):
    parties = {p["uuid"]: p["name"] for p in doc["assessment-results"]["metadata"]["parties"]}
    for item in result["local-definitions"]["inventory-items"]:
        owner = props(item)["owner"]
        (rp,) = item["responsible-parties"]
        assert rp["role-id"] == "asset-owner" and [parties[u] for u in rp["party-uuids"]] == [owner]


def test_same_model_same_bytes_no_clock(pack):
    model = pipeline.build(pack / "snapshot", RunConfig())
    a = oscal.assessment_results(model, pack)
    assert a == oscal.assessment_results(model, pack)
    ids = json.dumps(a)
    other = pipeline.build(pack / "snapshot", RunConfig())
    assert json.dumps(oscal.assessment_results(other, pack)) == ids


def test_tenant_text_cannot_break_the_document(tmp_path):
    evil = "aks-evil\nname\t<script>x</script>  "
    rid = b.cluster_id("aks-evil")
    assessment = b.assessment(rid)
    snap = b.write(
        tmp_path / "snap",
        clusters=[{**b.cluster("aks-evil", tags={"owner": "  Team\r\nRed  "}), "name": evil}],
        policy_states=[b.policy_state(rid, "NonCompliant")],
        assessments=[assessment],
        # first evaluated before the governance due date, so that date applies (DESIGN §6) and it is overdue
        findings=[b.finding(rid, "CVE-2024-0001\n", severity="CRITICAL", package=" pkg\n",
                            firstEvaluationDate="2026-09-01T00:00:00Z")],
        governance_assignments=[b.governance(assessment["id"], "  Owner\nWith Newline ", "2026-10-01T00:00:00Z")],
    )
    model = pipeline.build(snap, RunConfig())
    doc = oscal.assessment_results(model, tmp_path)  # no evidence files: links are simply absent
    Model.model_validate(doc)
    r = doc["assessment-results"]["results"][0]
    assert len(r["risks"]) == 1 and all("\n" not in t for t in walk(doc, "title"))
    assert all(p["value"] == p["value"].strip() for ps in walk(doc, "props") for p in ps)


def test_a_control_without_evidence_has_no_figure_and_says_why(tmp_path):
    model = pipeline.build(b.no_policy_evidence(tmp_path / "snap"), RunConfig())
    doc = oscal.assessment_results(model, tmp_path)
    Model.model_validate(doc)
    r = doc["assessment-results"]["results"][0]
    for cid in ("ds-6", "pv-6"):
        (finding,) = [f for f in r["findings"] if props(f)["control-id"] == cid]  # no cluster is non-compliant
        assert props(finding)["status"] == "No data" and "compliance-pct" not in props(finding)
        assert finding["target"]["status"]["state"] == "not-satisfied"
        assert finding["target"]["status"]["reason"] == "other"
        assert "no cluster has a counted policy state" in finding["target"]["status"]["remarks"]
        assert "no compliance figure" in finding["description"] and "%" not in finding["description"]
        obs = next(o for o in r["observations"] if props(o).get("control-id") == cid and "status" in props(o))
        assert "compliance-pct" not in props(obs) and "no compliance figure" in obs["description"]
    assert "DS-6 has no compliance figure" in r["remarks"]


def test_gaps_retired_assessment_and_derived_verdicts_are_in_the_document(tmp_path):
    model = pipeline.build(b.retired_assessment(tmp_path / "snap"), RunConfig())
    doc = oscal.assessment_results(model, tmp_path)
    Model.model_validate(doc)
    r = doc["assessment-results"]["results"][0]
    remarks = r["remarks"]
    for needle in ("1 subscription could not be read.", b.UNREADABLE_SUB,
                   "Dataset finding_history FAILED: every request for it failed",
                   "A gap this version of reportgen does not know yet.",
                   "2 of 5 clusters have vulnerability findings from the individual recommendations but no c609cf0f "
                   "assessment."):
        assert needle in remarks, needle
    for f in (f for f in r["findings"] if "cluster" not in f["title"]):
        assert "2 of 5 clusters have vulnerability findings" in f["description"]
    items = {props(i)["cluster-name"]: props(i) for i in r["local-definitions"]["inventory-items"]}
    assert items["aks-ind-open"]["derived-verdict"] == "Unhealthy"
    assert items["aks-ind-open"]["findings-without-assessment"] == "true"
    assert items["aks-empty"]["derived-verdict"] == "No evidence"


def test_risks_and_due_dates_are_read_from_the_model(tmp_path):
    """The renderer states the model's overdue critical findings and earliest due dates; it
    computes neither (aggregation does, tests/test_aggregate.py checks them)."""
    from dataclasses import replace
    rid = b.cluster_id("aks-a")
    assessment = b.assessment(rid)
    snap = b.write(
        tmp_path / "snap", clusters=[b.cluster("aks-a")], policy_states=[b.policy_state(rid, "NonCompliant")],
        assessments=[assessment],
        findings=[b.finding(rid, f"CVE-{i}", severity="Critical", firstEvaluationDate="2026-09-01T00:00:00Z")
                  for i in (1, 2)],   # first evaluated before the governance due date, so that date applies
        governance_assignments=[b.governance(assessment["id"], "owner@x", "2026-10-01T00:00:00Z")],
    )
    model = pipeline.build(snap, RunConfig())
    assert len(model.tables.overdue_critical) == 2
    r = oscal.assessment_results(model, tmp_path)["assessment-results"]["results"][0]
    assert sorted(props(x)["cve-id"] for x in r["risks"]) == ["CVE-1", "CVE-2"]
    assert {props(f).get("due-date") for f in r["findings"] if "resource-id" in props(f)} == {"2026-10-01T00:00:00Z"}

    later = pd.Timestamp("2026-11-30T00:00:00Z")
    edited = replace(model, earliest_due={rid.lower(): later},
                     tables=replace(model.tables, overdue_critical=model.tables.overdue_critical.iloc[1:]))
    r = oscal.assessment_results(edited, tmp_path)["assessment-results"]["results"][0]
    assert [props(x)["cve-id"] for x in r["risks"]] == list(edited.tables.overdue_critical["cveId"])
    assert {props(f).get("due-date") for f in r["findings"] if "resource-id" in props(f)} == {"2026-11-30T00:00:00Z"}


def test_period_population_figures_and_lower_bound_ages_are_stated(tmp_path):
    """On the hand-built model of tests/test_excel.py: the roll-forward worked there by hand is in the
    timeliness observation, and an overdue critical finding whose age is a lower bound says so."""
    from dataclasses import replace
    from tests.test_excel import small_model
    model = small_model()
    oc = model.tables.overdue_critical.assign(ageIsLowerBound=True)
    model = replace(model, tables=replace(model.tables, overdue_critical=oc))
    doc = oscal.assessment_results(model, tmp_path)
    Model.model_validate(doc)
    r = doc["assessment-results"]["results"][0]
    (timeliness,) = [o for o in r["observations"] if "remediation timeliness" in o["title"]]
    p = props(timeliness)
    assert {k: p[k] for k in ("population-opening", "population-new", "population-closed", "population-closing",
                              "population-reconciles", "population-closed-fixed", "population-closed-exempt",
                              "population-closed-out-of-scope", "sla-met", "sla-missed", "sla-open-overdue",
                              "sla-open-within", "sla-attainment-pct")} == {
        "population-opening": "3", "population-new": "2", "population-closed": "3", "population-closing": "2",
        "population-reconciles": "true", "population-closed-fixed": "2", "population-closed-exempt": "1",
        "population-closed-out-of-scope": "0", "sla-met": "1", "sla-missed": "1", "sla-open-overdue": "1",
        "sla-open-within": "1", "sla-attainment-pct": "50.00"}
    assert "opening 3 + new 2 - closed 3 = closing 2" in timeliness["description"]
    (risk,) = r["risks"]
    assert props(risk)["age-is-lower-bound"] == "true" and props(risk)["lineage-id"] == "L-00000000000000aa"
    assert oscal.LOWER_BOUND_TEXT in risk["description"]

    plain = oscal.assessment_results(replace(model, period=None, tables=replace(
        model.tables, overdue_critical=oc.assign(ageIsLowerBound=False))), tmp_path)
    Model.model_validate(plain)
    r = plain["assessment-results"]["results"][0]
    timeliness = next(o for o in r["observations"] if "remediation timeliness" in o["title"])
    assert not any(k.startswith("population-") for k in props(timeliness))
    assert oscal.LOWER_BOUND_TEXT not in r["risks"][0]["description"]
    assert props(r["risks"][0])["age-is-lower-bound"] == "false"
