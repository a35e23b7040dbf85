"""The PDF evidence pack: structure, figures, escaping, hermetic fetching, determinism, golden HTML.

Two renders per module, each once: the built-in small sample tenant (structure, figures
against summary.json, the cap pointer, metadata, bookmarks, fonts) and a small hand-made
tenant (hostile names and tags, a partial and a skipped dataset, query texts) for
escaping, fetching and determinism. Checks read the PDF's text with pypdf. Golden HTML of
the hand-made tenant lives in tests/golden/pdf/; regenerate it with ``make golden``.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import threading
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from reportgen import pipeline
from reportgen.config import RunConfig
from reportgen.snapshot import DATASETS, DatasetInfo, write_snapshot

GOLDEN_DIR = Path(__file__).parent / "golden" / "pdf"
UPDATE_GOLDEN = os.environ.get("REPORTGEN_UPDATE_GOLDEN") == "1"

SUB_A = "00000000-0000-0000-0000-0000000000aa"
SUB_B = "00000000-0000-0000-0000-0000000000bb"
TENANT = "11111111-2222-3333-4444-555555555555"
POLICY_DEF = "/providers/Microsoft.Authorization/policyDefinitions/17f4b1cc-c55c-4d94-b1f9-2978f6ac2957"
POLICY_SET = "/providers/Microsoft.Authorization/policySetDefinitions/1f3afdf9-d0c9-4c3d-847f-89da613e70a8"
ASSESSMENT_KEY = "c609cf0f-71ab-41e9-a3c6-9a1f7fe1b8d5"
GROUPS = json.dumps(["Azure_Security_Benchmark_v3.0_DS-6", "Azure_Security_Benchmark_v3.0_PV-6"])
EVIL_SCRIPT = "<script>alert('x')</script>"
AMP = "R&D"
EVIL_IMG_DEFAULT = "http://127.0.0.1:9/x"

# name, subscription, resource group, owner tag (None: no tag), assessment status (None: not assessed)
CLUSTERS = (
    ("aks-prod-weu-01", SUB_A, "rg-payments", "team-payments", "Unhealthy"),
    ("aks-prod-weu-02", SUB_A, "rg-payments", "team-payments", "Healthy"),
    ("aks-shop-neu-01", SUB_A, "rg-shop", None, "Unhealthy"),            # owner from the resource group tag
    (f"aks-dev-{EVIL_SCRIPT}", SUB_B, "rg-dev", f"{AMP} platform", "Unhealthy"),
    ("aks-data-01", SUB_B, "rg-data", "EVIL_IMG", "Unhealthy"),        # owner tag carries an <img> tag
    ("aks-lab-01", SUB_B, "rg-lab", None, None),                        # not assessed, fallback owner
)
SEVERITIES = ("Critical", "High", "Medium", "Low", "high", "")


def _cluster_id(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerService/managedClusters/{name}"


def _frames(as_of: pd.Timestamp, month: int, evil_url: str) -> dict[str, pd.DataFrame]:
    """One month of the fixture tenant; ``month`` 0 is the oldest, findings churn between months."""
    evil_img = f'<img src="{evil_url}">'
    frames: dict[str, list[dict]] = {name: [] for name in DATASETS}
    for name, sub, rg, owner, status in CLUSTERS:
        cid = _cluster_id(sub, rg, name)
        tags = {} if owner is None else {"Owner": evil_img if owner == "EVIL_IMG" else owner}
        tags["env"] = f"{EVIL_SCRIPT} & more" if "dev" in name else "prod"
        frames["clusters"].append({"id": cid, "name": name, "subscriptionId": sub, "resourceGroup": rg,
                                   "location": "westeurope", "tags": json.dumps(tags)})
        state = {"Unhealthy": "NonCompliant", "Healthy": "Compliant", None: "NonCompliant"}[status]
        if name == "aks-prod-weu-02" and month == 0:
            state = "NonCompliant"
        frames["policy_states"].append({
            "id": f"{cid}/providers/Microsoft.PolicyInsights/policyStates/latest", "resourceId": cid,
            "resourceType": "Microsoft.ContainerService/managedClusters", "subscriptionId": sub, "resourceGroup": rg,
            "complianceState": state, "policyAssignmentId": f"/subscriptions/{sub}/providers/Microsoft.Authorization/policyAssignments/SecurityCenterBuiltIn",
            "policyAssignmentName": "SecurityCenterBuiltIn", "policyDefinitionId": POLICY_DEF,
            "policyDefinitionReferenceId": "runningimagesvulnerabilities", "policySetDefinitionId": POLICY_SET,
            "policyDefinitionGroupNames": GROUPS, "timestamp": as_of - pd.Timedelta(hours=3)})
        if status is not None:
            frames["assessments"].append({
                "id": f"{cid}/providers/Microsoft.Security/assessments/{ASSESSMENT_KEY}", "assessmentKey": ASSESSMENT_KEY,
                "resourceId": cid, "subscriptionId": sub, "resourceGroup": rg, "statusCode": status, "statusCause": "",
                "severity": "High", "displayName": "Azure running container images should have vulnerabilities resolved",
                "firstEvaluationDate": pd.Timestamp("2026-01-10", tz="UTC"), "statusChangeDate": as_of - pd.Timedelta(days=2)})
            if status == "Unhealthy":
                n = {"aks-prod-weu-01": 14, "aks-shop-neu-01": 9, "aks-data-01": 7}.get(name, 5) + 2 * month
                for i in range(n):
                    sev = SEVERITIES[i % len(SEVERITIES)]
                    digest = "sha256:" + hashlib.sha256(f"{name}-{i % 3}".encode()).hexdigest()
                    frames["findings"].append({
                        "id": f"{cid}/f/{i}", "assessmentKey": ASSESSMENT_KEY, "resourceId": cid, "subscriptionId": sub,
                        "resourceGroup": rg, "cveId": f"CVE-2026-{1000 + i + (month if i % 4 == 0 else 0):05d}",
                        "title": f"{EVIL_SCRIPT} overflow in libfoo" if i == 1 else f"Vulnerability {i} in package pkg{i % 5}",
                        "severity": sev, "cvssScore": round(9.8 - i * 0.37, 1) if sev else None,
                        "statusCode": "NotApplicable" if i == n - 1 else "Unhealthy",
                        "statusCause": "Exempt" if i == n - 1 else "",
                        "registryHost": "contoso.azurecr.io", "repositoryName": f"apps/{name.split('-')[1]}-api",
                        "imageDigest": digest, "imageTags": json.dumps([f"v1.{i % 3}", AMP if i == 2 else "latest"]),
                        "packageName": f"pkg{i % 5}", "packageVersion": "1.0.0",
                        "fixedVersion": "1.0.1" if i % 3 else "", "fixStatus": "FixAvailable" if i % 3 else "NoFix",
                        "osPlatform": "Linux", "osVersion": "debian 12",
                        "publishedDate": pd.Timestamp("2026-03-01", tz="UTC"), "exploitable": i % 4 == 0,
                        "timeGenerated": as_of - pd.Timedelta(hours=5),
                        "workloads": json.dumps([{"namespace": "default", "kind": "Deployment",
                                                  "name": f"{name}-web", "container": "app"}])})
        if name == "aks-prod-weu-01":
            frames["governance_assignments"].append({
                "id": f"{cid}/providers/Microsoft.Security/assessments/{ASSESSMENT_KEY}/governanceAssignments/ga1",
                "assessmentId": f"{cid}/providers/Microsoft.Security/assessments/{ASSESSMENT_KEY}",
                "owner": "Alice.Ops@Contoso.com", "remediationDueDate": pd.Timestamp("2026-09-15", tz="UTC"),
                "isGracePeriod": False})
    for sub, name in ((SUB_A, "Production"), (SUB_B, f"Research {AMP}")):
        frames["resource_containers"].append({"id": f"/subscriptions/{sub}", "type": "microsoft.resources/subscriptions",
                                              "name": name, "subscriptionId": sub, "resourceGroup": "", "tags": "{}"})
    frames["resource_containers"].append({
        "id": f"/subscriptions/{SUB_A}/resourceGroups/rg-shop", "type": "microsoft.resources/subscriptions/resourcegroups",
        "name": "rg-shop", "subscriptionId": SUB_A, "resourceGroup": "rg-shop", "tags": json.dumps({"owner": "Team-Shop"})})
    def assignment(sub: str) -> str:
        return f"/subscriptions/{sub}/providers/Microsoft.Authorization/policyAssignments/SecurityCenterBuiltIn"
    no_system_data = {"metadata": "{}", "createdBy": None, "createdAt": None, "lastModifiedBy": None,
                      "lastModifiedAt": None}
    frames["exemptions"] += [
        {"id": f"/subscriptions/{SUB_B}/resourceGroups/rg-lab/providers/Microsoft.Authorization/policyExemptions/lab",
         "name": "lab-waiver", "subscriptionId": SUB_B, "resourceGroup": "rg-lab",
         "scope": f"/subscriptions/{SUB_B}/resourceGroups/rg-lab", "policyAssignmentId": assignment(SUB_B),
         "policyDefinitionReferenceIds": json.dumps(["runningimagesvulnerabilities"]), "category": "Waiver",
         "displayName": f"Lab {EVIL_SCRIPT}", "description": f"Lab cluster, no production data {AMP}",
         "expiresOn": as_of + pd.Timedelta(days=12), **no_system_data},
        {"id": f"/subscriptions/{SUB_A}/providers/Microsoft.Authorization/policyExemptions/old",
         "name": "old-mitigation", "subscriptionId": SUB_A, "resourceGroup": "", "scope": f"/subscriptions/{SUB_A}",
         "policyAssignmentId": assignment(SUB_A), "policyDefinitionReferenceIds": "[]", "category": "Mitigated",
         "displayName": "WAF in front", "description": "Mitigated by network controls",
         "expiresOn": as_of - pd.Timedelta(days=20), **no_system_data},
        {"id": f"/subscriptions/{SUB_A}/resourceGroups/rg-payments/providers/Microsoft.Authorization/policyExemptions/forever",
         "name": "payments-legacy", "subscriptionId": SUB_A, "resourceGroup": "rg-payments",
         "scope": f"/subscriptions/{SUB_A}/resourceGroups/rg-payments", "policyAssignmentId": assignment(SUB_A),
         "policyDefinitionReferenceIds": "[]", "category": "Waiver", "displayName": "Legacy payments",
         "description": "Replaced in Q1", "expiresOn": None,
         "metadata": json.dumps({"approvedBy": "cfo@contoso.com", "requestedBy": "bob@contoso.com",
                                 "ticket": "CHG-1234", "reviewCycle": "quarterly"}),
         "createdBy": "admin@contoso.com", "createdAt": pd.Timestamp("2026-01-05T10:00:00Z"),
         "lastModifiedBy": None, "lastModifiedAt": None},
        # another policy of the same assignment: listed as not applicable to this policy, never counted
        {"id": f"/subscriptions/{SUB_A}/providers/Microsoft.Authorization/policyExemptions/registry",
         "name": "registry-scan-waiver", "subscriptionId": SUB_A, "resourceGroup": "", "scope": f"/subscriptions/{SUB_A}",
         "policyAssignmentId": assignment(SUB_A),
         "policyDefinitionReferenceIds": json.dumps(["containerregistryvulnerabilities"]), "category": "Waiver",
         "displayName": "Registry scan waiver", "description": "Registry images scanned elsewhere",
         "expiresOn": as_of + pd.Timedelta(days=200), **no_system_data},
    ]
    for sub in (SUB_A, SUB_B):
        for control in ("DS.6", "PV.6"):
            frames["regulatory_compliance"].append({
                "id": f"/subscriptions/{sub}/providers/Microsoft.Security/regulatoryComplianceStandards/x/{control}",
                "subscriptionId": sub, "standard": "Microsoft-cloud-security-benchmark", "control": control,
                "assessmentKey": ASSESSMENT_KEY, "state": "Failed" if sub == SUB_A else "Passed",
                "passedResources": 1, "failedResources": 2 if sub == SUB_A else 0, "skippedResources": 0})
    out = {}
    for name, rows in frames.items():
        out[name] = pd.DataFrame(rows, columns=list(DATASETS[name])) if not rows else pd.DataFrame(rows)
    return out


def write_fixture_tenant(root: Path, evil_url: str = EVIL_IMG_DEFAULT, months: int = 2) -> tuple[Path, Path]:
    """Write the current snapshot and ``months`` earlier ones; return (snapshot_dir, history_dir)."""
    current = pd.Timestamp("2026-10-31T23:00:00Z")
    history = root / "history"
    for back in range(months, -1, -1):
        as_of = current - pd.DateOffset(months=back)
        end = as_of.date()
        start = end.replace(day=1)
        frames = _frames(as_of, months - back, evil_url)
        queries = {name: f"// dataset: {name}\n// fixture query for {name}\nresources\n| where type =~ 'x'\n| project id"
                   for name in ("clusters", "policy_states", "assessments", "findings", "exemptions")}
        provenance = {
            "finding_history": DatasetInfo(name="finding_history", rows=0, status="skipped",
                                           warnings=("No Log Analytics workspace is configured; "
                                                     "first-seen dates come from earlier snapshots only.",)),
            "findings": DatasetInfo(name="findings", rows=0, status="partial", pages=3,
                                    warnings=(f"Subscription {SUB_B}: throttled (HTTP 429) after page 3 of 4 {AMP} retried.",)),
        }
        target = root / "current" if back == 0 else history / f"{end:%Y-%m}"
        write_snapshot(target, frames, collected_at=as_of, period=(start, end), source="fixture",
                       run_id=f"run-{end:%Y%m}", scope={"tenant_id": TENANT, "subscriptions": [SUB_A, SUB_B],
                                                         "management_groups": []},
                       provenance=provenance, queries=queries)
    return root / "current", history


# ---------------------------------------------------------------- fixtures


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server API)
        type(self).hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture(scope="module")
def loopback():
    """A loopback HTTP server that records every request it receives."""
    handler = type("Handler", (_RecordingHandler,), {"hits": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, handler
    finally:
        server.shutdown()
        server.server_close()


def _pdf_text(path: Path) -> list[str]:
    from pypdf import PdfReader
    return [page.extract_text() or "" for page in PdfReader(str(path)).pages]


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _render(model, pack: Path) -> dict:
    """Render ``model`` into ``pack`` and read the PDF back: page texts, and the body text
    of all pages (without the running header and footer, which interrupt text split over pages)."""
    from reportgen.render.charts import write_charts
    from reportgen.render.pdf import write_pdf
    write_charts(model, pack / "charts")  # the charts output, written before the PDF
    started = time.perf_counter()
    write_pdf(model, pack / "evidence-pack.pdf", charts_dir=pack / "charts")
    seconds = time.perf_counter() - started
    pages = _pdf_text(pack / "evidence-pack.pdf")
    meta = model.meta
    running = [meta.title, f"Period {meta.period_start} to {meta.period_end}", f"Snapshot sha256 {meta.fingerprint_short}"]
    bodies = []
    for number, page in enumerate(pages, start=1):
        for line in [*running, f"Page {number} of {len(pages)}"]:
            if number > 1 or line != meta.title:  # the cover shows the title as text too
                page = page.replace(line, "", 1)
        bodies.append(page)
    return {"model": model, "pack": pack, "pdf": pack / "evidence-pack.pdf", "pages": pages,
            "text": "\n".join(bodies), "seconds": seconds}


SAMPLE_DETAIL_ROWS = 40  # fewer findings rows than the default 200 keep the test fast; the cap still applies


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The built-in small sample tenant with history, rendered once."""
    from reportgen.config import ReportConfig
    root = tmp_path_factory.mktemp("sample")
    pipeline.make_sample(root / "current", history_dir=root / "history", months=3)
    config = RunConfig(report=ReportConfig(pdf_detail_rows=SAMPLE_DETAIL_ROWS))
    model = pipeline.build(root / "current", config, root / "history")
    return _render(model, root / "pack")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, loopback):
    """The hand-made fixture tenant rendered once: hostile names and tags, one cluster's owner tag
    an <img> pointing at the loopback server, a partial and a skipped dataset, queries."""
    from reportgen.config import ReportConfig
    server, _ = loopback
    root = tmp_path_factory.mktemp("hostile")
    evil_url = f"http://127.0.0.1:{server.server_address[1]}/x.png"
    snapshot_dir, history_dir = write_fixture_tenant(root, evil_url=evil_url)
    config = RunConfig(report=ReportConfig(organization=f"Contoso {AMP} Sons", pdf_detail_rows=20))
    rendered = _render(pipeline.build(snapshot_dir, config, history_dir), root / "pack")
    rendered["evil_url"] = evil_url
    return rendered


