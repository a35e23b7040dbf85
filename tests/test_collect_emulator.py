"""Live collection through the real SDK clients against the loopback emulator (tests/emulator).

The emulator executes the query text it receives over raw Azure records; the snapshot the
real ``ResourceGraphClient`` and ``LogsQueryClient`` collect is compared with the snapshot a
person wrote down from the same facts (``tests/emulator/tenant.py``). What this proves: the
query files read the right properties (changing one path fails the comparison); nothing is
lost or duplicated through paging and every recoverable fault (429s in every style, 5xx,
dropped connections, in both services); unrecoverable ones (truncation, a failing or
unreadable subscription batch, partial or refused Log Analytics answers, a redirect) give a
``partial`` or ``failed`` dataset or a gap with the reason, and a Resource Graph dataset that
failed entirely fails the collection with one clear line and no snapshot; with the quota
honoured no request is throttled; tokens and server detail never reach logs or the snapshot.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from reportgen.collect import live
from reportgen.collect.azure import AzureOptions
from reportgen.collect.frames import stable_order
from reportgen.collect.resource_graph import RetrySettings
from reportgen.config import AzureConfig, RunConfig, ScopeConfig
from reportgen.errors import AuthError, SourceError
from reportgen.snapshot import DATASETS, read_snapshot
from tests.emulator.compare import (assert_same_rows, diff_rows, diff_snapshot, differing_columns, only_subscriptions,
                                    only_subscriptions_of)
from tests.emulator.server import ANY, ARG_PATH, INDIVIDUAL, LEGACY, AzureEmulator, Faults, jwt_token
from tests.emulator.tenant import AS_OF, PERIOD, SUBS, Tenant, sample_tenant

ROOT = Path(__file__).resolve().parent.parent
FAST = RetrySettings(backoff_base=0.005, backoff_max=0.02, default_throttle_wait=0.05)
OPTIONS = AzureOptions(retry=FAST, la_retry_total=3)
LA_DATASETS = ["assessment_history", "finding_history"]
ARG_DATASETS = [d for d in DATASETS if d not in LA_DATASETS]


def make_config(emu: AzureEmulator, scope: ScopeConfig | None = None, **azure) -> RunConfig:
    settings = dict(arm_endpoint=emu.url, logs_endpoint=emu.url, log_analytics_workspace_id=emu.workspace_id,
                    subscription_batch_size=2, max_concurrency=3)
    settings.update(azure)
    return RunConfig(scope=scope or ScopeConfig(subscriptions=SUBS), azure=AzureConfig(**settings))


def collect(emu: AzureEmulator, out: Path, config: RunConfig | None = None, token: str | None = None,
            options: AzureOptions = OPTIONS):
    path = live.collect(config or make_config(emu), PERIOD, out, now=AS_OF.to_pydatetime(),
                        options={"env": {"REPORTGEN_ACCESS_TOKEN": token or emu.token}, "azure": options})
    return read_snapshot(path)


def gaps(snap, kind: str) -> list[dict]:
    return [g for g in snap.meta.get("gaps", []) if g["kind"] == kind]


def requests_for(emu: AzureEmulator, dataset: str) -> list:
    return sorted((r for r in emu.records if r.dataset == dataset), key=lambda r: r.time)


# ---------------------------------------------------------------------------- the clean run

def test_collected_snapshot_equals_the_hand_written_expectation_row_for_row(emulator, tiny, tmp_path):
    snap = collect(emulator, tmp_path / "snap")
    assert_same_rows(snap.frames, tiny.expected)
    for name, info in snap.datasets.items():
        assert info.status == "complete", (name, info.warnings)
        assert info.warnings == ()
        assert snap.frames[name].duplicated().sum() == 0
    assert snap.meta["source"] == "azure" and snap.meta["findings_source"] == "both"
    assert snap.meta["collection"]["throttled"] == 0 and emulator.quota_throttled() == 0
    assert snap.meta["scope"]["subscriptions"] == list(SUBS)
    # The one gap: a package listing 403 CVEs, of which Resource Graph expands 400.
    assert [g["kind"] for g in snap.meta["gaps"]] == ["cve-limit"]
    [limit] = gaps(snap, "cve-limit")
    assert "so 3 CVEs" in limit["message"] and len(limit["members"]) == 1 and "/securityentitydata/" in limit["members"][0]

    arg = emulator.arg_records()
    assert all(r.status == 200 for r in emulator.records)
    assert all(r.top == 1000 and r.result_format == "objectArray" and r.api_version == "2021-03-01" for r in arg)
    assert any(r.skip_token for r in arg), "the page size forces paging"
    # A skip token is bound to the text and scope it was issued for (HTTP 400 otherwise): all 200 means every
    # page resent the same query and scope. The result was executed once per (text, scope), not per page.
    assert emulator.executions == len({(r.text, r.scope) for r in arg}) + len({r.text for r in emulator.la_records()})
    for name, info in snap.datasets.items():
        assert info.pages == len(requests_for(emulator, name)), name
    assert {len(r.subscriptions) for r in arg} == {1, 2}  # batches of at most 2 subscriptions
    for name in DATASETS:
        sent = snap.queries[name]
        assert f"// dataset: {name}\n" in sent
        assert all(r.text in sent for r in requests_for(emulator, name))
        assert snap.datasets[name].query_sha256 is not None
    findings = snap.datasets["findings"].extra
    assert set(findings["queries"]) == {LEGACY, INDIVIDUAL}
    assert findings["queries"][LEGACY]["rows"] == 9 and findings["queries"][INDIVIDUAL]["rows"] == 423
    assert findings["api_version"] == "2021-03-01" and findings["findings_source"] == "both"
    assert {r.timespan for r in emulator.la_records()} == {"2026-10-01T00:00:00.000Z/2026-11-01T00:00:00.000Z"}
    # finding_history: the export of the sub-assessments and of the individual recommendations, one dataset
    history = snap.datasets["finding_history"].extra["queries"]
    assert set(history) == {"finding_history", "finding_history.recommendations"}
    assert history["finding_history.recommendations"]["rows"] == 2 + 2 + 2   # three export events of 2-CVE packages
    # Azure's totalRecords, summed over the batches (and both findings queries): equal to the rows read
    # here; Log Analytics reports none.
    assert findings["total_records"] == 9 + 423 == snap.datasets["findings"].rows
    assert findings["queries"][INDIVIDUAL]["total_records"] == 423
    for name in ARG_DATASETS:
        assert snap.datasets[name].extra["total_records"] == snap.datasets[name].rows, name
    for name in LA_DATASETS:
        assert snap.datasets[name].extra["total_records"] is None, name
    raw = json.loads((snap.path / "snapshot.json").read_text())["datasets"]["policy_states"]
    assert raw["total_records"] == raw["rows"] == 6 and raw["pages"] == 2  # 2 batches of subscriptions, one page each


def _without(tenant: Tenant, drop) -> Tenant:
    records = dict(tenant.resource_graph)
    records["securityresources"] = [r for r in records["securityresources"] if not drop(r)]
    return Tenant(tenant.name, records, tenant.log_analytics, tenant.subscriptions, lambda: {})


def _is_sub_assessment(record) -> bool:
    return record["type"] == "microsoft.security/assessments/subassessments"


def _is_individual(record) -> bool:
    return "/securityentitydata/" in record["id"]


@pytest.mark.parametrize("drop, expected", [
    (_is_individual, "legacy-subassessments"),
    (_is_sub_assessment, "individual-recommendations"),
    (lambda r: _is_individual(r) or _is_sub_assessment(r), "none"),
])
def test_findings_source_records_which_per_cve_source_delivered_rows(tiny, tmp_path, drop, expected):
    with _without(tiny, drop).emulator(faults=Faults(quota_limit=100)) as emu:
        snap = collect(emu, tmp_path / "snap")
    assert snap.meta["findings_source"] == expected and snap.datasets["findings"].status == "complete"
    want = tiny.expected["findings"]
    want = want[want["source"] == expected] if expected != "none" else want.iloc[0:0]
    assert diff_rows("findings", snap.frames["findings"], want) == ""


# ---------------------------------------------------------------------------- the emulator runs the query files

@pytest.mark.parametrize("query, path, changed, columns", [
    ("findings.recommendations", "st.code", "st.Code", ["statusCode"]),
    ("findings.recommendations", "properties.resourceAdditionalData", "properties.resourceAdditionalDetails",
     ["registryHost", "repositoryName", "imageDigest", "imageTags", "workloads"]),
    ("policy_states", "properties.complianceState", "properties.compliancestate", ["complianceState"]),
    ("exemptions", "properties.metadata", "properties.metaData", ["metadata"]),
    ("finding_history.recommendations", "ImageDetails.ImageUri", "ImageDetails.ImageURI", ["imageDigest"]),
    ("finding_history.recommendations", "RecommendationAdditionalData.SoftwareName",
     "RecommendationAdditionalData.softwareName", ["packageName"]),
    ("finding_history.recommendations", "cve.Severity", "cve.severity", ["RecommendationSeverity"]),
    ("exemptions", "systemData.createdBy", "properties.systemData.createdBy", ["createdBy"]),
    ("exemptions", "systemData.lastModifiedAt", "systemData.lastModifiedOn", ["lastModifiedAt"]),
])
def test_changing_one_property_path_in_a_query_file_fails_the_comparison(emulator, tiny, tmp_path, monkeypatch,
                                                                          query, path, changed, columns):
    from reportgen.kql import catalog
    copy = tmp_path / "queries"
    shutil.copytree(catalog.queries_dir(), copy)
    service = "log_analytics" if query.split(".", 1)[0] in LA_DATASETS else "resource_graph"
    file = copy / service / f"{query}.kql"
    text = file.read_text(encoding="utf-8")
    assert text.count(path) >= 1, f"{query}.kql no longer reads {path}: update this test"
    file.write_text(text.replace(path, changed), encoding="utf-8")
    monkeypatch.setattr(catalog, "queries_dir", lambda: copy)
    snap = collect(emulator, tmp_path / "snap")
    dataset = query.split(".", 1)[0]
    assert changed in snap.queries[dataset]  # the changed file is what was sent and executed
    problems = diff_snapshot(snap.frames, tiny.expected)
    assert problems and all(line.startswith(f"{dataset}:") for line in problems.splitlines() if not line.startswith(" "))
    assert differing_columns(dataset, snap.frames[dataset], tiny.expected[dataset]) == columns
    for column in columns:
        assert column in problems


# ---------------------------------------------------------------------------- recoverable faults

def test_recoverable_faults_lose_and_duplicate_nothing(emulator, tiny, tmp_path):
    emulator.faults = replace(emulator.faults, throttle_requests={2, 7, 8, 15},
                              server_errors={LEGACY: 2, "clusters": 1, "assessment_history": 1},
                              drop_connections={"policy_states": 1, INDIVIDUAL: 1, "finding_history": 1})
    snap = collect(emulator, tmp_path / "snap")
    assert_same_rows(snap.frames, tiny.expected)
    assert all(info.status == "complete" for info in snap.datasets.values())
    injected = [r for r in emulator.records if r.injected]
    assert sum(1 for r in injected if r.injected == "429") == 4
    assert sum(1 for r in injected if r.injected in ("5xx", "drop") and r.service == "resource_graph") == 5
    assert sum(1 for r in injected if r.service == "log_analytics") == 2
    collection = snap.meta["collection"]
    assert collection["throttled"] == 4
    assert collection["retries"] == 4 + 5 + 2
    assert snap.datasets["findings"].extra["queries"][LEGACY]["retries"] == sum(
        1 for r in emulator.records if r.query == LEGACY and r.status != 200) >= 2
    assert snap.datasets["assessment_history"].extra["retries"] == 1


@pytest.mark.parametrize("style, wait", [("retry-after", 1.0), ("http-date", None), ("retry-after-ms", 0.15),
                                         ("bare", 0.2), ("quota", 0.15)])
def test_a_resource_graph_429_is_honoured_in_every_style(emulator, tiny, tmp_path, style, wait):
    """Retry-After in seconds or as an HTTP date, retry-after-ms, the quota reset, or nothing (a default wait)."""
    emulator.faults = replace(emulator.faults, throttle={"clusters": 1}, throttle_style=style, throttle_wait=0.15,
                              retry_after=1)
    snap = collect(emulator, tmp_path / "snap", options=replace(OPTIONS, retry=replace(FAST, default_throttle_wait=0.2)))
    assert_same_rows(snap.frames, tiny.expected)
    assert snap.datasets["clusters"].status == "complete" and snap.meta["collection"]["throttled"] == 1
    throttled, *after = requests_for(emulator, "clusters")
    assert throttled.status == 429 and after and after[0].status == 200
    if wait is None:  # an HTTP date names a whole second
        assert after[0].wall >= int(throttled.wall) + 1 - 0.01
    else:
        assert after[0].time - throttled.time >= wait * 0.95


def test_with_the_quota_honoured_no_request_is_throttled(tiny, tmp_path):
    faults = Faults(quota_limit=4, quota_window=0.5, page_size=50)
    with tiny.emulator(faults=faults) as emu:
        snap = collect(emu, tmp_path / "snap")
    assert_same_rows(snap.frames, tiny.expected)
    arg = emu.arg_records()
    assert emu.quota_throttled() == 0 and all(r.status == 200 for r in arg)
    assert len(arg) >= 20
    first = min(r.time for r in arg)
    windows = -(-len(arg) // faults.quota_limit)
    assert max(r.time for r in arg) - first >= (windows - 1) * faults.quota_window * 0.9  # it really was quota-bound


def test_log_analytics_retries_429_5xx_and_dropped_connections(emulator, tiny, tmp_path):
    emulator.faults = replace(emulator.faults, throttle={"assessment_history": 1}, throttle_style="retry-after",
                              retry_after=1, server_errors={"finding_history": 2},
                              drop_connections={"assessment_history": 1})
    snap = collect(emulator, tmp_path / "snap")
    assert_same_rows(snap.frames, tiny.expected)
    history = snap.datasets["assessment_history"].extra
    assert snap.datasets["assessment_history"].status == "complete"
    assert (history["throttled"], history["retries"], history["requests"]) == (1, 2, 3)
    assert snap.datasets["finding_history"].extra["retries"] == 2
    throttled, *after = requests_for(emulator, "assessment_history")
    assert throttled.status == 429 and after[0].time - throttled.time >= 0.95  # Retry-After: 1


# ---------------------------------------------------------------------------- unrecoverable faults

def test_truncated_result_is_a_partial_dataset_with_a_warning(emulator, tiny, tmp_path):
    emulator.faults = replace(emulator.faults, truncate={"findings"})
    snap = collect(emulator, tmp_path / "snap")
    info = snap.datasets["findings"]
    assert info.status == "partial" and info.extra["truncated"] is True
    assert any("truncated" in w and "incomplete" in w for w in info.warnings)
    assert 0 < len(snap.frames["findings"]) < len(tiny.expected["findings"])
    # totalRecords still says how many rows Azure had: more than the snapshot holds
    assert info.extra["total_records"] == len(tiny.expected["findings"]) > info.rows
    assert all(snap.datasets[d].status == "complete" for d in DATASETS if d != "findings")
    assert snap.meta["collection"]["partial_datasets"] == ["findings"]
    assert gaps(snap, "dataset-partial")[0]["dataset"] == "findings"


def test_a_result_without_id_is_not_paged_but_truncated(emulator):
    """Resource Graph returns a skip token only when the result projects id (AZURE-NOTES §5)."""
    emulator.faults = replace(emulator.faults, page_size=10)
    from reportgen.collect.azure_auth import StaticTokenCredential, resolve_endpoints
    from reportgen.collect.resource_graph import ResourceGraphSource
    endpoints = resolve_endpoints(AzureConfig(arm_endpoint=emulator.url), env={})
    source = ResourceGraphSource(endpoints, StaticTokenCredential(emulator.token, "T"), subscriptions=SUBS,
                                 batch_size=10, retry=FAST)
    outcome = source.run("names", 'securityresources | where type == "microsoft.security/assessments" | project name')
    assert outcome.truncated and outcome.status == "partial" and outcome.row_count == 10
    assert any("truncated" in w for w in outcome.warnings)
    with_id = source.run("ids", 'securityresources | where type == "microsoft.security/assessments" | project id')
    assert with_id.status == "complete" and with_id.row_count == 23 and with_id.pages == 3


@pytest.mark.parametrize("status, reason", [(403, "HTTP 403 AuthorizationFailed"), (500, "after 5 attempts")])
def test_a_failing_subscription_batch_is_recorded_and_the_rest_goes_on(emulator, tiny, tmp_path, status, reason):
    emulator.faults = replace(emulator.faults, failing_subscriptions={SUBS[1]}, failing_status=status)
    snap = collect(emulator, tmp_path / "snap")
    for name in ARG_DATASETS:
        info = snap.datasets[name]
        assert info.status == "partial", name
        failed = info.extra["failed_batches"]
        assert failed and all(b["members"] == [SUBS[0], SUBS[1]] and reason in b["reason"] for b in failed)
        assert any(f"batch 1/2 (subscriptions {SUBS[0]}, {SUBS[1]}) failed" in w for w in info.warnings)
        assert diff_rows(name, snap.frames[name], only_subscriptions(tiny.expected[name], [SUBS[2]])) == "", name
    for name in LA_DATASETS:
        assert snap.datasets[name].status == "complete"
    assert {g["dataset"] for g in gaps(snap, "dataset-partial")} == set(ARG_DATASETS)


def test_every_batch_failing_fails_the_collection_and_writes_nothing(emulator, tmp_path):
    emulator.faults = replace(emulator.faults, failing_subscriptions=set(SUBS))
    with pytest.raises(SourceError) as exc:
        collect(emulator, tmp_path / "snap")
    line = exc.value.one_line()
    assert "collection failed" in line and "HTTP 403 AuthorizationFailed" in line and "no snapshot written" in line
    assert not (tmp_path / "snap").exists()


def test_the_pack_states_partial_and_failed_datasets_with_their_reasons(emulator, tmp_path, monkeypatch):
    from reportgen import pipeline
    from reportgen.render import pdf
    monkeypatch.setattr(pdf, "write_pdf", lambda model, path, charts_dir=None, **kw: Path(path).write_bytes(b"%PDF stub"))
    emulator.faults = replace(emulator.faults, truncate={"findings"}, failing_subscriptions={SUBS[1]},
                              la_partial={"assessment_history"}, la_fail={"finding_history": 403})
    snap = collect(emulator, tmp_path / "snap")
    pipeline.render(snap.path, tmp_path / "pack", RunConfig())
    summary = json.loads((tmp_path / "pack" / "summary.json").read_text())
    findings = summary["datasets"]["findings"]
    assert findings["status"] == "partial"
    assert any("truncated" in w for w in findings["warnings"])
    assert any(f"{SUBS[0]}, {SUBS[1]}) failed: HTTP 403 AuthorizationFailed" in w for w in findings["warnings"])
    assert summary["datasets"]["assessment_history"]["status"] == "partial"
    assert summary["datasets"]["finding_history"]["status"] == "failed"
    stated = {(g["kind"], g["dataset"]) for g in summary["gaps"]}
    assert {("dataset-partial", "findings"), ("dataset-partial", "assessment_history"),
            ("dataset-failed", "finding_history")} <= stated
    queries = {row[0]: row for row in _workbook(tmp_path / "pack" / "evidence-pack.xlsx")["Queries"][1:]}
    assert queries["findings"][1] == "partial" and "truncated" in queries["findings"][6]
    assert queries["clusters"][1] == "partial" and "AuthorizationFailed" in queries["clusters"][6]
    assert "PartialError" in queries["assessment_history"][6]


def test_an_unreadable_subscription_is_dropped_silently_and_the_pack_says_so(emulator, tiny, tmp_path):
    from reportgen import pipeline
    emulator.faults = replace(emulator.faults, unreadable_subscriptions={SUBS[1]})
    snap = collect(emulator, tmp_path / "snap")
    assert all(info.status == "complete" for info in snap.datasets.values())  # Resource Graph said nothing
    assert_same_rows(snap.frames, only_subscriptions_of(tiny.expected, [SUBS[0], SUBS[2]], ARG_DATASETS))
    assert all(r.status == 200 and SUBS[1] not in (r.scope or ()) for r in emulator.arg_records())
    [gap] = gaps(snap, "unreadable-subscriptions")
    assert gap["members"] == [SUBS[1]] and "1 of 3 subscriptions" in gap["message"]
    model = pipeline.build(snap.path, RunConfig())
    [stated] = [g for g in model.gaps if g.kind == "unreadable-subscriptions"]
    assert stated.title == "1 subscription could not be read." and stated.members == (SUBS[1],)
    assert any("could not be read" in sentence for sentence in model.insights)


def test_no_valid_subscription_in_a_batch_is_a_failed_batch(emulator, tiny, tmp_path):
    emulator.faults = replace(emulator.faults, unreadable_subscriptions={SUBS[2]})  # batch 2 holds only SUBS[2]
    snap = collect(emulator, tmp_path / "snap")
    for name in ARG_DATASETS:
        info = snap.datasets[name]
        assert info.status == "partial", name
        assert all(b["members"] == [SUBS[2]] and "HTTP 400 NoValidSubscriptionsInQueryRequest" in b["reason"]
                   for b in info.extra["failed_batches"]) and info.extra["failed_batches"], name
    assert_same_rows(snap.frames, only_subscriptions_of(tiny.expected, SUBS[:2], ARG_DATASETS))


def test_no_valid_subscription_at_all_fails_the_collection(emulator, tmp_path):
    emulator.faults = replace(emulator.faults, unreadable_subscriptions=set(SUBS))
    with pytest.raises(SourceError) as exc:
        collect(emulator, tmp_path / "snap")
    assert "all 8 Resource Graph datasets failed" in exc.value.message
    assert "NoValidSubscriptionsInQueryRequest" in exc.value.message and not (tmp_path / "snap").exists()


def test_the_tenant_subscription_limit_is_a_gap(emulator, tiny, tmp_path):
    emulator.faults = replace(emulator.faults, subscription_limit_hit=True)
    snap = collect(emulator, tmp_path / "snap", make_config(emulator, scope=ScopeConfig()))
    assert_same_rows(snap.frames, tiny.expected)
    [gap] = gaps(snap, "subscription-limit")
    assert "10,000 subscriptions" in gap["message"]
    assert any("x-ms-tenant-subscription-limit-hit" in w for w in snap.datasets["clusters"].warnings)


@pytest.fixture
def elsewhere():
    """A second emulator on another loopback address: where a redirect points."""
    with AzureEmulator({}, host="127.0.0.2") as other:
        yield other


def test_a_redirect_to_another_host_is_not_followed(emulator, elsewhere, tmp_path):
    emulator.faults = replace(emulator.faults, redirect={ANY: f"{elsewhere.url}{ARG_PATH}?api-version=2021-03-01"})
    with pytest.raises(SourceError) as exc:
        collect(emulator, tmp_path / "snap")
    assert elsewhere.records == []  # nothing, and so no token, reached the other host
    assert "HTTP 307: the endpoint redirected the request to http://127.0.0.2:" in exc.value.message
    assert "redirects are not followed" in exc.value.message and "api-version" not in exc.value.message
    assert not (tmp_path / "snap").exists()


def test_a_log_analytics_redirect_is_not_followed_and_the_dataset_fails(emulator, elsewhere, tiny, tmp_path):
    emulator.faults = replace(emulator.faults, redirect={"finding_history": f"{elsewhere.url}/v1/workspaces/x/query"})
    snap = collect(emulator, tmp_path / "snap")
    assert elsewhere.records == []
    info = snap.datasets["finding_history"]
    assert info.status == "failed" and len(snap.frames["finding_history"]) == 0
    assert any("redirected the request to http://127.0.0.2:" in w for w in info.warnings)
    assert_same_rows(snap.frames, tiny.expected, [d for d in DATASETS if d != "finding_history"])


@pytest.mark.parametrize("fault, reason", [
    ({"la_fail": {"finding_history": 403}}, "HTTP 403 InsufficientAccessError"),
    ({"server_errors": {"finding_history": 100}}, "HTTP 503 ServiceUnavailableError"),
    ({"drop_connections": {"finding_history": 100}}, "connection error"),
])
def test_log_analytics_failing_for_good_is_a_failed_dataset_and_a_gap(emulator, tiny, tmp_path, fault, reason):
    emulator.faults = replace(emulator.faults, **fault)
    snap = collect(emulator, tmp_path / "snap")
    info = snap.datasets["finding_history"]
    assert info.status == "failed" and len(snap.frames["finding_history"]) == 0
    assert any(reason in w for w in info.warnings), info.warnings
    assert info.extra["requests"] == 2 * (1 if "la_fail" in fault else 4)   # both finding_history queries
    assert ("after 4 attempts" in info.warnings[0]) == ("la_fail" not in fault)
    [gap] = gaps(snap, "dataset-failed")
    assert gap["dataset"] == "finding_history" and reason in gap["message"]
    assert snap.meta["collection"]["failed_datasets"] == ["finding_history"]
    assert_same_rows(snap.frames, tiny.expected, [d for d in DATASETS if d != "finding_history"])


def test_log_analytics_partial_results(emulator, tiny, tmp_path):
    emulator.faults = replace(emulator.faults, la_partial={"assessment_history"})
    snap = collect(emulator, tmp_path / "snap")
    partial = snap.datasets["assessment_history"]
    assert partial.status == "partial"
    assert any("PartialError" in w and "There were some errors" in w and "exceeded the internal data size limit" in w
               for w in partial.warnings)
    expected = tiny.expected["assessment_history"]
    got = snap.frames["assessment_history"]
    assert len(got) == len(expected) // 2
    assert diff_rows("assessment_history", pd.concat([expected, got]).drop_duplicates(), expected) == ""  # a subset
    assert all(snap.datasets[d].status == "complete" for d in DATASETS if d != "assessment_history")


def test_without_a_workspace_history_is_skipped_with_a_warning(emulator, tmp_path):
    snap = collect(emulator, tmp_path / "snap", make_config(emulator, log_analytics_workspace_id=None))
    for name in LA_DATASETS:
        info = snap.datasets[name]
        assert info.status == "skipped" and info.rows == 0
        assert any("no Log Analytics workspace configured" in w for w in info.warnings)
        assert name not in snap.queries
    assert emulator.la_records() == []


# ---------------------------------------------------------------------------- scopes

def test_management_group_scope_uses_allow_partial_scopes(emulator, tiny, tmp_path):
    snap = collect(emulator, tmp_path / "snap", make_config(emulator, ScopeConfig(management_groups=("mg-platform",))))
    arg = emulator.arg_records()
    assert all(r.management_groups == ("mg-platform",) and r.subscriptions is None and r.allow_partial_scopes
               for r in arg)
    assert {r.scope for r in arg} == {tuple(sorted(SUBS[:2]))}
    assert_same_rows(snap.frames, only_subscriptions_of(tiny.expected, SUBS[:2], ARG_DATASETS))


def test_tenant_scope_without_subscriptions_or_groups(emulator, tiny, tmp_path):
    snap = collect(emulator, tmp_path / "snap", make_config(emulator, ScopeConfig()))
    assert_same_rows(snap.frames, tiny.expected)
    assert all(r.subscriptions is None and r.management_groups is None and r.scope is None
               for r in emulator.arg_records())


# ---------------------------------------------------------------------------- the SDK clients' own methods agree

@pytest.mark.parametrize("result_format", ["objectArray", "table"])
def test_reading_resource_graph_pages_equals_what_client_resources_returns(emulator, result_format):
    from azure.mgmt.resourcegraph import ResourceGraphClient
    from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

    from reportgen.collect.azure_auth import StaticTokenCredential
    from reportgen.collect.resource_graph import post_query, rows_of
    from reportgen.kql.catalog import EXAMPLE_PARAMETERS, build_query
    client = ResourceGraphClient(StaticTokenCredential(emulator.token, "T"), base_url=emulator.url)
    request = QueryRequest(query=build_query("findings.recommendations", EXAMPLE_PARAMETERS), subscriptions=list(SUBS),
                           options=QueryRequestOptions(top=1000, result_format=result_format))
    sdk = client.resources(request, enforce_https=False)
    ours = post_query(client, request, enforce_https=False)
    assert (ours.total_records, ours.count, ours.result_truncated, ours.skip_token) == (
        sdk.total_records, sdk.count, sdk.result_truncated, sdk.skip_token)
    assert ours.total_records == 423 and ours.skip_token
    assert rows_of(ours.data) == rows_of(sdk.data) and len(rows_of(ours.data)) == 50
    first, second = emulator.arg_records()
    assert first.text == second.text and first.subscriptions == second.subscriptions
    assert first.top == second.top and first.result_format == second.result_format == result_format
    if result_format == "table":
        types = {c["name"]: c["type"] for c in ours.data["columns"]}
        assert (types["id"], types["cvssScore"], types["exploitable"], types["workloads"], types["publishedDate"],
                types["packageCveCount"]) == ("string", "number", "boolean", "object", "datetime", "integer")


@pytest.mark.parametrize("partial", [False, True])
def test_reading_log_analytics_results_equals_what_query_workspace_returns(emulator, partial):
    from azure.monitor.query import LogsQueryClient, LogsQueryPartialResult

    from reportgen.collect.azure_auth import StaticTokenCredential
    from reportgen.collect.frames import to_frame
    from reportgen.collect.log_analytics import partial_reason, period_timespan, post_workspace_query, primary_rows
    from reportgen.kql.catalog import EXAMPLE_PARAMETERS, build_query
    if partial:
        emulator.faults = replace(emulator.faults, la_partial={"finding_history"})
    client = LogsQueryClient(StaticTokenCredential(emulator.token, "T"), endpoint=emulator.url)
    text = build_query("finding_history", {**EXAMPLE_PARAMETERS, "period_start": PERIOD[0],
                                           "period_end": PERIOD[1] + timedelta(days=1)})
    span = period_timespan(PERIOD)
    sdk = client.query_workspace(emulator.workspace_id, text, timespan=span, enforce_https=False)
    body = post_workspace_query(client, emulator.workspace_id, text, span, enforce_https=False)
    assert isinstance(sdk, LogsQueryPartialResult) == partial == bool(body.get("error"))
    table = sdk.partial_data[0] if partial else sdk.tables[0]
    sdk_rows = [dict(zip(table.columns, row)) for row in table.rows]
    assert len(sdk_rows) == (3 if partial else 6)
    assert diff_rows("finding_history", to_frame("finding_history", primary_rows(body))[0],
                     to_frame("finding_history", sdk_rows)[0]) == ""
    assert {c["name"]: c["type"] for c in body["tables"][0]["columns"]}["IsSnapshot"] == "bool"
    if partial:
        assert partial_reason(body["error"]).startswith(f"{sdk.partial_error.code}: {sdk.partial_error.message}")
    first, second = emulator.la_records()
    assert (first.path, first.timespan, first.text) == (second.path, second.timespan, second.text)


def test_the_emulator_applies_the_log_analytics_timespan(emulator, tiny):
    """``start/end``, ``start/duration`` and a duration ending now, as ``query_workspace`` sends them."""
    from azure.monitor.query import LogsQueryClient

    from reportgen.collect.azure_auth import StaticTokenCredential
    client = LogsQueryClient(StaticTokenCredential(emulator.token, "T"), endpoint=emulator.url)
    text = "SecurityRecommendation | project TimeGenerated"
    start = datetime(2026, 10, 1, tzinfo=timezone.utc)
    times = sorted(r["TimeGenerated"] for r in tiny.log_analytics["SecurityRecommendation"])

    def seen(timespan) -> int:
        return len(client.query_workspace(emulator.workspace_id, text, timespan=timespan, enforce_https=False)
                   .tables[0].rows)
    assert seen(None) == len(times)
    assert seen((start, datetime(2026, 10, 6, tzinfo=timezone.utc))) == sum("2026-10-01" <= t < "2026-10-06" for t in times)
    assert seen((start, timedelta(days=5))) == sum("2026-10-01" <= t < "2026-10-06" for t in times)
    now = datetime.now(timezone.utc)
    recent = sum(now - timedelta(days=70) <= datetime.fromisoformat(t[:19]).replace(tzinfo=timezone.utc) <= now
                 for t in times)
    assert seen(timedelta(days=70)) == recent
    assert [r.timespan.split("/")[-1] for r in emulator.la_records() if r.timespan] == [
        "2026-10-06T00:00:00.000Z", "PT432000.0S", "PT6048000.0S"]


def test_a_query_the_engine_cannot_run_is_http_400_with_the_engine_message(emulator):
    from reportgen.collect.azure_auth import StaticTokenCredential, resolve_endpoints
    from reportgen.collect.resource_graph import ResourceGraphSource
    endpoints = resolve_endpoints(AzureConfig(arm_endpoint=emulator.url), env={})
    source = ResourceGraphSource(endpoints, StaticTokenCredential(emulator.token, "T"), subscriptions=SUBS, retry=FAST)
    outcome = source.run("broken", "securityresources | frobnicate id")
    assert outcome.status == "failed" and outcome.requests == 1  # a bad query is not retried
    [batch] = outcome.failed_batches
    assert batch.status_code == 400 and batch.reason.startswith("HTTP 400 BadRequest: Query is invalid: the embedded")


# ---------------------------------------------------------------------------- identity and secrecy

def test_a_refused_token_is_an_auth_error_that_says_what_to_do(emulator, tmp_path):
    wrong = "wrong-token-abcdef0123456789"
    with pytest.raises(AuthError) as exc:
        collect(emulator, tmp_path / "snap", token=wrong)
    line = exc.value.one_line()
    assert "az login" in line and "REPORTGEN_ACCESS_TOKEN" in line and wrong not in line
    assert not (tmp_path / "snap").exists()


def test_tokens_never_appear_in_logs_or_the_snapshot(emulator, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="azure")  # an in-process CLI run may have quietened the SDK loggers
    snap = collect(emulator, tmp_path / "snap")
    assert emulator.token not in caplog.text
    assert "authorization" in caplog.text.lower()  # headers were logged, redacted
    for path in snap.path.rglob("*"):
        if path.is_file():
            assert emulator.token.encode() not in path.read_bytes(), path


def _assert_token_nowhere(token: str, folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert token.encode() not in data, path
            assert token.split(".")[2].encode() not in data, path   # not even its signature part


def test_who_collected_is_read_from_the_token_claims_and_the_token_is_kept_nowhere(emulator, tmp_path):
    snap = collect(emulator, tmp_path / "snap")
    assert snap.meta["collector"] == {
        "tenant_id": "5f0e3c2a-8d4b-4e6f-9a1b-2c3d4e5f6a7b", "object_id": "9d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6",
        "app_id": "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f", "upn": None, "identity_type": "app",
        "read_from": "access token claims (not verified)",
        "note": "read from the access token's claims without verifying its signature; they prove nothing"}
    _assert_token_nowhere(emulator.token, snap.path)


def test_a_user_token_names_the_user_and_a_token_that_is_no_jwt_gives_nulls(tiny, tmp_path):
    user = jwt_token({"tid": "t-1", "oid": "o-1", "azp": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
                      "preferred_username": "Jane.Doe@contoso.com", "unique_name": "live.com#jane@contoso.com",
                      "scp": "user_impersonation"})
    with tiny.emulator(token=user) as emu:
        snap = collect(emu, tmp_path / "user")
    collector = snap.meta["collector"]
    assert (collector["tenant_id"], collector["object_id"], collector["app_id"], collector["upn"],
            collector["identity_type"]) == ("t-1", "o-1", "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
                                           "Jane.Doe@contoso.com", "user")
    _assert_token_nowhere(user, snap.path)
    opaque = "opaque-token-0123456789abcdef"
    with tiny.emulator(token=opaque) as emu:
        snap = collect(emu, tmp_path / "opaque")
    assert snap.meta["collector"]["note"] == "the access token is not a JWT: it carries no readable claims"
    assert {k: v for k, v in snap.meta["collector"].items() if k not in ("note", "read_from")} == {
        "tenant_id": None, "object_id": None, "app_id": None, "upn": None, "identity_type": None}
    assert all(snap.datasets[d].status == "complete" for d in DATASETS)
    for path in snap.path.rglob("*"):
        if path.is_file():
            assert opaque.encode() not in path.read_bytes(), path


def test_server_error_text_past_its_first_line_stays_out_of_the_snapshot(emulator, tmp_path):
    secret = "Diagnostic: x-ms-client-secret=c2VjcmV0LXRoYXQtbXVzdC1ub3QtbGVhaw"
    emulator.faults = replace(emulator.faults, error_detail=secret, failing_subscriptions={SUBS[0]},
                              la_fail={"finding_history": 403})
    snap = collect(emulator, tmp_path / "snap")
    assert snap.datasets["clusters"].status == "partial" and snap.datasets["finding_history"].status == "failed"
    assert any("AuthorizationFailed: The client does not have authorization" in w
               for w in snap.datasets["clusters"].warnings)
    for path in snap.path.rglob("*"):
        if path.is_file():
            assert b"c2VjcmV0LXRoYXQtbXVzdC1ub3QtbGVhaw" not in path.read_bytes(), path


# ---------------------------------------------------------------------------- through the command line

def _cli_env(emu: AzureEmulator, url: str | None = None) -> dict:
    env = dict(os.environ)
    env.update({"REPORTGEN_ARM_ENDPOINT": url or emu.url, "REPORTGEN_LOGS_ENDPOINT": url or emu.url,
                "REPORTGEN_ACCESS_TOKEN": emu.token})
    return env


def _config_file(path: Path, workspace: str, subscriptions=SUBS) -> Path:
    subs = ", ".join(f'"{s}"' for s in subscriptions)
    path.write_text(f"[scope]\nsubscriptions = [{subs}]\n\n[azure]\nlog_analytics_workspace_id = \"{workspace}\"\n"
                    "subscription_batch_size = 2\nmax_concurrency = 3\n\n"
                    "[report]\npdf_detail_rows = 5\n", encoding="utf-8")  # a short PDF keeps the test fast
    return path


def test_reportgen_collect_command_against_the_emulator(emulator, tiny, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "reportgen", "collect", "--config",
                           _config_file(tmp_path / "r.toml", emulator.workspace_id), "--period", "2026-10",
                           "--out", tmp_path / "snap"], capture_output=True, text=True, env=_cli_env(emulator),
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert emulator.token not in proc.stdout + proc.stderr
    snap = read_snapshot(tmp_path / "snap")
    assert_same_rows(snap.frames, tiny.expected)
    assert snap.meta["period"] == {"start": "2026-10-01", "end": "2026-10-31"}


# `reportgen collect` in a child process exactly as a user runs it (its logging, its stderr), with fast retries.
_CLI_WITH_FAST_RETRIES = textwrap.dedent("""
    import sys
    from reportgen.collect import azure
    from reportgen.collect.resource_graph import RetrySettings
    azure.DEFAULT_OPTIONS = azure.AzureOptions(retry=RetrySettings(backoff_base=0.005, backoff_max=0.02,
                                                                   connection_timeout=2), la_retry_total=1)
    from reportgen.cli import main
    main(sys.argv[1:])
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("failure", ["nothing listening", "HTTP 500 on every request"])
def test_a_failed_collection_exits_1_with_one_line_and_writes_nothing(tiny, tmp_path, failure):
    unrelated = tmp_path / "earlier-snapshot"
    unrelated.mkdir()
    (unrelated / "snapshot.json").write_text("{}", encoding="utf-8")
    with tiny.emulator(faults=Faults(quota_limit=1000, server_errors={ANY: 10**6}, server_error_status=500)) as emu:
        arm = f"http://127.0.0.1:{_free_port()}" if failure == "nothing listening" else emu.url
        proc = subprocess.run([sys.executable, "-c", _CLI_WITH_FAST_RETRIES, "collect", "--config",
                               str(_config_file(tmp_path / "r.toml", emu.workspace_id)), "--period", "2026-10",
                               "--out", str(tmp_path / "snap")], capture_output=True, text=True,
                              env=_cli_env(emu, arm), cwd=ROOT, timeout=120)
        served = len(emu.records)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    [line] = lines
    assert line.startswith("error: collection failed: all 8 Resource Graph datasets failed; ") and "Traceback" not in line
    if failure == "nothing listening":
        assert "connection error" in line and served == 0
    else:
        assert "HTTP 500" in line and "after 5 attempts" in line and served > 0
    assert "no snapshot written" in line and "Snapshot written" not in proc.stdout
    assert not (tmp_path / "snap").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier-snapshot", "r.toml"]
    assert (unrelated / "snapshot.json").read_text(encoding="utf-8") == "{}"


