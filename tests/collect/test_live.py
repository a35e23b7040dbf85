"""Collection with sources from the registry: a fake source plugs in, failure is never success,
and every gap (failed, partial, not configured, unreadable subscriptions, the CVE limit) reaches
snapshot.json for the pack to state."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from reportgen.collect import live, registry
from reportgen.collect.interface import COMPLETE, FAILED, PARTIAL, SKIPPED, FailedBatch, QueryOutcome, Source, Sources
from reportgen.config import RunConfig, ScopeConfig
from reportgen.errors import SourceError
from reportgen.kql.catalog import load_queries
from reportgen.snapshot import DATASETS, read_snapshot

PERIOD = (date(2026, 10, 1), date(2026, 10, 31))
NOW = datetime(2026, 10, 31, 6, tzinfo=timezone.utc)
SUBS = ("00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002")


def _row(dataset: str, **values) -> dict:
    row = {c: None for c in DATASETS[dataset]}
    row.update(values)
    return row


class FakeSource(Source):
    """Answers each query by name (the text is whatever the catalogue built) with fixed rows or a failure."""

    def __init__(self, service: str, answers: dict[str, object]) -> None:
        self.service = service
        self.answers = answers
        self.texts: dict[str, str] = {}

    def run(self, query, text, sink=None):
        self.texts[query] = text
        answer = self.answers.get(query, [])
        if isinstance(answer, QueryOutcome):
            return answer
        rows = list(answer)
        if sink is not None:
            sink(rows)
        return QueryOutcome(query=query, text=text, rows=() if sink else tuple(rows), row_count=len(rows),
                            status=COMPLETE, pages=1, requests=1, batches=1)


def _failed(query: str, reason: str) -> QueryOutcome:
    return QueryOutcome(query=query, text="x", status=FAILED, requests=3, batches=1,
                        warnings=(f"{query}: batch 1/1 failed: {reason}",),
                        failed_batches=(FailedBatch("subscriptions", SUBS, reason, 500),))


def _containers(*subs: str) -> list[dict]:
    return [_row("resource_containers", id=f"/subscriptions/{s}", type="microsoft.resources/subscriptions",
                 name=f"sub-{s[-1]}", subscriptionId=s, resourceGroup="", tags={}) for s in subs]


@pytest.fixture
def fake(request):
    """Register a fake source named after the test; yields a function that sets its answers."""
    name = f"fake-{request.node.name}"
    made: dict[str, FakeSource] = {}

    def use(arg: dict, la: dict | None = None, unavailable: dict | None = None) -> str:
        def factory(config, period, options):
            made["arg"] = FakeSource("resource_graph", arg)
            by_service = {"resource_graph": made["arg"]}
            if la is not None:
                made["la"] = FakeSource("log_analytics", la)
                by_service["log_analytics"] = made["la"]
            return Sources(source="fake", by_service=by_service, unavailable=unavailable or {},
                           subscriptions=SUBS, scope={"tenant_id": None, "subscriptions": list(SUBS),
                                                      "management_groups": []})
        registry.register(name, factory)
        return name

    use.made = made
    yield use
    registry.unregister(name)


def collect(tmp_path: Path, source: str, **kw) -> Path:
    config = RunConfig(scope=ScopeConfig(subscriptions=SUBS))
    return live.collect(config, PERIOD, tmp_path / "snap", source=source, now=NOW, **kw)


def test_a_source_plugs_in_through_the_registry_and_gets_every_query_text(fake, tmp_path):
    name = fake({"resource_containers": _containers(*SUBS),
                 "clusters": [_row("clusters", id="/subscriptions/x/resourceGroups/r/providers/Microsoft.ContainerService/"
                                   "managedClusters/c", name="c", subscriptionId=SUBS[0], tags={"owner": "a"})]},
                la={})
    snap = read_snapshot(collect(tmp_path, name))
    assert snap.meta["source"] == "fake" and len(snap.frames["clusters"]) == 1
    assert json.loads(snap.frames["clusters"]["tags"].iloc[0]) == {"owner": "a"}
    assert all(info.status == COMPLETE for info in snap.datasets.values())
    assert snap.meta["gaps"] == []
    sent = {**fake.made["arg"].texts, **fake.made["la"].texts}
    assert set(sent) == {q.name for q in load_queries()}
    assert all("let " not in t and t.startswith(f"// dataset: {n.split('.')[0]}\n") for n, t in sent.items())


def test_every_resource_graph_dataset_failing_writes_nothing_and_says_why(fake, tmp_path):
    arg = {q.name: _failed(q.name, "connection error: [Errno 111] Connection refused") for q in load_queries()
           if q.service == "resource_graph"}
    name = fake(arg, la={})
    with pytest.raises(SourceError) as exc:
        collect(tmp_path, name)
    line = exc.value.one_line()
    assert line.startswith("collection failed: all 8 Resource Graph datasets failed; clusters: connection error")
    assert "Connection refused" in line and "no snapshot written" in line and "\n" not in line
    assert not (tmp_path / "snap").exists() and list(tmp_path.iterdir()) == []


def test_one_failed_resource_graph_dataset_fails_the_collection(fake, tmp_path):
    name = fake({"policy_states": _failed("policy_states", "HTTP 500 InternalServerError: boom"),
                 "resource_containers": _containers(*SUBS)}, la={})
    with pytest.raises(SourceError, match=r"1 of 8 Resource Graph datasets failed \(policy_states\); "
                                          r"policy_states: HTTP 500"):
        collect(tmp_path, name)
    assert not (tmp_path / "snap").exists()


def test_a_failed_log_analytics_dataset_is_written_failed_with_a_gap(fake, tmp_path):
    name = fake({"resource_containers": _containers(*SUBS)},
                la={"finding_history": _failed("finding_history", "HTTP 403 Forbidden: no access"),
                    "finding_history.recommendations": _failed("finding_history.recommendations",
                                                               "HTTP 403 Forbidden: no access")})
    snap = read_snapshot(collect(tmp_path, name))
    assert snap.datasets["finding_history"].status == FAILED   # both of its queries failed
    assert snap.meta["collection"]["failed_datasets"] == ["finding_history"]
    gaps = snap.meta["gaps"]
    assert {"kind": "dataset-failed", "dataset": "finding_history", "members": [],
            "message": "Dataset finding_history failed: HTTP 403 Forbidden: no access"} in gaps


def test_a_service_that_is_not_configured_is_skipped_not_failed(fake, tmp_path):
    name = fake({"resource_containers": _containers(*SUBS)}, la=None,
                unavailable={"log_analytics": "no Log Analytics workspace configured"})
    snap = read_snapshot(collect(tmp_path, name))
    for dataset in ("assessment_history", "finding_history"):
        assert snap.datasets[dataset].status == SKIPPED
        assert any(g["kind"] == "not-configured" and g["dataset"] == dataset for g in snap.meta["gaps"])
    assert snap.meta["collection"]["skipped_datasets"] == ["assessment_history", "finding_history"]


def test_subscriptions_resource_graph_returned_nothing_for_are_a_stated_gap(fake, tmp_path):
    name = fake({"resource_containers": _containers(SUBS[0])}, la={})
    snap = read_snapshot(collect(tmp_path, name))
    gap = next(g for g in snap.meta["gaps"] if g["kind"] == "unreadable-subscriptions")
    assert gap["members"] == [SUBS[1]]
    assert gap["message"].startswith("1 of 2 subscriptions asked for returned nothing from Resource Graph")
    assert "without an error" in gap["message"]


def test_a_batch_refused_for_no_valid_subscription_names_them_unreadable(fake, tmp_path):
    refused = QueryOutcome(
        query="resource_containers", text="x", status=PARTIAL, requests=2, batches=2, rows=tuple(_containers(SUBS[0])),
        row_count=1, warnings=("resource_containers: batch 2/2 failed: HTTP 400 NoValidSubscriptionsInQueryRequest",),
        failed_batches=(FailedBatch("subscriptions", SUBS[1:], "HTTP 400 NoValidSubscriptionsInQueryRequest: none", 400),))
    name = fake({"resource_containers": refused}, la={})
    snap = read_snapshot(collect(tmp_path, name))
    assert next(g for g in snap.meta["gaps"] if g["kind"] == "unreadable-subscriptions")["members"] == [SUBS[1]]
    other = QueryOutcome(**{**refused.__dict__, "failed_batches": (FailedBatch("subscriptions", SUBS[1:], "HTTP 503", 503),)})
    name = fake({"resource_containers": other}, la={})
    snap = read_snapshot(collect(tmp_path / "again", name))
    assert not [g for g in snap.meta["gaps"] if g["kind"] == "unreadable-subscriptions"]   # unknown, not unreadable
    assert any(g["kind"] == "dataset-partial" for g in snap.meta["gaps"])


def test_a_package_with_more_cves_than_one_expansion_is_a_stated_gap(fake, tmp_path):
    rows = [_row("findings", id="/pkg/a", cveId=f"CVE-2024-{i:04d}", packageName="openssl", imageDigest="sha256:1",
                 resourceId="/c", statusCode="Unhealthy", source="individual-recommendations", packageCveCount=450)
            for i in range(400)]
    name = fake({"resource_containers": _containers(*SUBS), "findings.recommendations": rows}, la={})
    snap = read_snapshot(collect(tmp_path, name))
    gap = next(g for g in snap.meta["gaps"] if g["kind"] == "cve-limit")
    assert gap["members"] == ["/pkg/a"] and "50 CVEs of these packages were not read" in gap["message"]
    assert snap.frames["findings"]["packageCveCount"].eq(450).all()


def test_partial_findings_source_makes_a_partial_dataset(fake, tmp_path):
    partial = QueryOutcome(query="findings.subassessments", text="x", status=PARTIAL, requests=2, batches=2,
                           warnings=("findings.subassessments: batch 2/2 failed: HTTP 403",),
                           failed_batches=(FailedBatch("subscriptions", SUBS[1:], "HTTP 403 AuthorizationFailed", 403),))
    name = fake({"resource_containers": _containers(*SUBS), "findings.subassessments": partial}, la={})
    snap = read_snapshot(collect(tmp_path, name))
    assert snap.datasets["findings"].status == PARTIAL
    assert any(g["kind"] == "dataset-partial" and "HTTP 403" in g["message"] for g in snap.meta["gaps"])


@pytest.mark.parametrize("statuses, expected", [
    ([COMPLETE, COMPLETE], COMPLETE), ([SKIPPED, SKIPPED], SKIPPED), ([FAILED, FAILED], FAILED),
    ([COMPLETE, FAILED], PARTIAL), ([PARTIAL, COMPLETE], PARTIAL), ([SKIPPED, COMPLETE], PARTIAL),
])
def test_a_dataset_status_from_its_queries(statuses, expected):
    assert live.merged_status(statuses) == expected


def test_unknown_source_name_is_a_usage_error():
    from reportgen.errors import UsageError
    with pytest.raises(UsageError, match="unknown collection source 'nope'"):
        registry.open_sources("nope", RunConfig(), PERIOD, {})
    assert {"azure", "sample"} <= set(registry.names())


def test_total_records_are_summed_over_a_datasets_queries_where_azure_gave_them(fake, tmp_path):
    def outcome(query: str, rows: int, total: int | None) -> QueryOutcome:
        return QueryOutcome(query=query, text="x", row_count=rows, status=COMPLETE, pages=1, requests=1, batches=1,
                            extra={"total_records": total})
    name = fake({"resource_containers": _containers(*SUBS),
                 "findings.recommendations": outcome("findings.recommendations", 0, 7),
                 "findings.subassessments": outcome("findings.subassessments", 0, 5),
                 "policy_states": outcome("policy_states", 0, None)}, la={})
    snap = read_snapshot(collect(tmp_path, name))
    assert snap.datasets["findings"].extra["total_records"] == 12
    assert snap.datasets["findings"].extra["queries"]["findings.recommendations"]["total_records"] == 7
    assert snap.datasets["policy_states"].extra["total_records"] is None   # no query reported one
    assert snap.datasets["clusters"].extra["total_records"] is None        # the fake reports none
    # a source that signs in as nobody records no identity, and says so
    assert snap.meta["collector"] == {"tenant_id": None, "object_id": None, "app_id": None, "upn": None,
                                      "identity_type": None, "read_from": None,
                                      "note": "the fake source uses no Azure identity"}


def test_the_sample_records_totals_as_resource_graph_would_and_collects_as_sample(tmp_path):
    from reportgen.collect.sample import world, write_month
    snap = read_snapshot(write_month(world(3, 1, date(2026, 10, 20)), tmp_path / "snap", 0, 3))
    assert snap.meta["collector"]["identity_type"] == "sample"
    assert all(snap.meta["collector"][k] is None for k in ("tenant_id", "object_id", "app_id", "upn"))
    for name, info in snap.datasets.items():
        if name in ("assessment_history", "finding_history"):
            assert info.extra["total_records"] is None, name     # Log Analytics reports no totalRecords
        else:
            assert info.extra["total_records"] == info.rows, name
            assert info.pages >= 1


def test_one_of_two_history_queries_failing_makes_the_dataset_partial(fake, tmp_path):
    name = fake({"resource_containers": _containers(*SUBS)},
                la={"finding_history.recommendations": _failed("finding_history.recommendations", "HTTP 500")})
    snap = read_snapshot(collect(tmp_path, name))
    assert snap.datasets["finding_history"].status == PARTIAL
    assert any(g["kind"] == "dataset-partial" and g["dataset"] == "finding_history" for g in snap.meta["gaps"])