# ---------------------------------------------------------------- structure (the sample tenant)


def test_page_count_is_in_range(sample):
    # the period population (its lists capped) and the audit sample's cards (2-4 a page) add up to about 15 pages
    assert 15 <= len(sample["pages"]) <= 60, len(sample["pages"])


def test_every_section_heading_is_present_in_order(sample):
    from reportgen.render.pdf import sections
    text = _squash(sample["text"])
    after_contents = text.find(_squash("Confidential. Prepared for the audit"))
    assert after_contents > 0
    positions = []
    for s in sections(sample["model"]):
        found = text.find(_squash(f"{s.number} {s.title}"), after_contents)
        assert found >= 0, f"missing section heading {s.number} {s.title}"
        positions.append(found)
    assert positions == sorted(positions)
    assert [s.title for s in sections(sample["model"])] == [
        "Executive summary", "Scope and coverage",
        "Control DS-6: Enforce security of workload throughout DevOps lifecycle",
        "Control PV-6: Rapidly and automatically remediate vulnerabilities",
        "Owners", "Findings", "Exemptions and exceptions", "Changes since the previous period",
        "Period population and roll-forward", "Completeness and accuracy (IPE)",
        "Methodology and provenance", "Audit sample", "Sign-off"]


def test_cover_names_controls_period_scope_and_fingerprint(sample):
    m = sample["model"]
    cover = sample["pages"][0]
    for c in m.controls:
        assert c.id in cover and _squash(c.control.title) in _squash(cover)
    assert f"{m.meta.period_start} to {m.meta.period_end}" in cover
    assert m.meta.as_of.strftime("%Y-%m-%d %H:%M UTC") in cover
    assert m.meta.tenant_id in cover
    assert f"{m.coverage.subscriptions} subscriptions" in cover and f"{m.coverage.clusters} AKS clusters" in cover
    assert f"reportgen {m.meta.tool_version}" in cover
    assert m.meta.run_id in cover
    assert f"sha256 {m.meta.fingerprint_short}" in cover
    assert m.meta.organization in cover


