"""oscal/assessment-results.json: the pack as OSCAL 1.1 assessment results.

One result covers the period (start = period start, end = the as-of time, or the period's
last second when collection came later). Per control (``ds-6``, ``pv-6``) there is an
observation with the collected evidence: links to the pack's files with their sha256, also
listed as back-matter resources with SHA-256 hashes (except evidence-pack.pdf, written after
this file because it embeds it: cited by path, its hash is in manifest.json). Findings say per control whether its
objective is satisfied, and per non-compliant AKS cluster who owns it and when its open
findings fall due; each overdue critical finding is a risk with its deadline. Clusters
are inventory items; owners are parties with the ``asset-owner`` role.

Everything is a pure function of the report model and the pack's files: UUIDs are uuid5
of the run id and a stable name, times come from the snapshot's as-of, never the clock,
so re-rendering gives the same bytes. The document is plain JSON built here; the test
suite validates it with compliance-trestle's OSCAL models.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from reportgen.aggregate.findings import due_date_method
from reportgen.aggregate.model import SEVERITY_ORDER, ControlResult, ReportModel
from reportgen.render.csv_export import table_file
from reportgen.render.excel import WORKBOOK
from reportgen.render.interface import README, SNAPSHOT_DIR, Output, describe_file
from reportgen.render.limits import limits
from reportgen.render.pdf import PDF
from reportgen.render.summary import SUMMARY
from reportgen.snapshot import sha256_file, utc_iso

OSCAL_FILE = "oscal/assessment-results.json"
OSCAL_VERSION = "1.1.2"
NS = "urn:reportgen:oscal"          # namespace of reportgen's own property names
UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:reportgen:oscal:assessment-results")
ASSET_OWNER = "asset-owner"
PREPARED_BY = "prepared-by"
LOWER_BOUND_TEXT = " or earlier (the evidence starts there, so its age is a lower bound)"



def _dataset(name: str) -> tuple[str, str]:
    """The snapshot copy's data file and query text of dataset ``name``."""
    return f"{SNAPSHOT_DIR}/data/{name}.parquet", f"{SNAPSHOT_DIR}/queries/{name}.kql"


# Evidence per control: pack files that an observation links to (those present are used).
COMMON_EVIDENCE = (
    (PDF, WORKBOOK, SUMMARY, table_file("controls.csv"), table_file("clusters.csv"), f"{SNAPSHOT_DIR}/snapshot.json")
    + tuple(_dataset(name)[0] for name in ("clusters", "policy_states", "assessments", "regulatory_compliance",
                                           "exemptions"))
    + tuple(table_file(f"{name}.csv") for name in ("exemptions", "completeness", "reconciliation", "crosswalk"))
    + tuple(_dataset(name)[1] for name in ("clusters", "policy_states", "assessments", "regulatory_compliance",
                                           "exemptions"))
)
FINDINGS_EVIDENCE = (table_file("findings.csv"), *_dataset("findings"))
TIMELINESS_EVIDENCE = (
    tuple(table_file(f"{name}.csv") for name in ("owners", "control_owner", "history", "changes", "roll_forward",
                                                  "sla_by_month", "period_population", "audit_sample"))
    + tuple(_dataset(name)[0] for name in ("governance_assignments", "finding_history", "resource_containers"))
    + tuple(_dataset(name)[1] for name in ("governance_assignments", "finding_history", "resource_containers"))
)
# Pack files written after this one and so cited by path without a sha256: the PDF embeds this
# file (PDF/A-3 attachment), so it is written after it (render/interface.py); manifest.json has its hash.
UNHASHED = (PDF,)
UNHASHED_NOTE = (" Written after these results, which it embeds as an attachment, so cited here without a hash; "
                 "its sha256 is in manifest.json.")
MEDIA_TYPES = {".pdf": "application/pdf", ".json": "application/json", ".csv": "text/csv",
               ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               ".parquet": "application/vnd.apache.parquet", ".kql": "text/plain", ".txt": "text/plain",
               ".png": "image/png", ".svg": "image/svg+xml"}
