"""Live collection through the real SDK clients against the loopback emulator (tests/emulator).

What this proves, with ``ResourceGraphClient`` and ``LogsQueryClient`` sending real HTTP:
the collected snapshot equals the served tenant row for row (nothing lost, nothing
duplicated) for every recoverable fault (paging, injected 429s, 5xx bursts, dropped
connections); unrecoverable faults (truncation, a failing subscription batch, Log
Analytics partial results or refusal) give a ``partial`` or ``skipped`` dataset with the
reason; with the quota honoured no request is throttled; tokens are never logged or written.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from reportgen.collect import live
from reportgen.collect.live import CollectOptions
from reportgen.collect.resource_graph import RetrySettings
from reportgen.config import AzureConfig, RunConfig, ScopeConfig
from reportgen.errors import AuthError
from reportgen.snapshot import DATASETS, read_snapshot
from tests.emulator import INDIVIDUAL, LEGACY, AzureEmulator, Faults, tiny_tenant
from tests.emulator.compare import assert_same_rows, diff_rows, only_subscriptions
from tests.emulator.tenant import AS_OF, PERIOD, subscription_ids

SUBS = tuple(subscription_ids(3))
FAST = RetrySettings(backoff_base=0.005, backoff_max=0.02, default_throttle_wait=0.05)
ARG_DATASETS = [d for d in DATASETS if d not in ("assessment_history", "finding_history")]
LA_DATASETS = ["assessment_history", "finding_history"]


@pytest.fixture(scope="module")
def tenant() -> dict[str, pd.DataFrame]:
    return tiny_tenant()


@pytest.fixture
def emulator(tenant):
    with AzureEmulator(tenant, faults=Faults(quota_limit=50, quota_window=0.5, page_size=25)) as emu:
        yield emu


def make_config(emu: AzureEmulator, **azure) -> RunConfig:
    settings = dict(arm_endpoint=emu.url, logs_endpoint=emu.url, log_analytics_workspace_id=emu.workspace_id,
                    subscription_batch_size=2, max_concurrency=3)
    settings.update(azure)
    return RunConfig(scope=ScopeConfig(subscriptions=SUBS), azure=AzureConfig(**settings))


def collect(emu: AzureEmulator, out: Path, config: RunConfig | None = None, token: str | None = None):
    path = live.collect(config or make_config(emu), PERIOD, out, env={"REPORTGEN_ACCESS_TOKEN": token or emu.token},
                        options=CollectOptions(retry=FAST, now=AS_OF.to_pydatetime()))
    return read_snapshot(path)


def served_findings(emu: AzureEmulator, tenant, keys=(LEGACY, INDIVIDUAL)) -> pd.DataFrame:
    ids = {r["id"] for key in keys for r in emu.served(key)}
    return tenant["findings"][tenant["findings"]["id"].isin(ids)]


# ---------------------------------------------------------------------------- the clean run

def test_collected_snapshot_equals_the_served_tenant_row_for_row(emulator, tenant, tmp_path):
    snap = collect(emulator, tmp_path / "snap")
    assert_same_rows(snap.frames, tenant)
    for name, info in snap.datasets.items():
        assert info.status == "complete", (name, info.warnings)
        assert info.warnings == ()
        assert snap.frames[name].duplicated().sum() == 0
    assert snap.meta["source"] == "azure" and snap.meta["findings_source"] == "both"
    assert snap.meta["collection"]["throttled"] == 0 and emulator.quota_throttled() == 0
    assert snap.meta["scope"]["subscriptions"] == list(SUBS)

    arg = emulator.arg_records()
    assert all(r.status == 200 for r in emulator.records)
    assert all(r.top == 1000 and r.result_format == "objectArray" and r.api_version == "2021-03-01" for r in arg)
    assert any(r.skip_token for r in arg), "the page size forces paging"
    # The emulator binds each skip token to the query text and scope it was issued for and refuses it
    # otherwise (HTTP 400): all 200 above means every page resent the same query and scope.
    for name, info in snap.datasets.items():
        assert info.pages == len([r for r in emulator.records if r.dataset == name]), name
    # batches of at most 2 subscriptions; the snapshot keeps the exact texts sent
    assert {len(r.subscriptions) for r in arg} == {1, 2}
    for name in DATASETS:
        sent = snap.queries[name]
        assert f"// dataset: {name}\n" in sent
        assert all(r.text in sent for r in emulator.records if r.dataset == name)
        assert snap.datasets[name].query_sha256 is not None
    findings = snap.datasets["findings"].extra
    assert set(findings["queries"]) == {LEGACY, INDIVIDUAL}
    assert findings["queries"][LEGACY]["rows"] == len(emulator.served(LEGACY))
    assert findings["api_version"] == "2021-03-01" and findings["findings_source"] == "both"
    assert {r.timespan for r in emulator.la_records()} == {"2026-10-01T00:00:00.000Z/2026-11-01T00:00:00.000Z"}


@pytest.mark.parametrize("split, expected", [
    (lambda i, row: LEGACY, "legacy-subassessments"),
    (lambda i, row: INDIVIDUAL, "individual-recommendations"),
])
def test_findings_source_records_which_per_cve_source_delivered_rows(tenant, tmp_path, split, expected):
    with AzureEmulator(tenant, faults=Faults(quota_limit=100, findings_split=split)) as emu:
        snap = collect(emu, tmp_path / "snap")
    assert snap.meta["findings_source"] == expected
    assert diff_rows("findings", snap.frames["findings"], tenant["findings"]) == ""


def test_no_findings_from_either_source_is_recorded_as_none(tenant, tmp_path):
    empty = dict(tenant, findings=tenant["findings"].iloc[0:0])
    with AzureEmulator(empty, faults=Faults(quota_limit=100)) as emu:
        snap = collect(emu, tmp_path / "snap")
    assert snap.meta["findings_source"] == "none" and snap.datasets["findings"].status == "complete"
    assert len(snap.frames["findings"]) == 0


# ---------------------------------------------------------------------------- recoverable faults

def test_recoverable_faults_lose_and_duplicate_nothing(emulator, tenant, tmp_path):
    emulator.faults = replace(emulator.faults, throttle_requests={2, 7, 8, 15},
                              server_errors={LEGACY: 2, "clusters": 1, "assessment_history": 1},
                              drop_connections={"policy_states": 1, INDIVIDUAL: 1})
    snap = collect(emulator, tmp_path / "snap")
    assert_same_rows(snap.frames, tenant)
    assert all(info.status == "complete" for info in snap.datasets.values())
    injected = [r for r in emulator.records if r.injected]
    assert sum(1 for r in injected if r.injected == "429") == 4
    assert sum(1 for r in injected if r.injected in ("5xx", "drop") and r.service == "resource_graph") == 5
    collection = snap.meta["collection"]
    assert collection["throttled"] == 4
    assert collection["retries"] >= 4 + 5  # the Log Analytics 5xx is retried by its SDK client
    assert snap.datasets["findings"].extra["queries"][LEGACY]["retries"] >= 2


def test_with_the_quota_honoured_no_request_is_throttled(tenant, tmp_path):
    faults = Faults(quota_limit=5, quota_window=0.5, page_size=15)
    with AzureEmulator(tenant, faults=faults) as emu:
        start = time.monotonic()
        snap = collect(emu, tmp_path / "snap")
        elapsed = time.monotonic() - start
    assert_same_rows(snap.frames, tenant)
    arg = emu.arg_records()
    assert emu.quota_throttled() == 0 and all(r.status == 200 for r in arg)
    windows = -(-len(arg) // faults.quota_limit)
    assert elapsed >= (windows - 1) * faults.quota_window * 0.9  # it really was quota-bound
    assert len(arg) >= 15


# ---------------------------------------------------------------------------- unrecoverable faults

def test_truncated_result_is_a_partial_dataset_with_a_warning(emulator, tenant, tmp_path):
    emulator.faults = replace(emulator.faults, truncate={"findings"})
    snap = collect(emulator, tmp_path / "snap")
    info = snap.datasets["findings"]
    assert info.status == "partial" and info.extra["truncated"] is True
    assert any("truncated" in w and "incomplete" in w for w in info.warnings)
    assert 0 < len(snap.frames["findings"]) < len(tenant["findings"])
    assert all(snap.datasets[d].status == "complete" for d in DATASETS if d != "findings")
    assert snap.meta["collection"]["partial_datasets"] == ["findings"]


@pytest.mark.parametrize("status, reason", [(403, "HTTP 403 AuthorizationFailed"), (500, "after 5 attempts")])
def test_a_failing_subscription_batch_is_recorded_and_the_rest_goes_on(emulator, tenant, tmp_path, status, reason):
    emulator.faults = replace(emulator.faults, failing_subscriptions={SUBS[1]}, failing_status=status)
    snap = collect(emulator, tmp_path / "snap")
    for name in ARG_DATASETS:
        info = snap.datasets[name]
        assert info.status == "partial", name
        failed = info.extra["failed_batches"]
        assert failed and all(b["members"] == [SUBS[0], SUBS[1]] and reason in b["reason"] for b in failed)
        assert any(f"batch 1/2 (subscriptions {SUBS[0]}, {SUBS[1]}) failed" in w for w in info.warnings)
        assert diff_rows(name, snap.frames[name], only_subscriptions(tenant[name], [SUBS[2]])) == "", name
    for name in LA_DATASETS:
        assert snap.datasets[name].status == "complete"


def test_the_pack_states_partial_and_skipped_datasets_with_their_reasons(emulator, tmp_path, monkeypatch):
    from reportgen import pipeline
    from reportgen.render import pdf
    monkeypatch.setattr(pdf, "write_pdf", lambda model, path, charts_dir=None, **kw: Path(path).write_bytes(b"%PDF stub"))
    emulator.faults = replace(emulator.faults, truncate={"findings"}, failing_subscriptions={SUBS[1]},
                              la_partial={"assessment_history"})
    snap = collect(emulator, tmp_path / "snap", make_config(emulator))
    pipeline.render(snap.path, tmp_path / "pack", RunConfig())
    summary = json.loads((tmp_path / "pack" / "summary.json").read_text())
    findings = summary["datasets"]["findings"]
    assert findings["status"] == "partial"
    assert any("truncated" in w for w in findings["warnings"])
    assert any(f"{SUBS[0]}, {SUBS[1]}) failed: HTTP 403 AuthorizationFailed" in w for w in findings["warnings"])
    assert summary["datasets"]["assessment_history"]["status"] == "partial"
    queries = {row[0]: row for row in _workbook(tmp_path / "pack" / "evidence-pack.xlsx")["Queries"][1:]}
    assert queries["findings"][1] == "partial" and "truncated" in queries["findings"][6]
    assert queries["clusters"][1] == "partial" and "AuthorizationFailed" in queries["clusters"][6]
    assert "PartialError" in queries["assessment_history"][6]


def test_every_batch_failing_makes_the_dataset_skipped(emulator, tenant, tmp_path):
    emulator.faults = replace(emulator.faults, failing_subscriptions=set(SUBS))
    snap = collect(emulator, tmp_path / "snap")
    for name in ARG_DATASETS:
        assert snap.datasets[name].status == "skipped" and len(snap.frames[name]) == 0
        assert snap.datasets[name].warnings
    assert snap.meta["findings_source"] == "none"


def test_log_analytics_partial_results_and_refusal(emulator, tenant, tmp_path):
    emulator.faults = replace(emulator.faults, la_partial={"assessment_history"}, la_fail={"finding_history": 403})
    snap = collect(emulator, tmp_path / "snap")
    partial = snap.datasets["assessment_history"]
    assert partial.status == "partial"
    assert any("PartialError" in w and "There were some errors" in w for w in partial.warnings)
    half = tenant["assessment_history"].iloc[: len(tenant["assessment_history"]) // 2]
    assert diff_rows("assessment_history", snap.frames["assessment_history"], half) == ""
    refused = snap.datasets["finding_history"]
    assert refused.status == "skipped" and len(snap.frames["finding_history"]) == 0
    assert any("HTTP 403" in w for w in refused.warnings)
    assert all(snap.datasets[d].status == "complete" for d in ARG_DATASETS)


def test_without_a_workspace_history_is_skipped_with_a_warning(emulator, tmp_path):
    snap = collect(emulator, tmp_path / "snap", make_config(emulator, log_analytics_workspace_id=None))
    for name in LA_DATASETS:
        info = snap.datasets[name]
        assert info.status == "skipped" and info.rows == 0
        assert any("no Log Analytics workspace configured" in w for w in info.warnings)
        assert name not in snap.queries
    assert emulator.la_records() == []


# ---------------------------------------------------------------------------- scopes

def test_management_group_scope_uses_allow_partial_scopes(tenant, tmp_path):
    with AzureEmulator(tenant, management_groups={"mg-platform": list(SUBS[:2])}, faults=Faults(quota_limit=100)) as emu:
        config = make_config(emu)
        config = replace(config, scope=ScopeConfig(management_groups=("mg-platform",)))
        snap = collect(emu, tmp_path / "snap", config)
    arg = emu.arg_records()
    assert all(r.management_groups == ("mg-platform",) and r.subscriptions is None and r.allow_partial_scopes for r in arg)
    for name in ARG_DATASETS:
        assert diff_rows(name, snap.frames[name], only_subscriptions(tenant[name], SUBS[:2])) == "", name


def test_tenant_scope_without_subscriptions_or_groups(emulator, tenant, tmp_path):
    config = replace(make_config(emulator), scope=ScopeConfig())
    snap = collect(emulator, tmp_path / "snap", config)
    assert_same_rows(snap.frames, tenant)
    assert all(r.subscriptions is None and r.management_groups is None for r in emulator.arg_records())


# ---------------------------------------------------------------------------- the SDK clients' own methods agree

@pytest.mark.parametrize("result_format", ["objectArray", "table"])
def test_reading_resource_graph_pages_equals_what_client_resources_returns(emulator, result_format):
    from azure.mgmt.resourcegraph import ResourceGraphClient
    from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

    from reportgen.catalog import EXAMPLE_PARAMETERS, build_query
    from reportgen.collect.azure_auth import StaticTokenCredential
    from reportgen.collect.resource_graph import post_query, rows_of
    client = ResourceGraphClient(StaticTokenCredential(emulator.token, "T"), base_url=emulator.url)
    request = QueryRequest(query=build_query("findings.subassessments", EXAMPLE_PARAMETERS), subscriptions=list(SUBS),
                           options=QueryRequestOptions(top=1000, result_format=result_format))
    sdk = client.resources(request, enforce_https=False)
    ours = post_query(client, request, enforce_https=False)
    assert (ours.total_records, ours.count, ours.result_truncated, ours.skip_token) == (
        sdk.total_records, sdk.count, sdk.result_truncated, sdk.skip_token)
    assert rows_of(ours.data) == rows_of(sdk.data) and len(rows_of(ours.data)) == 25
    sent = [r for r in emulator.arg_records()]
    assert sent[0].text == sent[1].text and sent[0].subscriptions == sent[1].subscriptions
    assert sent[0].top == sent[1].top and sent[0].result_format == sent[1].result_format == result_format


@pytest.mark.parametrize("partial", [False, True])
def test_reading_log_analytics_results_equals_what_query_workspace_returns(emulator, partial):
    from azure.monitor.query import LogsQueryClient, LogsQueryPartialResult

    from reportgen.catalog import EXAMPLE_PARAMETERS, build_query
    from reportgen.collect.azure_auth import StaticTokenCredential
    from reportgen.collect.live import to_frame
    from reportgen.collect.log_analytics import partial_reason, period_timespan, post_workspace_query, primary_rows
    if partial:
        emulator.faults = replace(emulator.faults, la_partial={"finding_history"})
    client = LogsQueryClient(StaticTokenCredential(emulator.token, "T"), endpoint=emulator.url)
    text = build_query("finding_history", EXAMPLE_PARAMETERS)
    span = period_timespan(PERIOD)
    sdk = client.query_workspace(emulator.workspace_id, text, timespan=span, enforce_https=False)
    body = post_workspace_query(client, emulator.workspace_id, text, span, enforce_https=False)
    assert isinstance(sdk, LogsQueryPartialResult) == partial == bool(body.get("error"))
    table = sdk.partial_data[0] if partial else sdk.tables[0]
    sdk_rows = [dict(zip(table.columns, row)) for row in table.rows]
    assert diff_rows("finding_history", to_frame("finding_history", primary_rows(body))[0],
                     to_frame("finding_history", sdk_rows)[0]) == ""
    if partial:
        assert partial_reason(body["error"]).startswith(f"{sdk.partial_error.code}: {sdk.partial_error.message}")
    first, second = emulator.la_records()
    assert (first.path, first.timespan, first.text) == (second.path, second.timespan, second.text)


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
    assert "Authorization" in caplog.text or "authorization" in caplog.text.lower()  # headers were logged, redacted
    for path in snap.path.rglob("*"):
        if path.is_file():
            assert emulator.token.encode() not in path.read_bytes(), path


# ---------------------------------------------------------------------------- through the command line

def _cli_env(emu: AzureEmulator) -> dict:
    env = dict(os.environ)
    env.update({"REPORTGEN_ARM_ENDPOINT": emu.url, "REPORTGEN_LOGS_ENDPOINT": emu.url, "REPORTGEN_ACCESS_TOKEN": emu.token})
    return env


def _config_file(emu: AzureEmulator, path: Path, subscriptions=SUBS) -> Path:
    subs = ", ".join(f'"{s}"' for s in subscriptions)
    path.write_text(f"[scope]\nsubscriptions = [{subs}]\n\n[azure]\nlog_analytics_workspace_id = \"{emu.workspace_id}\"\n"
                    "subscription_batch_size = 2\nmax_concurrency = 3\n\n"
                    "[report]\npdf_detail_rows = 5\n", encoding="utf-8")  # a short PDF keeps the test fast
    return path


def test_reportgen_collect_command_against_the_emulator(emulator, tenant, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "reportgen", "collect", "--config", _config_file(emulator, tmp_path / "r.toml"),
                           "--period", "2026-10", "--out", tmp_path / "snap"], capture_output=True, text=True,
                          env=_cli_env(emulator), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert emulator.token not in proc.stdout + proc.stderr
    snap = read_snapshot(tmp_path / "snap")
    assert_same_rows(snap.frames, tenant)
    assert snap.meta["period"] == {"start": "2026-10-01", "end": "2026-10-31"}


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
def sample_frames() -> dict[str, pd.DataFrame]:
    from tests.emulator.tenant import sample_tenant
    return sample_tenant(4)  # the built-in sample tenant, four clusters


def test_run_against_the_emulator_gives_the_same_pack_as_rendering_the_served_snapshot(sample_frames, tmp_path,
                                                                                       monkeypatch):
    """`reportgen run` (collect + render) equals `reportgen render` of the served tenant written as a snapshot.

    Both renders run in-process with the PDF writer replaced by a stub: the PDF is not what is
    compared here (its own tests cover it) and rendering it twice would dominate the test's time.
    """
    from reportgen import pipeline
    from reportgen.config import load_config
    from reportgen.render import pdf
    from tests.emulator.tenant import tenant_subscriptions, write_served_snapshot

    def pdf_stub(model, path, charts_dir=None, **kwargs):
        Path(path).write_bytes(b"%PDF-1.7 stub")
    monkeypatch.setattr(pdf, "write_pdf", pdf_stub)
    with AzureEmulator(sample_frames, faults=Faults(quota_limit=100, quota_window=1.0)) as emu:
        config = _config_file(emu, tmp_path / "r.toml", tenant_subscriptions(sample_frames))
        for key, value in _cli_env(emu).items():
            if key.startswith("REPORTGEN_"):
                monkeypatch.setenv(key, value)
        assert _main(["run", "--config", str(config), "--period", "2026-10", "--out", str(tmp_path / "live-pack")]) == 0
    live_snapshot = read_snapshot(tmp_path / "live-pack" / "snapshot")
    assert_same_rows(live_snapshot.frames, sample_frames)
    assert live_snapshot.meta["findings_source"] == "both"
    # The served tenant as a snapshot, its rows in the collector's canonical order (by id): row order
    # carries no meaning in a snapshot, but the workbook keeps input order among equal sort keys.
    canonical = {name: live.stable_order(frame) for name, frame in sample_frames.items()}
    served = write_served_snapshot(tmp_path / "served", canonical, collected_at=live_snapshot.collected_at,
                                   period=PERIOD, scope=live_snapshot.meta["scope"])
    pipeline.render(served, tmp_path / "served-pack", load_config(config, env={}))  # = `reportgen render`
    live_summary = json.loads((tmp_path / "live-pack" / "summary.json").read_text())
    served_summary = json.loads((tmp_path / "served-pack" / "summary.json").read_text())
    for key in ("run_id", "snapshot_sha256"):  # they identify the snapshot, whose provenance differs by design
        live_summary.pop(key), served_summary.pop(key)
    assert live_summary == served_summary
    live_book = _workbook(tmp_path / "live-pack" / "evidence-pack.xlsx")
    served_book = _workbook(tmp_path / "served-pack" / "evidence-pack.xlsx")
    assert live_book.keys() == served_book.keys()
    provenance = {"README", "Queries"}  # run id, source, query texts and hashes: what differs by design
    for sheet in live_book:
        if sheet not in provenance:
            assert live_book[sheet] == served_book[sheet], sheet