def test_every_page_has_header_and_footer(sample):
    pages = sample["pages"]
    meta = sample["model"].meta
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in text, number
        assert f"Snapshot sha256 {meta.fingerprint_short}" in text, number
        assert meta.title in text, number
        assert f"Period {meta.period_start} to {meta.period_end}" in text, number


def test_figures_match_summary_json(sample):
    from reportgen.render.summary import summary_dict
    summary = json.loads(json.dumps(summary_dict(sample["model"])))  # exactly what summary.json holds
    executive = _squash(sample["pages"][1])
    f = summary["findings"]
    assert _squash(f"{f['open']:,} vulnerability findings were open") in executive
    assert _squash(f"{f['overdue']:,} of them past their due date") in executive
    assert _squash(f"OPEN CRITICAL{f['by_severity']['Critical']:,}") in executive
    assert _squash(f"OPEN HIGH{f['by_severity']['High']:,}") in executive
    assert _squash(f"OVERDUE{f['overdue']:,}of{f['open']:,}") in executive
    assert _squash(f"EXPLOITABLE{f['exploitable']:,}") in executive
    assert _squash(f"{f['fixable']:,} open findings have a fix available") in executive
    cov = summary["coverage"]
    assert _squash(f"NOT ASSESSED{len(cov['not_assessed'])}of{cov['clusters']}clusters") in executive
    for c in summary["controls"]:
        assert _squash(f"{c['id']} COMPLIANCE{c['compliance_pct']:.2f}%") in executive
    text = _squash(sample["text"])
    for c in summary["controls"]:  # each control section's compliance table row
        row = _squash(f"{c['resources']:,} {c['compliant']:,} {c['exempt']:,} {c['non_compliant']:,} {c['conflict']:,}")
        assert re.search(re.escape(row) + r"[\d,]+" + re.escape(f"{c['compliance_pct']:.2f}%"), text), c["id"]
    for o in summary["owners"]:  # the owners table
        severities = " ".join(f"{o['by_severity'][s]:,}" for s in ("Critical", "High", "Medium", "Low", "Unknown"))
        row = f"{o['clusters']} {o['non_compliant_clusters']} {severities} {o['open_findings']:,} {o['overdue']:,}"
        assert _squash(row) in text, o["owner"]
    ch = summary["changes"]
    assert _squash(f"NEW{ch['new']:,}vulnerabilities opened") in text
    assert _squash(f"RESOLVED{ch['resolved']:,}vulnerabilities no longer open") in text
    assert _squash(f"PERSISTING{ch['persisting']:,}vulnerabilities open in both") in text


def test_insights_are_printed(sample):
    text = _squash(sample["text"])
    assert 3 <= len(sample["model"].insights) <= 5
    for sentence in sample["model"].insights:
        assert _squash(sentence) in text


def test_findings_are_capped_with_a_pointer_to_the_workbook(sample):
    m = sample["model"]
    assert m.meta.pdf_detail_rows == SAMPLE_DETAIL_ROWS < m.findings.open
    text = " ".join(sample["text"].split())
    assert (f"This list is capped at {SAMPLE_DETAIL_ROWS} rows: showing {SAMPLE_DETAIL_ROWS} "
            f"of {m.findings.open:,} open findings") in text
    assert f"End of the capped list ({SAMPLE_DETAIL_ROWS} of {m.findings.open:,} open findings)" in text
    assert "evidence-pack.xlsx, sheet Findings" in text
    # overdue and critical first: the first row is the model's first open finding
    first = m.tables.findings.iloc[0]
    assert first["state"] == "Open" and first["overdue"]
    page = next(p for p in sample["pages"] if "This list is capped" in p)
    assert first["cveId"] in page


def test_every_dataset_is_in_the_appendix(sample):
    text = " ".join(sample["text"].split())
    appendix = text[text.find("Datasets and queries"):]
    for d in sample["model"].datasets:
        assert d.name in appendix
        assert d.sha256[:16] in appendix
    assert "compliance % = 100 × (compliant + exempt) / (compliant + non-compliant + conflict + exempt)" in text
    for severity, days in sample["model"].meta.sla_days.items():
        assert f"{severity} {days}" in appendix


def test_signoff_page(sample):
    last = sample["pages"][-1]
    for role in ("Prepared by", "Reviewed by", "Approved by"):
        assert role in last
    assert last.count("Date") >= 3 and last.count("Signature") >= 3


def test_pdf_metadata_uses_the_as_of_time(sample):
    from pypdf import PdfReader
    meta = sample["model"].meta
    info = PdfReader(str(sample["pdf"])).metadata
    assert info["/Title"] == meta.title
    assert info["/Author"] == meta.organization
    assert "DS-6" in info["/Subject"] and "PV-6" in info["/Subject"]
    assert info["/CreationDate"] == info["/ModDate"] == meta.as_of.strftime("D:%Y%m%d%H%M%SZ")


def test_bookmarks_follow_the_sections(sample):
    from pypdf import PdfReader
    from reportgen.render.pdf import sections
    outline = PdfReader(str(sample["pdf"])).outline
    top = [item.title for item in outline if not isinstance(item, list)]
    assert top == ["Cover"] + [f"{s.number} {s.title}" for s in sections(sample["model"])]


def test_only_shipped_fonts_are_embedded(sample, hostile):
    from pypdf import PdfReader
    for rendered in (sample, hostile):
        names = set()
        for page in PdfReader(str(rendered["pdf"])).pages:
            for font in (page["/Resources"].get("/Font") or {}).values():
                names.add(str(font.get_object()["/BaseFont"]).split("+", 1)[-1])
        assert names and all(n.startswith("Reportgen-") for n in names), names