_TOKEN_BAD = re.compile(r"[^A-Za-z0-9_.\-]")


def write_assessment_results(model: ReportModel, pack_dir: Path) -> Path:
    """Write ``oscal/assessment-results.json`` for the pack in ``pack_dir`` (its evidence files written)."""
    pack_dir = Path(pack_dir)
    path = pack_dir / OSCAL_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = assessment_results(model, pack_dir)
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def assessment_results(model: ReportModel, pack_dir: Path) -> dict:
    """The OSCAL document as a dict (``{"assessment-results": {...}}``)."""
    return _Builder(model, Path(pack_dir)).document()


class _Builder:
    def __init__(self, model: ReportModel, pack_dir: Path) -> None:
        self.model = model
        self.m = model.meta
        self.pack = pack_dir
        self.as_of = _iso(self.m.as_of)
        self.evidence: dict[str, dict] = {}   # pack path -> back-matter resource
        self.tool_uuid = self.uuid("component", "reportgen")
        self.org_uuid = self.uuid("party", "organization")
        clusters = model.tables.clusters
        self.clusters = clusters
        self.cluster_uuid = {rid: self.uuid("cluster", rid) for rid in clusters["id"].astype(str).str.lower()}
        self.owner_uuid = {o: self.uuid("party", "owner", o) for o in sorted(set(clusters["owner"].astype(str)))}

    def uuid(self, *names: str) -> str:
        return str(uuid.uuid5(UUID_NAMESPACE, "\x1f".join((self.m.run_id, *names))))

    # --- document ---------------------------------------------------------------------

    def document(self) -> dict:
        observations = [self.observation(c) for c in self.model.controls]
        timeliness = [self.timeliness_observation(c) for c in self.model.controls if c.control.remediation_timeliness]
        observations += timeliness
        risk_obs = [o["uuid"] for o in timeliness] or [o["uuid"] for o in observations]
        risks, risks_by_cluster = self.risks(risk_obs)
        findings = []
        for c in self.model.controls:
            obs = [o["uuid"] for o in observations if _prop(o, "control-id") == _token(c.id.lower())]
            findings.append(self.control_finding(c, obs))
            findings += self.cluster_findings(c, obs, risks_by_cluster)
        result = _compact({
            "uuid": self.uuid("result"),
            "title": _line(f"MCSB {' and '.join(c.id for c in self.model.controls)}: running container image "
                           f"vulnerabilities in AKS, {self.m.period_start:%Y-%m-%d} to {self.m.period_end:%Y-%m-%d}"),
            "description": (f"Assessment of the Microsoft cloud security benchmark controls "
                            f"{', '.join(c.id for c in self.model.controls)} from Azure Policy and Microsoft Defender "
                            f"evidence frozen at {utc_iso(self.m.as_of)} (snapshot run {self.m.run_id})."),
            "start": _iso(_day_start(self.m.period_start)),
            "end": self.end(),
            "props": [
                _p("period-start", self.m.period_start.isoformat()), _p("period-end", self.m.period_end.isoformat()),
                _p("as-of", utc_iso(self.m.as_of)), _p("run-id", self.m.run_id),
                _p("snapshot-sha256", self.m.snapshot_fingerprint), _p("source", self.m.source),
                _p("cloud", self.m.cloud), _p("tenant-id", self.m.tenant_id),
            ],
            "local-definitions": {
                "components": [self.tool_component()],
                "inventory-items": self.inventory_items(),
            },
            "reviewed-controls": {
                "description": "Microsoft cloud security benchmark v3 controls evidenced by the built-in Azure Policy "
                               "\u201cAzure running container images should have vulnerabilities resolved\u201d.",
                "control-selections": [{
                    "description": "The controls this evidence pack reports on.",
                    "include-controls": [{"control-id": _token(c.id.lower())} for c in self.model.controls],
                }] + self.crosswalk_selections(),
            },
            "observations": observations,
            "risks": risks,
            "findings": findings,
            "remarks": self.limits(),
        })
        return {"assessment-results": _compact({
            "uuid": self.uuid("assessment-results"),
            "metadata": self.metadata(),
            "import-ap": {
                "href": f"#{self.uuid('resource', 'assessment-plan')}",
                "remarks": "No separate OSCAL assessment plan: the method is the pack's methodology appendix "
                           "(evidence-pack.pdf) and README.txt, referenced in back-matter.",
            },
            "results": [result],
            "back-matter": {"resources": [self.plan_resource()] + [self.evidence[k] for k in sorted(self.evidence)]},
        })}

    def end(self) -> str:
        period_end = _day_start(self.m.period_end) + timedelta(days=1) - timedelta(seconds=1)
        start = _day_start(self.m.period_start)
        as_of = pd.Timestamp(self.m.as_of).to_pydatetime()
        return _iso(max(start, min(as_of, period_end)))

    def metadata(self) -> dict:
        parties = [{"uuid": self.org_uuid, "type": "organization", "name": _line(self.m.organization)}]
        for owner, owner_uuid in self.owner_uuid.items():
            parties.append({"uuid": owner_uuid, "type": "organization", "name": _line(owner) or "unknown"})
        return _compact({
            "title": _line(f"{self.m.title}: OSCAL assessment results, {self.m.period_start:%Y-%m-%d} to "
                           f"{self.m.period_end:%Y-%m-%d}"),
            "published": self.as_of,
            "last-modified": self.as_of,
            "version": self.m.run_id,
            "oscal-version": OSCAL_VERSION,
            "props": [_p("tool", f"reportgen {self.m.tool_version}"), _p("run-id", self.m.run_id),
                      _p("snapshot-sha256", self.m.snapshot_fingerprint)],
            "roles": [{"id": PREPARED_BY, "title": "Prepared by"},
                      {"id": ASSET_OWNER, "title": "Asset owner",
                       "description": "Owner of an AKS cluster and of its findings (governance assignment, tag, "
                                      "mapping file or fallback)."}],
            "parties": parties,
            "responsible-parties": [{"role-id": PREPARED_BY, "party-uuids": [self.org_uuid]}],
        })

    def tool_component(self) -> dict:
        return {
            "uuid": self.tool_uuid, "type": "software", "title": f"reportgen {self.m.tool_version}",
            "description": "Collects Azure Resource Graph and Azure Monitor Logs evidence into a frozen snapshot and "
                           "aggregates it into this evidence pack.",
            "props": [_p("version", self.m.tool_version)],
            "status": {"state": "operational"},
        }

    def inventory_items(self) -> list[dict]:
        items, seen = [], set()
        for row in self.clusters.itertuples(index=False):
            if str(row.id).lower() not in seen:
                seen.add(str(row.id).lower())
                items.append(self.inventory_item(row))
        return items

    def inventory_item(self, row: Any) -> dict:
        rid = str(row.id).lower()
        return _compact({
            "uuid": self.cluster_uuid[rid],
            "description": f"AKS cluster {_line(row.name)} ({row.id})",
            "props": [_p("asset-id", row.id, ns=None), _p("cluster-name", row.name),
                      _p("subscription-id", row.subscriptionId), _p("resource-group", row.resourceGroup),
                      _p("location", row.location), _p("owner", row.owner), _p("owner-source", row.ownerSource),
                      _p("policy-state", row.policyState), _p("assessment-status", row.assessmentStatus),
                      _p("derived-verdict", row.derivedVerdict),
                      _p("findings-without-assessment", bool(row.findingsWithoutAssessment)),
                      _p("open-findings", int(row.openFindings)), _p("overdue-findings", int(row.overdue))],
            "responsible-parties": [{"role-id": ASSET_OWNER, "party-uuids": [self.owner_uuid[str(row.owner)]]}],
        })

    # --- evidence ---------------------------------------------------------------------

    def evidence_for(self, paths: Iterable[str]) -> list[dict]:
        out = []
        for rel in paths:
            if rel in UNHASHED:
                out.append(self._unhashed_link(rel))
                continue
            if rel == OSCAL_FILE or not (self.pack / rel).is_file():
                continue
            resource = self.evidence.get(rel) or self._resource(rel)
            digest = resource["rlinks"][0]["hashes"][0]["value"]
            out.append({
                "href": _href(rel),
                "description": describe_file(rel, self.model),
                "props": [_p("path", rel), _p("sha256", digest)],
                "links": [{"href": f"#{resource['uuid']}", "rel": "reference", "text": _line(rel)}],
            })
        return out

    def _unhashed_link(self, rel: str) -> dict:
        """A pack file written after this one (see UNHASHED): linked by path, no sha256."""
        resource = self.evidence.get(rel)
        if resource is None:
            resource = {"uuid": self.uuid("resource", rel), "title": _line(rel),
                        "description": describe_file(rel, self.model) + UNHASHED_NOTE,
                        "props": [_p("path", rel)],
                        "rlinks": [{"href": _href(rel), "media-type": MEDIA_TYPES[Path(rel).suffix]}]}
            self.evidence[rel] = resource
        return {"href": _href(rel), "description": describe_file(rel, self.model) + UNHASHED_NOTE,
                "props": [_p("path", rel)],
                "links": [{"href": f"#{resource['uuid']}", "rel": "reference", "text": _line(rel)}]}

    def _resource(self, rel: str) -> dict:
        path = self.pack / rel
        resource = {
            "uuid": self.uuid("resource", rel), "title": _line(rel), "description": describe_file(rel, self.model),
            "props": [_p("path", rel), _p("size", path.stat().st_size)],
            "rlinks": [{"href": _href(rel), "media-type": MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
                        "hashes": [{"algorithm": "SHA-256", "value": sha256_file(path)}]}],
        }
        self.evidence[rel] = resource
        return resource

    def plan_resource(self) -> dict:
        # README.txt is written after this file (it indexes it), so it is linked without a hash
        rlinks = [{"href": _href(rel), "media-type": MEDIA_TYPES[Path(rel).suffix]}
                  for rel in (PDF, README)]
        return _compact({
            "uuid": self.uuid("resource", "assessment-plan"),
            "title": "Assessment method",
            "description": "How the evidence was collected and evaluated: the methodology and provenance appendix of "
                           "evidence-pack.pdf (queries with their sha256, formulas, owner rules, SLA table) and "
                           "README.txt in this pack.",
            "rlinks": rlinks,
        })

    # --- observations -----------------------------------------------------------------

    def observation(self, c: ControlResult) -> dict:
        cid = _token(c.id.lower())
        evidence = COMMON_EVIDENCE + FINDINGS_EVIDENCE + (TIMELINESS_EVIDENCE if c.control.remediation_timeliness else ())
        return _compact({
            "uuid": self.uuid("observation", cid),
            "title": _line(f"{c.id} {c.control.title}: Azure Policy state of every AKS cluster"),
            "description": (f"{_clean(c.control.evidence)} Result: {c.status}, {_figure(c)} "
                            f"({c.compliant} compliant, {c.exempt} exempt, {c.non_compliant} non-compliant, "
                            f"{c.conflict} conflict, {c.other} other, of {c.resources} clusters evaluated). "
                            f"Defender's regulatory-compliance state for {c.control.defender_control}: "
                            f"{c.defender.state}." + self.assessment_gap_text()),
            "props": [_p("control-id", cid), _p("status", c.status), _p("compliance-pct", _pct(c.compliance_pct)),
                      _p("resources", c.resources), _p("compliant", c.compliant),
                      _p("non-compliant", c.non_compliant), _p("exempt", c.exempt), _p("conflict", c.conflict),
                      _p("policy-group", c.control.policy_group),
                      _p("defender-control", c.control.defender_control), _p("defender-state", c.defender.state)],
            "methods": ["EXAMINE", "TEST"],
            "types": ["control-objective"],
            "origins": [self.origin()],
            "subjects": self.subjects(),
            "relevant-evidence": self.evidence_for(evidence),
            "collected": self.as_of,
        })

    def timeliness_observation(self, c: ControlResult) -> dict:
        cid = _token(c.id.lower())
        f = self.model.findings
        return _compact({
            "uuid": self.uuid("observation", cid, "remediation-timeliness"),
            "title": _line(f"{c.id}: remediation timeliness of open findings"),
            "description": (f"Open findings in running container images: {f.open} ("
                            + ", ".join(f"{s} {int(f.by_severity.get(s, 0))}" for s in SEVERITY_ORDER)
                            + f"); {f.overdue} past their due date, of them "
                            f"{int(f.overdue_by_severity.get('Critical', 0))} critical. "
                            + due_date_method(self.m.sla_days) + self.period_text()),
            "props": [_p("control-id", cid), _p("open-findings", f.open), _p("overdue-findings", f.overdue),
                      _p("overdue-critical", int(f.overdue_by_severity.get("Critical", 0))),
                      _p("fixable", f.fixable), _p("exploitable", f.exploitable)]
                     + [_p(f"sla-days-{s.lower()}", d) for s, d in self.m.sla_days.items()]
                     + self.period_props(),
            "methods": ["EXAMINE", "TEST"],
            "types": ["finding"],
            "origins": [self.origin()],
            "relevant-evidence": self.evidence_for(FINDINGS_EVIDENCE + TIMELINESS_EVIDENCE + (SUMMARY,)),
            "collected": self.as_of,
        })

    def period_text(self) -> str:
        p = self.model.period
        if p is None:
            return ""
        r = p.total
        attainment = (f"SLA attainment {p.sla_attainment_pct:.2f}%." if p.sla_attainment_pct is not None
                      else "No SLA attainment figure: nothing with a due date was fixed.")
        return (f" Period population (vulnerability lineages over the period): opening {r.opening} + new {r.new} - "
                f"closed {r.closed} = closing {r.closing}"
                f"{'' if r.reconciles else ' (does not reconcile)'}; closed as fixed {p.closed_by_reason['fixed']}, "
                f"exempt {p.closed_by_reason['exempt']}, out of scope {p.closed_by_reason['out_of_scope']}; SLA met "
                f"{p.sla['met']}, missed {p.sla['missed']}, open and overdue {p.sla['open_overdue']}, open within SLA "
                f"{p.sla['open_within']}. {attainment}")

    def period_props(self) -> list[dict | None]:
        p = self.model.period
        if p is None:
            return []
        r = p.total
        return [_p("population-opening", r.opening), _p("population-new", r.new),
                _p("population-closed", r.closed), _p("population-closing", r.closing),
                _p("population-reconciles", r.reconciles),
                *(_p(f"population-closed-{k.replace('_', '-')}", p.closed_by_reason[k])
                  for k in ("fixed", "exempt", "out_of_scope")),
                *(_p(f"sla-{k.replace('_', '-')}", p.sla[k]) for k in ("met", "missed", "open_overdue", "open_within")),
                _p("sla-attainment-pct", _pct(p.sla_attainment_pct))]

    def origin(self) -> dict:
        return {"actors": [{"type": "tool", "actor-uuid": self.tool_uuid}]}

    def subjects(self) -> list[dict]:
        """The clusters that have a policy state (those the observation evaluated)."""
        out, seen = [], set()
        for row in self.clusters.itertuples(index=False):
            rid = str(row.id).lower()
            if row.policyState != "No policy state" and rid not in seen:
                seen.add(rid)
                out.append({"subject-uuid": self.cluster_uuid[rid], "type": "inventory-item",
                            "title": _line(row.name) or "cluster", "props": [_p("policy-state", row.policyState)]})
        return out

    # --- findings and risks -----------------------------------------------------------

    def control_finding(self, c: ControlResult, observations: list[str]) -> dict:
        cid = _token(c.id.lower())
        satisfied = c.status == "Passed"
        reason = "pass" if satisfied else ("fail" if c.status == "Failed" else "other")
        return _compact({
            "uuid": self.uuid("finding", cid),
            "title": _line(f"{c.id} {c.control.title}: "
                           f"{'satisfied' if satisfied else 'no data' if c.compliance_pct is None else 'not satisfied'}"),
            "description": ((f"{c.id} is {c.status} at {c.compliance_pct:.2f}% compliance: {c.non_compliant} of "
                             f"{c.resources} evaluated AKS clusters are non-compliant." if c.compliance_pct is not None
                             else f"{c.id} is No data: no AKS cluster has a counted policy state (Compliant, "
                                  f"NonCompliant, Conflict or Exempt), so there is no compliance figure and no "
                                  f"evidence that the objective is met.")
                            + self.assessment_gap_text()),
            "props": [_p("control-id", cid), _p("status", c.status), _p("compliance-pct", _pct(c.compliance_pct))]
                     + self.mapped_controls(c),
            "origins": [self.origin()],
            "target": {
                "type": "objective-id", "target-id": f"{cid}_obj",
                "title": _line(f"{c.id} objective"), "description": _clean(c.control.objective),
                "status": _compact({
                    "state": "satisfied" if satisfied else "not-satisfied", "reason": reason,
                    "remarks": ("No data: no compliance figure, because no cluster has a counted policy state."
                                if c.compliance_pct is None else None)}),
            },
            "related-observations": [{"observation-uuid": u} for u in observations],
        })

    def crosswalk_selections(self) -> list[dict]:
        """One control selection per framework of the crosswalk (--framework): the requirements the DS-6/PV-6
        evidence is mapped to, by the framework's own OSCAL ids where it has a catalog (NIST SP 800-53)."""
        cw = self.model.crosswalk
        if cw is None:
            return []
        return [_compact({
            "description": _clean(f"{fw.name} {fw.version}: the requirements this pack's evidence is mapped to "
                                  f"(reportgen crosswalk, {fw.id}; the figures per requirement are in summary.json "
                                  f"under crosswalk). {fw.note}"),
            "props": [_p("framework", fw.id), _p("framework-version", fw.version),
                      _p("framework-source", fw.source_url)],
            "include-controls": [{"control-id": r.oscal_id} for r in fw.requirements],
            "remarks": _clean(cw.disclaimer),
        }) for fw in cw.frameworks]

    def mapped_controls(self, c: ControlResult) -> list[dict]:
        """Per crosswalk requirement that draws on control ``c``: a mapped-control prop whose class is the
        framework id and whose value is the requirement's id in the control selections."""
        cw = self.model.crosswalk
        if cw is None:
            return []
        return [{"name": "mapped-control", "ns": NS, "value": r.oscal_id, "class": _token(fw.id),
                 "remarks": _clean(f"{fw.name} {fw.version} {r.id}: {r.topic}")}
                for fw in cw.frameworks for r in fw.requirements if c.id in r.mcsb]

    def cluster_findings(self, c: ControlResult, observations: list[str],
                         risks_by_cluster: Mapping[str, list[str]]) -> list[dict]:
        if c.non_compliant == 0:
            return []
        cid = _token(c.id.lower())
        due = self.earliest_due()
        out = []
        for row in self.clusters[self.clusters["policyState"].eq("NonCompliant")].itertuples(index=False):
            rid = str(row.id).lower()
            due_at = due.get(rid)
            due_text = (f"the earliest due date of its open findings is {utc_iso(due_at)}" if due_at is not None
                        else "it has no open finding with a due date")
            out.append(_compact({
                "uuid": self.uuid("finding", cid, rid),
                "title": _line(f"{c.id} not satisfied on AKS cluster {row.name}"),
                "description": (f"Azure Policy reports AKS cluster {_clean(row.name)} ({row.id}) NonCompliant for "
                                f"{c.id} (Defender assessment: {row.assessmentStatus}; verdict derived from the "
                                f"findings: {row.derivedVerdict}). It has {int(row.openFindings)} "
                                f"open findings ({int(row.critical)} critical, {int(row.high)} high), "
                                f"{int(row.overdue)} overdue; {due_text}. Owner: {_clean(row.owner)} "
                                f"(source {row.ownerSource})."),
                "props": [_p("control-id", cid), _p("resource-id", row.id), _p("cluster-name", row.name),
                          _p("owner", row.owner), _p("owner-source", row.ownerSource),
                          _p("due-date", utc_iso(due_at) if due_at is not None else None),
                          _p("open-findings", int(row.openFindings)), _p("overdue-findings", int(row.overdue)),
                          _p("assessment-status", row.assessmentStatus), _p("derived-verdict", row.derivedVerdict)],
                "origins": [self.origin()],
                "target": {
                    "type": "objective-id", "target-id": f"{cid}_obj",
                    "title": _line(f"{c.id} objective on {row.name}"),
                    "status": {"state": "not-satisfied", "reason": "fail"},
                },
                "related-observations": [{"observation-uuid": u} for u in observations],
                "related-risks": [{"risk-uuid": u} for u in risks_by_cluster.get(rid, [])],
            }))
        return out

    def earliest_due(self) -> Mapping[str, pd.Timestamp]:
        return self.model.earliest_due   # computed in aggregation, per cluster

    def risks(self, observations: list[str]) -> tuple[list[dict], dict[str, list[str]]]:
        """One risk per open, overdue, critical finding (``tables.overdue_critical``, from aggregation)."""
        risks, by_cluster = [], {}
        for r in self.model.tables.overdue_critical.itertuples(index=False):
            rid = str(r.resourceId).lower()
            key = (rid, str(r.imageDigest), str(r.cveId), str(r.packageName))
            risk_uuid = self.uuid("risk", *key)
            by_cluster.setdefault(rid, []).append(risk_uuid)
            image = f"{_clean(r.repositoryName)}@{_clean(r.imageDigest)}"
            fix = (f"fixed in {_clean(r.fixedVersion)}" if _present(r.fixedVersion) else "no fixed version known")
            risks.append(_compact({
                "uuid": risk_uuid,
                "title": _line(f"Overdue critical {r.cveId} in {r.packageName} on AKS cluster {r.clusterName}"),
                "description": (f"Critical vulnerability {_clean(r.cveId)} (CVSS {_num(r.cvssScore)}) in package "
                                f"{_clean(r.packageName)} {_clean(r.packageVersion)} ({fix}) of running image {image} "
                                f"on AKS cluster {_clean(r.clusterName)}. First seen {_when(r.firstSeen)}"
                                f"{LOWER_BOUND_TEXT if _lower_bound(r) else ''}, due "
                                f"{_when(r.dueDate)} ({_clean(r.dueSource)}), {_int(r.daysOverdue)} days overdue at "
                                f"{utc_iso(self.m.as_of)}."),
                "statement": (f"A critical, known vulnerability stays in a running workload past its remediation "
                              f"deadline; owner {_clean(r.owner)} ({_clean(r.ownerSource)}) has not resolved it."),
                "props": [_p("cve-id", r.cveId), _p("severity", r.severity), _p("cvss-score", _num(r.cvssScore)),
                          _p("exploitable", bool(r.exploitable) if _present(r.exploitable) else None),
                          _p("fixable", bool(r.fixable) if _present(r.fixable) else None),
                          _p("package", r.packageName), _p("installed-version", r.packageVersion),
                          _p("fixed-version", r.fixedVersion), _p("image-digest", r.imageDigest),
                          _p("repository", r.repositoryName), _p("resource-id", r.resourceId),
                          _p("cluster-name", r.clusterName), _p("owner", r.owner), _p("owner-source", r.ownerSource),
                          _p("first-seen", _when(r.firstSeen)), _p("age-is-lower-bound", _lower_bound(r)),
                          _p("lineage-id", getattr(r, "lineageId", None)), _p("days-overdue", _int(r.daysOverdue))],
                "status": "open",
                "deadline": _iso(r.dueDate) if _present(r.dueDate) else None,
                "related-observations": [{"observation-uuid": u} for u in observations],
            }))
        return risks, by_cluster

    def assessment_gap_text(self) -> str:
        statement = self.model.coverage.assessment_gap_statement
        return f" {_clean(statement)}" if statement else ""

    def limits(self) -> str | None:
        return "Known limits of this evidence: " + " ".join(limits(self.model))


