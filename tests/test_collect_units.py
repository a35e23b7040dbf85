"""Collector parts without a server: value conversion, Kubernetes context, scope batches, quota pacing,
retry and redirect rules, and the emulator's reading of Log Analytics timespans."""

from __future__ import annotations

import json
import threading
import time
from datetime import date, datetime, timedelta, timezone
from email.utils import formatdate

import pandas as pd
import pytest

from reportgen.collect.interface import QueryOutcome
from reportgen.collect.frames import normalise_workloads, to_frame
from reportgen.collect.live import default_period, findings_source, query_parameters
from reportgen.collect.resource_graph import (QuotaPacer, parse_resets_after, redirect_reason, retry_after_seconds,
                                              rows_of, scope_batches)
from reportgen.config import RunConfig
from reportgen.snapshot import DATASETS, coerce_frame

FLAT = [{"namespace": "ns", "kind": "Deployment", "name": "api", "container": "api"},
        {"namespace": "ns", "kind": "Deployment", "name": "api", "container": "sidecar"}]


@pytest.mark.parametrize("value", [
    FLAT,
    json.dumps(FLAT),
    [{"namespace": "ns", "kind": "Deployment", "name": "api", "ownedResources": [],
      "containers": [{"name": "api"}, {"name": "sidecar"}]}],
    [{"namespace": "ns", "controllerKind": "Deployment", "controllerName": "api", "containerName": "api",
      "clusterResourceId": "/x", "podName": "api-1"},
     {"Namespace": "ns", "ControllerKind": "Deployment", "ControllerName": "api", "ContainerName": "sidecar"}],
])
def test_every_kubernetes_context_shape_flattens_to_the_same_workloads(value):
    assert normalise_workloads(value) == FLAT


def test_single_kubernetes_details_object_and_empty_values():
    assert normalise_workloads({"namespace": "n", "controllerKind": "Job", "controllerName": "j", "containerName": "c"}) == [
        {"namespace": "n", "kind": "Job", "name": "j", "container": "c"}]
    assert normalise_workloads(None) is None
    assert normalise_workloads([None]) == []
    assert normalise_workloads([]) == []


def test_to_frame_turns_service_values_into_snapshot_types():
    rows = [
        {"id": "/a", "resourceId": "/c", "resourceType": "t", "subscriptionId": "s", "resourceGroup": "rg",
         "complianceState": "NonCompliant", "policyAssignmentId": "/pa", "policyAssignmentName": "n",
         "policyDefinitionId": "/pd", "policyDefinitionReferenceId": "r", "policySetDefinitionId": "/ps",
         "policyDefinitionGroupNames": ["G1", "G2"], "timestamp": "2026-10-19T23:10:05.1234567Z"},
        {"id": "/b", "policyDefinitionGroupNames": '["G1"]', "timestamp": None},  # JSON text and missing keys
    ]
    frame, notes = to_frame("policy_states", rows)
    frame = coerce_frame("policy_states", frame, origin="test")
    assert list(frame.columns) == list(DATASETS["policy_states"]) and notes == []
    assert frame.loc[0, "policyDefinitionGroupNames"] == '["G1","G2"]'
    assert frame.loc[1, "policyDefinitionGroupNames"] == '["G1"]'
    assert frame.loc[0, "timestamp"] == pd.Timestamp("2026-10-19T23:10:05.123456Z")
    assert pd.isna(frame.loc[1, "timestamp"]) and frame.loc[1, "complianceState"] is None


def test_to_frame_coerces_strings_numbers_and_flags_missing_counts():
    frame, notes = to_frame("regulatory_compliance", [
        {"id": "/x", "passedResources": "3", "failedResources": 1.0, "skippedResources": None, "state": "Failed"}])
    frame = coerce_frame("regulatory_compliance", frame, origin="test")
    assert frame.loc[0, ["passedResources", "failedResources", "skippedResources"]].tolist() == [3, 1, 0]
    assert notes == ["regulatory_compliance: 1 rows had no value for skippedResources; counted as 0"]
    frame, _ = to_frame("assessment_history", [{"TimeGenerated": datetime(2026, 10, 1, tzinfo=timezone.utc),
                                                 "IsSnapshot": "true"}, {"IsSnapshot": "False"}, {"IsSnapshot": None}],
                        ordered=False)  # ordering rows that tie entirely: see the test below
    frame = coerce_frame("assessment_history", frame, origin="test")
    assert sorted(frame["IsSnapshot"].tolist()) == [False, False, True]
    assert frame["TimeGenerated"].notna().sum() == 1
    frame, _ = to_frame("findings", [{"id": "/f", "cvssScore": "7.5", "exploitable": True, "workloads": FLAT,
                                      "imageTags": ["1.0"]}, {"id": "/g", "cvssScore": None}])
    frame = coerce_frame("findings", frame, origin="test")
    assert frame.loc[0, "cvssScore"] == 7.5 and pd.isna(frame.loc[1, "cvssScore"])
    assert json.loads(frame.loc[0, "workloads"]) == FLAT and frame.loc[1, "workloads"] is None
    assert frame["exploitable"].tolist() == [True, False]