def test_charts_are_written_and_embedded(sample):
    from pypdf import PdfReader
    from reportgen.render.charts import CHARTS
    charts = sample["pack"] / "charts"
    text = " ".join(sample["text"].split())
    for name, title, *_ in CHARTS:
        assert (charts / f"{name}.svg").stat().st_size > 2000
        assert (charts / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if name != "sla-attainment" or sample["model"].period is not None:  # shown in the period section
            assert title in text
    summary_pages = PdfReader(str(sample["pdf"])).pages[1:3]
    assert all("/XObject" in p["/Resources"] for p in summary_pages)  # the SVG charts are drawn there


def test_render_time_is_small(sample):
    # a few seconds on an idle machine; generous so that a busy CI runner does not flake
    assert sample["seconds"] < 90


# ---------------------------------------------------------------- the hand-made tenant


def test_scope_states_gaps_plainly(hostile):
    text = " ".join(hostile["text"].split())
    assert "1 cluster is not assessed by Defender." in text
    assert "Dataset findings is partial." in text and "throttled (HTTP 429)" in text
    assert "Dataset finding_history is skipped. No Log Analytics workspace is configured" in text
    assert "aks-lab-01" in text


def test_exemptions_are_grouped_by_expiry(hostile):
    text = " ".join(hostile["text"].split())
    for heading in ("Expiring within 30 days 1", "Expired 1", "Active 1"):
        assert heading in text
    assert "lab-waiver" in text and "old-mitigation" in text and "payments-legacy" in text


def test_appendix_prints_every_query_with_its_hash(hostile):
    text = _squash(hostile["text"])
    queried = [d for d in hostile["model"].datasets if d.query_text]
    assert len(queried) == 5
    for d in queried:
        assert _squash(f"sha256 {d.query_sha256}") in text
        assert _squash(d.query_text) in text


def test_same_model_renders_byte_identical_files(hostile, tmp_path):
    from reportgen.render.pdf import write_pdf

    def digests(pack: Path) -> dict[str, str]:
        return {p.relative_to(pack).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(pack.rglob("*")) if p.is_file()}

    from reportgen.render.charts import write_charts
    again = tmp_path / "pack"
    write_charts(hostile["model"], again / "charts")
    write_pdf(hostile["model"], again / "evidence-pack.pdf", charts_dir=again / "charts")
    first, second = digests(hostile["pack"]), digests(again)
    assert len(first) == 13  # the PDF and six charts as SVG and PNG
    assert first == second


def test_hostile_names_and_tags_come_out_as_text(hostile):
    from reportgen.render.charts import planned_charts
    from reportgen.render.pdf import render_html
    html = render_html(hostile["model"], planned_charts(hostile["pack"] / "charts"), hostile["pack"])
    assert "<script" not in html
    assert "<img src=\"http" not in html and "<img src='http" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert f"&lt;img src=&#34;{hostile['evil_url']}&#34;&gt;" in html
    assert "r&amp;d platform" in html and "Contoso R&amp;D Sons" in html
    text = _squash(hostile["text"])
    assert _squash(f"aks-dev-{EVIL_SCRIPT}") in text
    assert _squash(f'<img src="{hostile["evil_url"]}">') in text
    assert "r&dplatform" in text and _squash(f"{EVIL_SCRIPT} overflow in libfoo") in text


def test_the_renderer_fetched_nothing(hostile, loopback):
    _, handler = loopback
    assert any(hostile["evil_url"] in o.owner for o in hostile["model"].owners)  # the bait was there
    assert handler.hits == []


def test_fetcher_refuses_every_url_outside_the_pack(tmp_path, loopback):
    from reportgen.render.pdf import html_to_pdf, pack_fetcher
    _, handler = loopback
    base = f"http://127.0.0.1:{loopback[0].server_address[1]}"
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not for the pdf")
    charts = tmp_path / "charts"
    charts.mkdir()
    html = f"""<html><head><link rel="stylesheet" href="{base}/style.css">
      <style>@import url("{base}/import.css"); body {{ background: url("{base}/bg.png"); }}</style></head>
      <body><p>hello</p><img src="{base}/img.png"><img src="https://example.invalid/x.png">
      <img src="{secret.as_uri()}"><img src="file:///etc/hostname"><object data="{base}/obj"></object>
      <img src="charts/../secret.png"></body></html>"""
    fetcher = pack_fetcher(charts)
    data = html_to_pdf(html, html_base=tmp_path, allowed_dirs=(charts,), fetcher=fetcher)
    assert data.startswith(b"%PDF")
    assert handler.hits == []
    refused = " ".join(fetcher.refused)
    for needle in ("/style.css", "/import.css", "/bg.png", "/img.png", "example.invalid", "secret.png", "/etc/hostname"):
        assert needle in refused, needle
    assert fetcher.served == []


def test_fetcher_serves_templates_and_charts(tmp_path):
    from reportgen.assets import asset_dir
    from reportgen.render.pdf import RefusedURL, pack_fetcher
    charts = tmp_path / "charts"
    charts.mkdir()
    (charts / "a.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    fetcher = pack_fetcher(asset_dir("templates"), charts)
    font = asset_dir("templates") / "fonts" / "Inter-Regular.otf"
    assert fetcher.fetch(font.as_uri()).read()[:4] == b"OTTO"
    assert b"svg" in fetcher.fetch((charts / "a.svg").as_uri()).read()
    assert fetcher.fetch("data:text/plain,hi").read() == b"hi"
    for url in ("http://127.0.0.1:9/x", "https://example.com/", "ftp://example.com/x",
                (charts / ".." / ".." / "etc" / "passwd").as_uri(), "file://otherhost/etc/passwd"):
        with pytest.raises(RefusedURL):
            fetcher.fetch(url)


def test_environment_is_strict_and_escapes():
    import jinja2
    from reportgen.render.environment import environment
    env = environment()
    assert env.autoescape is True
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ missing }}").render()
    assert env.from_string("{{ v }}").render(v="<b>&</b>") == "&lt;b&gt;&amp;&lt;/b&gt;"


def test_formatting_filters():
    from reportgen.render import environment as e
    assert e.fmt_int(1234567) == "1,234,567"
    assert e.fmt_pct(97.5) == "97.50%" and e.fmt_pct(float("nan")) == "\u2014"
    assert e.fmt_points(1.25) == "+1.25 pts" and e.fmt_points(-0.5) == "\u22120.50 pts"
    assert e.fmt_points(0) == "no change" and e.fmt_points(None) == "\u2014"
    assert e.short_digest("sha256:" + "a" * 60 + "1234") == "sha256:aaaaaaaa\u20261234"
    assert e.short_digest("short") == "short"
    assert e.arm_tail("/subscriptions/s/resourceGroups/rg/providers/x/managedClusters/aks-1", 1) == "aks-1"
    assert e.fmt_datetime(pd.Timestamp("2026-10-31T23:00:00Z")) == "2026-10-31 23:00 UTC"
    assert e.fmt_date(pd.NaT) == "\u2014" and e.fmt_date(date(2026, 1, 2)) == "2026-01-02"
    assert e.plural(1, "cluster") == "1 cluster" and e.plural(2, "cluster") == "2 clusters"


def test_gaps_render_as_plain_statements(tmp_path):
    """No earlier snapshot, nothing open, a control without evidence: each says so instead of failing."""
    from dataclasses import replace
    from reportgen.render.charts import planned_charts
    from reportgen.render.pdf import render_html
    snapshot_dir, _ = write_fixture_tenant(tmp_path, months=0)
    model = pipeline.build(snapshot_dir, RunConfig())
    assert model.changes is None and len(model.history) == 1
    findings = model.tables.findings
    quiet = replace(
        model,
        controls=(replace(model.controls[0], status="No data", resources=0, compliant=0, non_compliant=0,
                          compliance_pct=None, previous_pct=None),) + model.controls[1:],
        findings=replace(model.findings, open=0, overdue=0, fixable=0, exploitable=0, median_age_days=None,
                         median_time_to_fix_days=None),
        tables=replace(model.tables, findings=findings[findings["state"].ne("Open")],
                       exemptions=model.tables.exemptions.iloc[0:0]))
    html = " ".join(render_html(quiet, planned_charts(tmp_path / "charts"), tmp_path).split())
    assert "No earlier snapshot was available in the history folder" in html
    assert "no earlier month to compare" in html
    assert "No finding is open." in html
    assert "no compliance figure" in html and "No data" in html and "no counted policy state" in html
    assert "no vulnerability fixed in the history" in html
    assert html.count("<p class=\"empty\">None.</p>") == 3  # the three exemption groups