# --- helpers ------------------------------------------------------------------------------

def _pct(value: float | None) -> str | None:
    """A compliance figure as a property value; None (the property is left out) without one."""
    return None if value is None else f"{value:.2f}"


def _figure(c: ControlResult) -> str:
    return (f"{c.compliance_pct:.2f}% compliant" if c.compliance_pct is not None
            else "no compliance figure, as no cluster has a counted policy state")


def _iso(value: Any) -> str:
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _day_start(day) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=timezone.utc)


def _href(rel: str) -> str:
    """Pack path as a URI reference relative to the OSCAL file (which sits in oscal/)."""
    from urllib.parse import quote
    return "../" + quote(rel, safe="/-._~")


def _clean(text: Any) -> str:
    """Tenant text on one line: control characters become spaces, runs of spaces one."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in str(text)).split())


def _line(text: Any) -> str:
    return _clean(text)


def _token(text: str) -> str:
    """An OSCAL token (letters, digits, _ . -, starting with a letter or _)."""
    token = _TOKEN_BAD.sub("-", text)
    return token if re.match(r"[A-Za-z_]", token) else f"_{token}"


def _present(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return False
    if isinstance(value, float) and value != value:
        return False
    return not (isinstance(value, str) and not value.strip())


def _when(value: Any) -> str | None:
    return utc_iso(value) if _present(value) else None


def _lower_bound(row: Any) -> bool:
    """The finding's age is a lower bound (its first seen is the start of the evidence)."""
    value = getattr(row, "ageIsLowerBound", None)
    return bool(value) if _present(value) else False