def test_rows_that_tie_entirely_are_ordered_too():
    """Two identical export rows with empty values (Log Analytics can hold them) must not break ordering."""
    rows = [{"TimeGenerated": None, "IsSnapshot": False}, {"TimeGenerated": None, "IsSnapshot": False}]
    frame, _ = to_frame("assessment_history", rows)
    assert len(frame) == 2


def test_rows_of_reads_both_result_formats():
    assert rows_of([{"id": "a"}]) == [{"id": "a"}]
    assert rows_of({"columns": [{"name": "id", "type": "string"}, {"name": "n", "type": "integer"}],
                    "rows": [["a", 1], ["b", 2]]}) == [{"id": "a", "n": 1}, {"id": "b", "n": 2}]
    assert rows_of(None) == []


def test_scope_batches():
    subs = tuple(f"s{i}" for i in range(5))
    batches = scope_batches(subs, (), 2)
    assert [b.members for b in batches] == [("s0", "s1"), ("s2", "s3"), ("s4",)]
    assert batches[2].describe().startswith("batch 3/3 (subscriptions s4")
    assert len(scope_batches(tuple(f"s{i}" for i in range(2500)), (), 5000)[0].members) == 1000  # service maximum
    assert [(b.kind, b.members) for b in scope_batches((), ("mg1", "mg2"), 200)] == [
        ("management_groups", ("mg1",)), ("management_groups", ("mg2",))]
    assert [(b.kind, b.members) for b in scope_batches((), (), 200)] == [("tenant", ())]
    assert [b.members for b in scope_batches(("a", "a", " b "), (), 10)] == [("a", "b")]


