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
    frames["exemptions"] += [
        {"id": f"/subscriptions/{SUB_B}/resourceGroups/rg-lab/providers/Microsoft.Authorization/policyExemptions/lab",
         "name": "lab-waiver", "subscriptionId": SUB_B, "resourceGroup": "rg-lab",
         "scope": f"/subscriptions/{SUB_B}/resourceGroups/rg-lab", "policyAssignmentId": "x",
         "policyDefinitionReferenceIds": json.dumps(["runningimagesvulnerabilities"]), "category": "Waiver",
         "displayName": f"Lab {EVIL_SCRIPT}", "description": f"Lab cluster, no production data {AMP}",
         "expiresOn": as_of + pd.Timedelta(days=12)},
        {"id": f"/subscriptions/{SUB_A}/providers/Microsoft.Authorization/policyExemptions/old",
         "name": "old-mitigation", "subscriptionId": SUB_A, "resourceGroup": "", "scope": f"/subscriptions/{SUB_A}",
         "policyAssignmentId": "x", "policyDefinitionReferenceIds": "[]", "category": "Mitigated",
         "displayName": "WAF in front", "description": "Mitigated by network controls",
         "expiresOn": as_of - pd.Timedelta(days=20)},
        {"id": f"/subscriptions/{SUB_A}/resourceGroups/rg-payments/providers/Microsoft.Authorization/policyExemptions/forever",
         "name": "payments-legacy", "subscriptionId": SUB_A, "resourceGroup": "rg-payments",
         "scope": f"/subscriptions/{SUB_A}/resourceGroups/rg-payments", "policyAssignmentId": "x",
         "policyDefinitionReferenceIds": "[]", "category": "Waiver", "displayName": "Legacy payments",
         "description": "Replaced in Q1", "expiresOn": None},
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
    assert 15 <= len(sample["pages"]) <= 45, len(sample["pages"])


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
        "Methodology and provenance", "Sign-off"]


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
    assert _squash(f"NEW{ch['new']:,}findings opened") in text
    assert _squash(f"RESOLVED{ch['resolved']:,}findings no longer open") in text
    assert _squash(f"PERSISTING{ch['persisting']:,}findings open in both") in text


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
    assert len(first) == 11  # the PDF and five charts as SVG and PNG
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
    assert "no resolved findings in the history" in html
    assert html.count("<p class=\"empty\">None.</p>") == 3  # the three exemption groups


# ---------------------------------------------------------------- golden HTML


def test_golden_html(tmp_path):
    """The HTML for the fixed fixture tenant; `make golden` regenerates it (REPORTGEN_UPDATE_GOLDEN=1)."""
    from reportgen.render.charts import planned_charts
    from reportgen.render.pdf import render_html
    snapshot_dir, history_dir = write_fixture_tenant(tmp_path)
    model = pipeline.build(snapshot_dir, RunConfig(), history_dir)
    pack = tmp_path / "pack"
    html = render_html(model, planned_charts(pack / "charts"), pack)
    # Parquet bytes (so their sha256 and the snapshot's fingerprint) vary with the pyarrow version.
    volatile = [model.meta.snapshot_fingerprint] + [d.sha256 for d in model.datasets]
    for length in (64, 32, 16, 12):
        for digest in volatile:
            html = html.replace(digest[:length], f"{{sha256:{length}}}")
    header = "<!-- generated, do not edit \u2014 regenerate with `make golden` (tests/test_pdf.py::test_golden_html) -->\n"
    golden = GOLDEN_DIR / "report.html"
    if UPDATE_GOLDEN:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(header + html, encoding="utf-8")
    assert golden.is_file(), "no golden file: run `make golden`"
    expected = golden.read_text(encoding="utf-8")
    assert expected.startswith(header)
    assert header + html == expected, "rendered HTML differs from tests/golden/pdf/report.html; review, then `make golden`"


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