def _int(value: Any) -> int | None:
    return int(value) if _present(value) else None


def _num(value: Any) -> str | None:
    if not _present(value):
        return None
    return f"{float(value):g}"


def _p(name: str, value: Any, ns: str | None = NS) -> dict | None:
    """A property, or None (dropped) when the value is empty."""
    if not _present(value):
        return None
    if isinstance(value, bool):
        value = "true" if value else "false"
    text = _clean(value)
    if not text:
        return None
    return {"name": name, **({"ns": ns} if ns else {}), "value": text}


def _prop(obj: Mapping, name: str) -> str | None:
    return next((p["value"] for p in obj.get("props", []) if p["name"] == name), None)


def _compact(obj: dict) -> dict:
    """Drop None values and empty lists (OSCAL lists, when present, hold at least one item)."""
    out = {}
    for key, value in obj.items():
        if isinstance(value, list):
            value = [v for v in value if v is not None]
            if not value:
                continue
        elif value is None:
            continue
        out[key] = value
    return out


OUTPUT = Output(
    name="oscal", files=(OSCAL_FILE,), step="Writing the OSCAL assessment results",
    description="OSCAL 1.1.2 assessment results: one result for the period, observations per control with links "
                "to the evidence files and their sha256 (evidence-pack.pdf, which embeds this file and is written after "
                "it, by path only: its sha256 is in manifest.json), findings per control and per non-compliant cluster "
                "(owner, due date), risks for overdue critical findings.",
    write=lambda model, pack: [write_assessment_results(model, pack)],
)