def test_quota_headers():
    assert parse_resets_after("00:00:03") == 3.0
    assert parse_resets_after("00:01:02.5000000") == 62.5
    assert parse_resets_after("1.00:00:00") == 86400
    assert parse_resets_after("soon") is None and parse_resets_after(None) is None
    assert retry_after_seconds({"Retry-After": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({"x-ms-user-quota-resets-after": "00:00:01.5"}) == 1.5
    assert retry_after_seconds({}) is None
    in_two_seconds = formatdate(time.time() + 2, usegmt=True)  # an HTTP date (whole seconds)
    assert 0.9 <= retry_after_seconds({"Retry-After": in_two_seconds}) <= 2.0
    assert retry_after_seconds({"Retry-After": formatdate(time.time() - 60, usegmt=True)}) == 0.0
    assert retry_after_seconds({"Retry-After": "soon"}, quota_reset=False) is None
    # a 5xx's Retry-After counts, its quota reset does not
    assert retry_after_seconds({"x-ms-user-quota-resets-after": "00:00:09"}, quota_reset=False) is None


def test_a_redirect_reason_names_the_host_and_nothing_of_the_location_after_it():
    reason = redirect_reason(307, {"Location": "https://user:pw@evil.example:8443/steal?sig=SECRET#x"})
    assert reason.startswith("HTTP 307: the endpoint redirected the request to https://evil.example:8443;")
    assert "SECRET" not in reason and "steal" not in reason and "pw" not in reason
    assert "redirects are not followed" in reason
    assert "redirected the request;" in redirect_reason(302, {})
    assert "to a relative location" in redirect_reason(301, {"location": "/elsewhere"})


def test_the_emulator_reads_log_analytics_timespans_as_the_sdk_writes_them():
    from tests.emulator.server import parse_timespan
    now = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
    start, end = datetime(2026, 10, 1, tzinfo=timezone.utc), datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert parse_timespan("2026-10-01T00:00:00.000Z/2026-11-01T00:00:00.000Z") == (start, end)
    assert parse_timespan("2026-10-01T00:00:00.000Z/PT2678400.0S") == (start, end)
    assert parse_timespan("P31D/2026-11-01T00:00:00Z") == (start, end)
    assert parse_timespan("PT2592000.0S", now=now) == (now - timedelta(days=30), now)
    assert parse_timespan("P1DT2H", now=now) == (now - timedelta(days=1, hours=2), now)
    assert parse_timespan(None) is None
    with pytest.raises(ValueError):
        parse_timespan("last month")


def quota(remaining: int, resets_after: str) -> dict:
    return {"x-ms-user-quota-remaining": str(remaining), "x-ms-user-quota-resets-after": resets_after}


def test_pacer_holds_requests_until_the_window_resets():
    pacer = QuotaPacer(margin=0.0)
    pacer.acquire()
    start = time.monotonic()
    pacer.release(quota(2, "00:00:00.6"))
    for _ in range(2):  # two left in this window: no wait
        pacer.acquire()
        pacer.release(None)
    assert time.monotonic() - start < 0.4
    pacer.acquire()  # the third waits for the reset
    pacer.release(None)
    assert time.monotonic() - start >= 0.59


def test_pacer_counts_requests_still_in_flight_against_the_quota():
    pacer = QuotaPacer(margin=0.0)
    pacer.acquire()
    pacer.release(quota(3, "00:00:00.4"))
    for _ in range(3):  # all three allowed, none answered yet
        pacer.acquire()
    blocked = threading.Event()

    def fourth():
        pacer.acquire()
        blocked.set()

    thread = threading.Thread(target=fourth)
    thread.start()
    assert not blocked.wait(0.15)  # the quota is used up by requests in flight
    # one of them answers "2 left" (it reached the service first): the two others may not be counted yet
    pacer.release(quota(2, "00:00:00.25"))
    assert not blocked.wait(0.1)
    thread.join(1.0)
    assert blocked.is_set()


def test_pacer_takes_the_lowest_remaining_of_answers_arriving_out_of_order():
    pacer = QuotaPacer(margin=0.0)
    pacer.acquire()
    pacer.release(quota(9, "00:00:01"))
    for _ in range(3):
        pacer.acquire()
    pacer.release(quota(6, "00:00:00.99"))   # counted last, answered first
    pacer.release(quota(8, "00:00:00.98"))   # a late answer from earlier in the same window
    pacer.release(quota(7, "00:00:00.97"))
    assert pacer._remaining == 6
    # an answer whose window ends one window later is a new window
    pacer.acquire()
    pacer.release(quota(9, "00:00:02"))
    assert pacer._remaining == 9


def test_pacer_after_a_429_waits_as_told():
    pacer = QuotaPacer(margin=0.0)
    pacer.acquire()
    pacer.release({"Retry-After": "0.2"}, throttled=True)
    start = time.monotonic()
    pacer.acquire()
    pacer.release(None)
    assert time.monotonic() - start >= 0.18


def test_findings_source_labels():
    def outcome(name, rows):
        return QueryOutcome(query=name, text="", rows=tuple({"id": str(i)} for i in range(rows)))
    assert findings_source([outcome("findings.subassessments", 2), outcome("findings.recommendations", 1)]) == "both"
    assert findings_source([outcome("findings.subassessments", 2), outcome("findings.recommendations", 0)]) == "legacy-subassessments"
    assert findings_source([outcome("findings.subassessments", 0), outcome("findings.recommendations", 3)]) == "individual-recommendations"
    assert findings_source([outcome("findings.subassessments", 0), outcome("findings.recommendations", 0)]) == "none"


def test_query_parameters_come_from_config_and_controls():
    params = query_parameters(RunConfig(), (date(2026, 10, 1), date(2026, 10, 31)))
    assert params["policy_groups"] == ["Azure_Security_Benchmark_v3.0_DS-6", "Azure_Security_Benchmark_v3.0_PV-6"]
    assert params["compliance_controls"] == ["DS.6", "PV.6"]
    assert params["compliance_standards"] == ["Microsoft-cloud-security-benchmark"]
    assert params["period_end"] == date(2026, 11, 1)
    assert default_period(datetime(2026, 10, 20, 23, 0, tzinfo=timezone.utc)) == (date(2026, 10, 1), date(2026, 10, 20))