# ---------------------------------------------------------------- golden HTML


@pytest.mark.parametrize("golden_name", ["report.html", "report-issue10.html"])
def test_golden_html(tmp_path, golden_name):
    """The HTML for the fixed fixture tenant (and with the hand-made figures of issue 10: period, IPE,
    sample); `make golden` regenerates them (REPORTGEN_UPDATE_GOLDEN=1)."""
    from reportgen.render.charts import planned_charts
    from reportgen.render.pdf import render_html
    snapshot_dir, history_dir = write_fixture_tenant(tmp_path)
    model = pipeline.build(snapshot_dir, RunConfig(), history_dir)
    if golden_name == "report-issue10.html":
        model = with_issue10_evidence(model)
    pack = tmp_path / "pack"
    html = render_html(model, planned_charts(pack / "charts"), pack)
    # Parquet bytes (so their sha256 and the snapshot's fingerprint) vary with the pyarrow version.
    volatile = [model.meta.snapshot_fingerprint] + [d.sha256 for d in model.datasets]
    for length in (64, 32, 16, 12):
        for digest in volatile:
            html = html.replace(digest[:length], f"{{sha256:{length}}}")
    header = "<!-- generated, do not edit \u2014 regenerate with `make golden` (tests/test_pdf.py::test_golden_html) -->\n"
    golden = GOLDEN_DIR / golden_name
    if UPDATE_GOLDEN:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(header + html, encoding="utf-8")
    assert golden.is_file(), "no golden file: run `make golden`"
    expected = golden.read_text(encoding="utf-8")
    assert expected.startswith(header)
    assert header + html == expected, f"rendered HTML differs from tests/golden/pdf/{golden_name}; review, then `make golden`"


# ---------------------------------------------------------------- hand-built snapshots (tests/builders.py)


def _sections_text(rendered: dict) -> dict[str, str]:
    """The squashed body text of each section, by anchor, from its heading to the next heading."""
    from reportgen.render.pdf import sections
    text = _squash(rendered["text"])
    start = text.find(_squash("Confidential. Prepared for the audit"))
    heads = [(s.anchor, text.find(_squash(f"{s.number} {s.title}"), start)) for s in sections(rendered["model"])]
    assert all(pos > 0 for _, pos in heads), heads
    return {anchor: text[pos:(heads[i + 1][1] if i + 1 < len(heads) else len(text))]
            for i, (anchor, pos) in enumerate(heads)}


@pytest.fixture(scope="module")
def no_data(tmp_path_factory):
    """Assessed clusters with findings and not one policy state, with an earlier month that had one."""
    from tests import builders as b
    root = tmp_path_factory.mktemp("nodata")
    b.write(root / "history" / "2026-09", collected_at="2026-09-30T06:00:00Z", run_id="run-prev",
            clusters=[b.cluster("aks-a")], policy_states=[b.policy_state(b.cluster_id("aks-a"), "Compliant")])
    b.no_policy_evidence(root / "current")
    return _render(pipeline.build(root / "current", RunConfig(), root / "history"), root / "pack")


@pytest.fixture(scope="module")
def retired(tmp_path_factory):
    """Clusters with individual-recommendation findings but no c609cf0f assessment, and recorded gaps."""
    from tests import builders as b
    root = tmp_path_factory.mktemp("retired")
    b.retired_assessment(root / "current")
    return _render(pipeline.build(root / "current", RunConfig()), root / "pack")


def test_a_control_without_evidence_shows_no_data_never_a_figure(no_data):
    pages = no_data["pages"]
    by_section = _sections_text(no_data)
    cover, executive = _squash(pages[0]), _squash(pages[1])
    for control in no_data["model"].controls:
        c = control.id
        assert _squash(f"{c} {control.control.title} No data no compliance figure: no counted policy state") in cover
        assert _squash(f"{c} COMPLIANCE No data no counted policy state") in executive
        section = by_section[f"control-{c.lower()}"]
        assert _squash("No data no compliance figure No cluster has a counted policy state") in section
        # the compliance row: 0 clusters, No data where the figure would be, last month's 100.00% beside it
        assert _squash("0 0 0 0 0 0 No data 100.00% No data") in section
        # the only percentages are last month's real figure, in the status line and the table
        assert re.findall(r"[\d.]+%", section) == ["100.00%", "100.00%"], c
    history = by_section["changes"][by_section["changes"].find("Monthbymonth"):]
    assert _squash("2026-09 2026-09-30 100.00% 100.00%") in history
    assert _squash("2026-10 2026-10-31 No data No data") in history
    assert "%" not in cover
    assert not re.search(r"COMPLIANCE[\d.]", executive)
    text = _squash(no_data["text"])
    assert "DS-6hasnocompliancefigure" in text  # the insight and the evidence-gap statement
    assert "pts" not in by_section["summary"]  # no delta computed from a missing figure


def test_no_data_points_are_left_out_of_the_trend_chart_and_labelled(no_data):
    from reportgen.render import charts
    model = no_data["model"]
    with charts.style():
        fig = charts.compliance_trend(model)
    ax = fig.axes[0]
    for line in ax.get_lines():
        y = list(line.get_ydata())
        assert y[0] == 100.0 and y[1] != y[1]  # NaN: no point for the month without a figure
    assert "No data" in [t.get_text() for t in ax.texts]


def test_the_retired_assessment_is_stated_in_scope_and_every_control_section(retired):
    model = retired["model"]
    by_section = _sections_text(retired)
    statement = _squash("2 of 5 clusters have vulnerability findings from the individual recommendations but no "
                        "c609cf0f assessment.")
    retired_on = _squash("Microsoft retired the grouped assessment c609cf0f-71ab-41e9-a3c6-9a1f7fe1b8d5 on 31 July "
                         "2026 and replaced it with individual recommendations.")
    for anchor in ["scope"] + [f"control-{c.id.lower()}" for c in model.controls]:
        section = by_section[anchor]
        assert statement in section and retired_on in section, anchor
        assert _squash("The policy still names c609cf0f, and how Azure evaluates it now is not documented") in section
        # the list: both clusters, each with Azure's policy state and the derived verdict beside it
        listed = section[section.find(_squash("Clusters with findings but no c609cf0f assessment 2")):]
        assert _squash("aks-ind-open rg-app team-x Compliant Not assessed Unhealthy 1") in listed, anchor
        assert _squash("aks-ind-clean rg-app team-x Compliant Not assessed Healthy 0") in listed, anchor
    assert _squash(model.coverage.assessment_gap_statement) in by_section["scope"]
    # every cluster of the inventory carries its derived verdict; no evidence is said, not guessed
    scope = by_section["scope"]
    assert _squash("aks-empty rg-app") in scope and _squash("Not assessed NonCompliant No evidence 0") in scope
    assert _squash("Healthy Compliant No findings 0") in scope
    assert _squash("Derived verdict") in by_section["methodology"]
    assert _squash("Unhealthy when it has at least one open finding") in by_section["methodology"]


def test_recorded_gaps_and_a_failed_dataset_are_stated_in_scope(retired):
    scope = _sections_text(retired)["scope"]
    gaps = scope[scope.find("Evidencegaps"):]
    assert _squash("1 subscription could not be read. Resource Graph returned nothing for 1 of the 2 subscriptions") in gaps
    assert _squash("00000000-0000-0000-0000-0000000000cc") in gaps
    assert _squash("Dataset finding_history failed. HTTP 403 from the workspace. Every request to the Log "
                   "Analytics workspace failed.") in gaps
    assert "finding_historyisskipped" not in scope
    assert _squash("1 package has more CVEs than were read.") in gaps
    assert _squash("Evidence gap (future-kind). A gap this version of reportgen does not know yet.") in gaps
    cover = _squash(retired["pages"][0])
    assert _squash("5 limits of the evidence are stated in section 2: 1 subscription could not be read;") in cover