def _main(args: list[str]) -> int:
    from reportgen.cli import main
    with pytest.raises(SystemExit) as exit_:
        main(args)
    return exit_.value.code


def test_reportgen_collect_with_a_bad_token_exits_1_with_a_hint(emulator, tmp_path, monkeypatch, capsys):
    for key, value in _cli_env(emulator).items():
        if key.startswith("REPORTGEN_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("REPORTGEN_ACCESS_TOKEN", "not-the-token-0123456789")
    assert _main(["collect", "--out", str(tmp_path / "snap")]) == 1
    out = capsys.readouterr()
    assert "az login" in out.err and "not-the-token-0123456789" not in out.err + out.out
    assert "Traceback" not in out.err and not (tmp_path / "snap").exists()


def test_plain_http_endpoint_off_loopback_is_refused_by_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REPORTGEN_ARM_ENDPOINT", "http://192.0.2.10:8080")
    monkeypatch.setenv("REPORTGEN_ACCESS_TOKEN", "x")
    assert _main(["collect", "--out", str(tmp_path / "snap")]) == 2
    assert "only for loopback hosts" in capsys.readouterr().err


def _workbook(path: Path) -> dict:
    import openpyxl
    wb = openpyxl.load_workbook(path, read_only=True)
    return {ws.title: [tuple(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


@pytest.fixture(scope="module")
def sample() -> Tenant:
    return sample_tenant(4)  # the built-in sample tenant, four clusters


def test_run_against_the_emulator_gives_the_same_pack_as_rendering_the_expected_snapshot(sample, tmp_path,
                                                                                         monkeypatch):
    """`reportgen run` (collect + render) equals `reportgen render` of the expected snapshot.

    The emulator serves the sample tenant's raw records; the expected frames are what the sample
    collection makes of the same records with the embedded engine. Both renders run in-process with
    the PDF writer replaced by a stub: the PDF is not what is compared here (its own tests cover it)
    and rendering it twice would dominate the test's time.
    """
    from reportgen import pipeline
    from reportgen.config import load_config
    from reportgen.render import pdf
    from tests.emulator.tenant import now_utc

    def pdf_stub(model, path, charts_dir=None, **kwargs):
        Path(path).write_bytes(b"%PDF-1.7 stub")
    monkeypatch.setattr(pdf, "write_pdf", pdf_stub)
    with sample.emulator(faults=Faults(quota_limit=100, quota_window=1.0)) as emu:
        config = _config_file(tmp_path / "r.toml", emu.workspace_id, sample.subscriptions)
        for key, value in _cli_env(emu).items():
            if key.startswith("REPORTGEN_"):
                monkeypatch.setenv(key, value)
        assert _main(["run", "--config", str(config), "--period", "2026-10", "--out", str(tmp_path / "live-pack")]) == 0
    live_snapshot = read_snapshot(tmp_path / "live-pack" / "snapshot")
    assert len(sample.expected["findings"]) > 1000 and len(sample.expected["clusters"]) == 4  # not a vacuous match
    assert_same_rows(live_snapshot.frames, sample.expected)
    assert live_snapshot.meta["findings_source"] == "individual-recommendations"  # October 2026: after the retirement
    assert live_snapshot.collected_at <= pd.Timestamp(now_utc())
    # The expected snapshot, its rows in the collector's canonical order: row order carries no meaning in
    # a snapshot, but the workbook keeps input order among equal sort keys.
    from tests.emulator.tenant import write_expected_snapshot
    canonical = {name: stable_order(frame, name) for name, frame in sample.expected.items()}
    expected = write_expected_snapshot(tmp_path / "expected", canonical, collected_at=live_snapshot.collected_at,
                                       period=PERIOD, scope=live_snapshot.meta["scope"], gaps=sample.expected_gaps)
    pipeline.render(expected, tmp_path / "expected-pack", load_config(config, env={}))  # = `reportgen render`
    live_summary = json.loads((tmp_path / "live-pack" / "summary.json").read_text())
    expected_summary = json.loads((tmp_path / "expected-pack" / "summary.json").read_text())
    # they identify the snapshot, whose provenance differs by design (the IPE workpaper states it: query
    # hashes, totalRecords, who collected)
    for key in ("run_id", "snapshot_sha256", "ipe"):
        live_summary.pop(key, None), expected_summary.pop(key, None)
    assert live_summary == expected_summary
    live_book = _workbook(tmp_path / "live-pack" / "evidence-pack.xlsx")
    expected_book = _workbook(tmp_path / "expected-pack" / "evidence-pack.xlsx")
    assert live_book.keys() == expected_book.keys()
    provenance = {"README", "Queries"}  # run id, source, query texts and hashes: what differs by design
    for sheet in live_book:
        if sheet not in provenance and "ipe" not in sheet.lower():
            assert _without_query_hashes(live_book[sheet]) == _without_query_hashes(expected_book[sheet]), sheet


def _without_query_hashes(rows: list[tuple]) -> list[tuple]:
    """A sheet's rows without a column headed "Query SHA-256" (the hash of the query that produced a row is
    provenance: the expected snapshot was written without query texts)."""
    for i, row in enumerate(rows):
        cells = ["".join(ch for ch in str(c).lower() if ch.isalnum()) if c is not None else "" for c in row]
        if "querysha256" in cells:
            drop = cells.index("querysha256")
            return rows[:i] + [_trimmed(tuple(c for j, c in enumerate(r) if j != drop)) for r in rows[i:]]
    return rows


def _trimmed(row: tuple) -> tuple:
    """A row without its trailing empty cells (a read-only sheet leaves them out)."""
    end = len(row)
    while end and row[end - 1] is None:
        end -= 1
    return row[:end]