def test_the_list_of_clusters_without_assessment_is_capped_with_a_pointer(tmp_path):
    from reportgen.render.charts import planned_charts
    from reportgen.render.pdf import ASSESSMENT_GAP_ROWS, render_html
    from tests import builders as b
    names = [f"aks-{i:02d}" for i in range(ASSESSMENT_GAP_ROWS + 5)]
    snap = b.write(tmp_path / "s", clusters=[b.cluster(n) for n in names],
                   findings=[b.individual_finding(b.cluster_id(n), "CVE-1") for n in names])
    model = pipeline.build(snap, RunConfig())
    html = " ".join(render_html(model, planned_charts(tmp_path / "charts"), tmp_path).split())
    total = len(names)
    assert html.count(f"{total} of {total} clusters have vulnerability findings from the individual "
                      f"recommendations") == 1 + len(model.controls)
    pointer = (f"Showing the first {ASSESSMENT_GAP_ROWS} of {total} such clusters (most overdue findings first). "
               f"The complete list is in <strong>evidence-pack.xlsx</strong>, sheet <strong>Clusters</strong>")
    assert html.count(pointer) == 1 + len(model.controls)


# ---------------------------------------------------------------- issue 10: lineages, period, IPE, sample
#
# Until aggregation fills them, the new figures come from hand-made values put on the fixture tenant's
# model with dataclasses.replace; every assertion below reads a figure worked out here by hand.

LINEAGE_CRIT = "L-00000000000000c1"
LINEAGE_HIGH = "L-00000000000000a2"
LINEAGE_LATE = "L-00000000000000b3"
QUERY_SHA = "ab" * 32


def _lineage(lineage: str, severity: str, verdict: str, **extra) -> dict:
    """One row of the period population (POPULATION_COLUMNS), with defaults for what a test does not read."""
    row = {"lineageId": lineage, "severity": severity, "cveId": "CVE-2026-01002", "packageName": "pkg0",
           "repository": "contoso.azurecr.io/apps/prod-api", "clusterName": "aks-prod-weu-01",
           "resourceId": _cluster_id(SUB_A, "rg-payments", "aks-prod-weu-01"), "owner": "alice.ops@contoso.com",
           "firstSeen": pd.Timestamp("2026-09-02T06:00:00Z"), "firstSeenSource": "sighting", "ageIsLowerBound": False,
           "dueDate": pd.Timestamp("2026-09-17T06:00:00Z"), "dueSource": "sla", "openAtStart": True,
           "openAtAsOf": verdict.startswith("open"), "closed": pd.NaT, "closeReason": "", "slaVerdict": verdict,
           "daysToFix": None, "digests": "sha256:" + "1" * 64, "sightings": "", "exemption": "",
           "querySha256": QUERY_SHA}
    row.update(extra)
    return row


def _population() -> pd.DataFrame:
    from reportgen.aggregate.model import POPULATION_COLUMNS
    rows = [
        _lineage(LINEAGE_CRIT, "Critical", "missed", closed=pd.Timestamp("2026-10-20T06:00:00Z"),
                 closeReason="fixed", daysToFix=48.0, ageIsLowerBound=True, openAtAsOf=False),
        _lineage(LINEAGE_LATE, "High", "open-overdue", cveId="CVE-2026-01777", packageName="openssl",
                 digests="sha256:" + "2" * 64 + "; sha256:" + "3" * 64),
        _lineage(LINEAGE_HIGH, "High", "met", closed=pd.Timestamp("2026-10-05T06:00:00Z"), closeReason="fixed",
                 daysToFix=9.5, openAtAsOf=False),
    ]
    return pd.DataFrame(rows, columns=list(POPULATION_COLUMNS))


def _period(**changes):
    from reportgen.aggregate.model import MonthlySla, PeriodPopulation, RollForward
    period = PeriodPopulation(
        period_start=pd.Timestamp("2026-10-01T00:00:00Z"), opening_as_of=pd.Timestamp("2026-09-30T23:00:00Z"),
        opening_run_id="run-202609", sightings=3,
        total=RollForward(opening=18, new=8, closed=9, closing=17),
        by_severity={"Critical": RollForward(4, 3, 2, 5), "High": RollForward(10, 5, 6, 9),
                     "Medium": RollForward(3, 0, 1, 2), "Low": RollForward(0, 0, 0, 0),
                     "Unknown": RollForward(1, 0, 0, 1)},
        closed_by_reason={"fixed": 6, "exempt": 2, "out_of_scope": 1},
        sla={"met": 4, "missed": 2, "open_overdue": 6, "open_within": 11}, sla_attainment_pct=66.67,
        monthly=(MonthlySla("2026-10", "Critical", 2, 1, 1, 50.0, 31.5, 31.5),
                 MonthlySla("2026-10", "High", 4, 3, 1, 75.0, 20.25, 18.0),
                 MonthlySla("2026-10", "All", 6, 4, 2, 66.67, 24.0, 19.75)),
        statement="No finding history was collected: the sightings inside the period are the snapshots alone.")
    return replace(period, **changes)


def _ipe():
    from reportgen.aggregate.model import Collector, Ipe, IpeDataset, Reconciliation
    return Ipe(
        datasets=(IpeDataset("findings", "partial", QUERY_SHA, 51, 60, 3, 2, 1,
                             "9 rows short of Azure's totalRecords: subscription bb was throttled after page 3."),
                  IpeDataset("clusters", "complete", "cd" * 32, 6, 6, 1, 2, 2, "Complete: rows = totalRecords."),
                  IpeDataset("finding_history", "skipped", None, 0, None, 0, None, None, "No workspace configured.")),
        reconciliations=(Reconciliation("DS.6 failed resources (regulatory compliance)", 5, 4, 1,
                                        "aks-lab-01 is not assessed: Defender does not count it."),
                         Reconciliation("Assessed clusters", 5, None, None, "Defender reports no total for this.")),
        collector=Collector(tenant_id=TENANT, object_id="99999999-0000-0000-0000-00000000000f",
                            app_id="77777777-0000-0000-0000-000000000007", upn=None, identity_type="app",
                            collected_at=pd.Timestamp("2026-10-31T23:00:00Z"), tool_version="0.9.1", source="fixture",
                            note="Claims oid, appid and tid of the Resource Graph token."),
        render_tool_version="0.9.2")


SIGHTINGS_MANY = 50   # more than the card prints (pdf.SIGHTING_LINES)


def _sample_rows() -> pd.DataFrame:
    from reportgen.aggregate.model import SAMPLE_COLUMNS
    times = pd.date_range("2026-09-01T06:00:00Z", periods=SIGHTINGS_MANY, freq="12h")
    many = "; ".join(f"{t:%Y-%m-%d %H:%M} UTC history {'open' if i < SIGHTINGS_MANY - 1 else 'not open'}"
                     for i, t in enumerate(times))
    population = _population()
    first = population.iloc[0].to_dict() | {
        "sightings": "2026-09-30 23:00 UTC snapshot open; 2026-10-20 06:00 UTC history not open; "
                     "2026-10-31 23:00 UTC snapshot not open",
        "exemption": "Waiver payments-legacy, approved by cfo@contoso.com (ticket CHG-1234)"}
    second = population.iloc[1].to_dict() | {"sightings": many}
    rows = [{"item": 1, "stratum": "Critical / missed", "drawKey": "0f" * 32, **first},
            {"item": 2, "stratum": "High / open-overdue", "drawKey": "1e" * 32, **second}]
    return pd.DataFrame(rows, columns=list(SAMPLE_COLUMNS))


def _sample():
    from reportgen.aggregate.model import AuditSample
    return AuditSample(size=2, seed=20261031, drawn=2, population=17,
                       method="Stratified by (lineage severity, outcome); drawKey = sha256(seed:lineageId).",
                       strata=(("Critical / missed", 1, 1), ("High / open-overdue", 6, 1), ("High / met", 3, 0)))


def with_issue10_evidence(model):
    """``model`` with the figures of issue 10 hand-made: period, IPE, sample, and the new table columns."""
    from reportgen.aggregate.model import CHANGE_COLUMNS
    t = model.tables
    findings = t.findings.astype({"ageIsLowerBound": object, "ageDays": object})
    first_open, second_open = findings.index[findings["state"].eq("Open")][:2]
    findings.loc[first_open, ["ageIsLowerBound", "ageDays"]] = [True, 61.0]
    findings.loc[second_open, ["ageIsLowerBound", "ageDays"]] = [False, 7.0]
    clusters = t.clusters.astype({"ownerTag": object, "ownerConflict": object})
    conflict = clusters["name"].eq("aks-prod-weu-01")
    clusters.loc[conflict, ["ownerTag", "ownerConflict"]] = ["team-payments", True]
    clusters.loc[~conflict, "ownerConflict"] = False
    rebuilt = pd.DataFrame([{
        "change": "Rebuilt, still vulnerable", "severity": "High", "cveId": "CVE-2026-01777", "packageName": "openssl",
        "repositoryName": "apps/prod-api", "imageDigest": "sha256:" + "3" * 64, "clusterName": "aks-prod-weu-01",
        "resourceId": _cluster_id(SUB_A, "rg-payments", "aks-prod-weu-01"), "owner": "alice.ops@contoso.com",
        "lineageId": LINEAGE_LATE, "previousDigests": "sha256:" + "2" * 64}], columns=list(CHANGE_COLUMNS))
    changes = pd.concat([t.changes.assign(lineageId=LINEAGE_CRIT), rebuilt], ignore_index=True)
    return replace(model, changes=replace(model.changes, rebuilt_still_vulnerable=2),
                   period=_period(), ipe=_ipe(), audit_sample=_sample(),
                   tables=replace(t, findings=findings, clusters=clusters, changes=changes,
                                  period_population=_population(), audit_sample=_sample_rows()))


@pytest.fixture(scope="module")
def evidence(tmp_path_factory):
    """The fixture tenant with the hand-made figures of issue 10, rendered once."""
    root = tmp_path_factory.mktemp("issue10")
    snapshot_dir, history_dir = write_fixture_tenant(root)
    model = with_issue10_evidence(pipeline.build(snapshot_dir, RunConfig(), history_dir))
    rendered = _render(model, root / "pack")
    rendered["sections"] = _sections_text(rendered)
    rendered["flat"] = " ".join(rendered["text"].split())
    return rendered


def _html(model, tmp_path: Path) -> str:
    """The report's HTML (no layout: fast), whitespace squashed to single spaces."""
    from reportgen.render.charts import planned_charts
    from reportgen.render.pdf import render_html
    return " ".join(render_html(model, planned_charts(tmp_path / "charts"), tmp_path).split())


def test_changes_count_lineages_and_show_rebuilds_apart_from_fixes(evidence):
    changes = evidence["sections"]["changes"]
    ch = evidence["model"].changes
    assert _squash(f"REBUILT, STILL VULNERABLE{ch.rebuilt_still_vulnerable}of the persisting") in changes
    assert _squash("2 persisting vulnerabilities were redeployed in a rebuilt image that still carries the CVE: "
                   "a rebuild is not a fix.") in changes
    assert _squash(f"RESOLVED{ch.resolved}vulnerabilities no longer open") in changes
    assert _squash("counted over lineages") in changes
    rebuilt = changes[changes.find(_squash("Rebuilt, still vulnerable 1")):]
    assert rebuilt and LINEAGE_LATE in rebuilt
    assert _squash("was sha256:22222222\u20262222") in rebuilt and _squash("now sha256:33333333\u20263333") in rebuilt
    assert LINEAGE_CRIT in changes[changes.find(_squash("New vulnerabilities")):]


def test_no_rebuild_says_so_plainly(evidence, tmp_path):
    model = evidence["model"]
    html = _html(replace(model, changes=replace(model.changes, rebuilt_still_vulnerable=0)), tmp_path)
    assert "No persisting vulnerability was redeployed in a rebuilt image" in html
    assert "a rebuild is not a fix" not in html


def test_roll_forward_is_shown_reconciled_per_severity_and_in_total(evidence):
    period = evidence["sections"]["period"]
    for row in ("Critical 4 3 2 5 reconciles 4 + 3 \u2212 2 = 5", "High 10 5 6 9 reconciles 10 + 5 \u2212 6 = 9",
                "Medium 3 0 1 2 reconciles", "Unknown 1 0 0 1 reconciles",
                "All severities 18 8 9 17 reconciles 18 + 8 \u2212 9 = 17"):
        assert _squash(row) in period, row
    assert "doesnotreconcile" not in period
    assert _squash("Fixed 6 Exempt 2 Out of scope 1 Closed 9") in period
    assert _squash("Met 4 Missed 2 Open, overdue 6 Open, within SLA 11 SLA attainment 66.67%") in period
    assert _squash("2026-10 Critical 2 1 1 50.00% 31.5 31.5") in period
    assert _squash("2026-10 All severities 6 4 2 66.67% 24.0 19.8") in period
    assert _squash("No finding history was collected: the sightings inside the period are the snapshots alone.") in period
    assert _squash("the opening snapshot (as of 2026-09-30 23:00 UTC, run run-202609) and 3 sightings") in period


def test_a_roll_forward_that_does_not_add_up_is_flagged_and_no_fix_is_never_100(evidence, tmp_path):
    from reportgen.aggregate.model import MonthlySla, RollForward
    model = evidence["model"]
    broken = _period(total=RollForward(opening=18, new=8, closed=9, closing=16),
                     sla={"met": 0, "missed": 0, "open_overdue": 6, "open_within": 11}, sla_attainment_pct=None,
                     monthly=(MonthlySla("2026-10", "All", 1, 0, 0, None, 3.0, 3.0),))
    html = _html(replace(model, period=broken), tmp_path)
    period = html[html.find('id="period"'):html.find('id="ipe"')]
    assert period.count("does not reconcile") == 1 and period.count(">reconciles<") == 5
    assert period.count("no fix in the period") == 1 and period.count("no fix with a due date") == 1
    assert "100.00%" not in period


def test_lineages_past_due_are_listed_with_their_evidence(evidence):
    period = evidence["sections"]["period"]
    late = period[period.find(_squash("Lineages that missed their SLA or are past due 2")):]
    assert LINEAGE_CRIT in late and LINEAGE_LATE in late and LINEAGE_HIGH not in late   # the met one is not late
    assert _squash("2026-09-02 or earlier sighting") in late                          # first seen is a lower bound
    assert _squash("closed 2026-10-20, at least 48.0 days to fix") in late


def test_ipe_section_states_completeness_reconciliation_and_collector(evidence):
    ipe = evidence["sections"]["ipe"]
    assert _squash(f"findings partial {QUERY_SHA[:12]}\u2026 51 60 3 2 / 1") in ipe
    assert _squash("finding_history skipped no query 0 not reported 0 all / n/a") in ipe
    assert _squash("DS.6 failed resources (regulatory compliance) 5 4 1 aks-lab-01 is not assessed") in ipe
    assert _squash("Assessed clusters 5 \u2014 \u2014 Defender reports no total") in ipe
    for fact in (f"Tenant id {TENANT}", "Object id 99999999-0000-0000-0000-00000000000f",
                 "Application id 77777777-0000-0000-0000-000000000007", "User principal name \u2014",
                 "Identity type app", "Collected with reportgen 0.9.1", "Rendered with reportgen 0.9.2"):
        assert _squash(fact) in ipe, fact
    assert _squash("The claims are not verified and prove nothing on their own; the token itself is never stored.") in ipe


def test_audit_sample_appendix_has_method_strata_and_one_card_per_item(evidence):
    sample = evidence["sections"]["sample"]
    for fact in ("Size asked for 2", "Seed 20261031", "Items drawn 2 of a population of 17 lineages",
                 "drawKey = sha256(seed:lineageId)", "Critical / missed 1 1", "High / open-overdue 6 1",
                 "High / met 3 0", "All strata 17 2"):
        assert _squash(fact) in sample, fact
    card = sample[sample.find("Item1"):sample.find("Item2")]
    for fact in (LINEAGE_CRIT, "CVE-2026-01002", "Package pkg0", "contoso.azurecr.io/apps/prod-api",
                 "Owner alice.ops@contoso.com", "2026-09-02 or earlier (sighting)", "Due 2026-09-17 (sla)",
                 "Closed 2026-10-20 06:00 UTC (fixed)", "missed at least 48.0 days to fix",
                 "Waiver payments-legacy, approved by cfo@contoso.com (ticket CHG-1234)", f"Query sha256 {QUERY_SHA}",
                 "Sightings (3)", "drawKey 0f0f0f0f0f0f0f0f"):
        assert _squash(fact) in card, fact


def test_every_sighting_is_on_its_own_line_and_a_long_list_is_capped(evidence, tmp_path):
    from reportgen.render.pdf import SIGHTING_LINES
    html = _html(evidence["model"], tmp_path)
    cards = html[html.find('id="sample"'):]
    first = cards[:cards.find("Item 2")]
    assert ('<li class="mono">2026-09-30 23:00 UTC snapshot open</li><li class="mono">2026-10-20 06:00 UTC history '
            'not open</li><li class="mono">2026-10-31 23:00 UTC snapshot not open</li>') in first
    second = cards[cards.find("Item 2"):]
    assert second.count('<li class="mono">') == SIGHTING_LINES < SIGHTINGS_MANY
    assert f"and {SIGHTINGS_MANY - SIGHTING_LINES} more: see the Audit sample sheet of evidence-pack.xlsx" in second


def test_evidence_cards_are_never_split_across_pages(evidence):
    rows = evidence["model"].tables.audit_sample
    for item, key in zip(rows["item"], rows["drawKey"]):
        pages = [i for i, p in enumerate(evidence["pages"]) if f"Item {item}" in p]
        assert len(pages) == 1, item
        assert f"drawKey {key[:16]}" in evidence["pages"][pages[0]], item   # the card's last line, same page


def test_exemptions_not_applicable_are_apart_and_approval_evidence_shown(hostile):
    """The fixture tenant: registry-scan-waiver exempts another policy (reference id containerregistryvulnerabilities)
    of the same assignment; payments-legacy never expires and carries its approval in metadata and systemData."""
    ex = _sections_text(hostile)["exemptions"]
    table = hostile["model"].tables.exemptions
    assert table.loc[table["name"].eq("registry-scan-waiver"), "appliesToPolicy"].tolist() == [False]
    split = ex.find(_squash("Not applicable to this policy 1"))
    applicable, rest = ex[:split], ex[split:]
    assert split > 0 and "registry-scan-waiver" not in applicable and "registry-scan-waiver" in rest
    reason = table.loc[table["name"].eq("registry-scan-waiver"), "applicability"].iloc[0]
    assert reason and _squash(reason) in rest
    for name in ("lab-waiver", "old-mitigation", "payments-legacy"):
        assert name in applicable and name not in rest
    legacy = applicable[applicable.find("payments-legacy"):]
    legacy = legacy[:legacy.find("</tr>") if "</tr>" in legacy else len(legacy)]
    assert _squash("Approver cfo@contoso.com · requester bob@contoso.com · ticket CHG-1234") in legacy
    assert _squash('{"reviewCycle":"quarterly"}') in legacy                  # every other metadata key, as given
    assert _squash("created admin@contoso.com 2026-01-05 10:00 UTC") in legacy
    assert _squash("NO EXPIRY") in legacy[:legacy.find(_squash("Days: until expiry"))]
    m = hostile["model"]
    credited = int(table.loc[table["appliesToPolicy"].eq(True), "matchedFindings"].sum())
    assert credited + m.exemptions_unattributed == m.findings.exempt      # what the sentence below states
    assert _squash(f"{m.findings.exempt} findings are exempt: those credited to the applicable exemptions") in ex
    for control in ("control-ds-6", "control-pv-6"):   # each control lists only the exemptions that apply
        section = _sections_text(hostile)[control]
        assert "payments-legacy" in section and "registry-scan-waiver" not in section


def test_first_month_first_insight_ends_with_one_full_stop(tmp_path):
    """Issue 10: every first-month PDF ended its first insight with "…),." (a comma before an empty change)."""
    snapshot_dir, _ = write_fixture_tenant(tmp_path, months=0)
    model = pipeline.build(snapshot_dir, RunConfig())
    assert model.changes is None
    first = model.insights[0]
    assert first.endswith("compliant or exempt).") and "),." not in first
    html = _html(model, tmp_path)
    summary = html[html.find('id="summary"'):html.find('id="scope"')]
    assert f"<li>{first}</li>" in summary.replace("&#39;", "'")
    assert "),." not in html


def test_findings_caption_says_what_the_findings_sheet_holds(evidence):
    findings = evidence["sections"]["findings"]
    assert _squash("open, exempt and resolved") not in findings
    assert _squash("sheet Findings, holds every distinct finding of the current snapshot: open, exempt, healthy and "
                   "other rows. Resolved findings are not in it: they are on the Changes sheet and in the period "
                   "population (sheet Period population).") in findings


def test_ages_from_the_start_of_the_history_are_lower_bounds(evidence):
    findings = evidence["sections"]["findings"]
    assert _squash("2026-10-31 7 days") in findings or _squash("7 days") in findings
    assert _squash("at least 61 days") in findings and _squash("at least 7 days") not in findings
    t = evidence["model"].tables.findings
    shown = t[t["state"].eq("Open")].head(evidence["model"].meta.pdf_detail_rows)
    assert findings.count("atleast") == int(shown["ageIsLowerBound"].eq(True).sum()) >= 1


def test_a_governance_owner_contradicting_the_owner_tag_is_flagged(evidence):
    owners = evidence["sections"]["owners"]
    assert _squash("1 cluster has a governance owner that contradicts the owner tag.") in owners
    assert _squash("aks-prod-weu-01 rg-payments alice.ops@contoso.com team-payments CONFLICT") in owners
    assert _squash("governance CONFLICT tag says team-payments") in owners


def test_the_conflict_found_by_aggregation_is_flagged_and_only_it(hostile, tmp_path):
    """The fixture tenant's aks-prod-weu-01: governance owner Alice.Ops@Contoso.com, owner tag team-payments."""
    owners = _sections_text(hostile)["owners"]
    assert _squash("1 cluster has a governance owner that contradicts the owner tag.") in owners
    assert _squash("aks-prod-weu-01 rg-payments alice.ops@contoso.com team-payments CONFLICT") in owners
    clusters = hostile["model"].tables.clusters.assign(ownerConflict=False)
    html = _html(replace(hostile["model"], tables=replace(hostile["model"].tables, clusters=clusters)), tmp_path)
    assert "contradicts the owner tag" not in html and "flag-conflict" not in html


def test_a_huge_population_and_sample_stay_capped_with_a_pointer(evidence, tmp_path):
    from reportgen.render.pdf import POPULATION_ROWS, SAMPLE_CARDS
    model = evidence["model"]
    n = 10_000
    population = pd.concat([model.tables.period_population.iloc[[0]]] * n, ignore_index=True)
    population["lineageId"] = [f"L-{i:016x}" for i in range(n)]
    sample = pd.concat([model.tables.audit_sample.iloc[[0]]] * 500, ignore_index=True)
    sample["item"] = range(1, 501)
    big = replace(model, tables=replace(model.tables, period_population=population, audit_sample=sample))
    html = _html(big, tmp_path)
    period = html[html.find('id="period"'):html.find('id="ipe"')]
    assert period.count('<td class="wrap"><span class="mono small">') == POPULATION_ROWS
    assert (f"Showing the first {POPULATION_ROWS} of {n:,} lineages that missed their SLA or are past due (most "
            f"severe first). The complete list is in <strong>evidence-pack.xlsx</strong>, sheet <strong>Period "
            f"population</strong>.") in period
    cards = html[html.find('id="sample"'):]
    assert cards.count('<div class="card">') == SAMPLE_CARDS
    assert f"Showing the first {SAMPLE_CARDS} of 500 evidence cards (in item order)." in cards
