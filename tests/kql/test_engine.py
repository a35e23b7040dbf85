"""The embedded KQL engine (duckdb-kql on DuckDB) runs the query files unchanged over raw records."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from reportgen.collect.live import query_parameters
from reportgen.collect.sample import raw_records
from reportgen.collect.sample import records as rec
from reportgen.config import RunConfig
from reportgen.kql.catalog import build_text, get_query, load_queries, load_tables
from reportgen.kql.engine import EngineError, RecordStore, Scope
from reportgen.snapshot import DATASETS, OPTIONAL_COLUMNS

PARAMS = query_parameters(RunConfig(), (date(2026, 7, 1), date(2026, 7, 31)))
TENANT = "11111111-1111-1111-1111-111111111111"


@pytest.fixture(scope="module")
def stores():
    arg, la = raw_records(12, seed=3, month_offset=3)   # July 2026: both findings models and export history
    schemas = load_tables()
    return RecordStore(arg, schemas["resource_graph"]), RecordStore(la, schemas["log_analytics"])


def test_every_query_file_runs_unchanged_and_returns_its_contract_columns(stores):
    arg, la = stores
    for query in load_queries():
        store = arg if query.service == "resource_graph" else la
        result = store.run(build_text(query, PARAMS))
        columns = result.table.column_names
        contract = list(DATASETS[query.dataset])
        assert columns[:len(contract)] == contract, query.name
        assert set(columns[len(contract):]) <= set(OPTIONAL_COLUMNS.get(query.dataset, {})), query.name
        assert result.table.num_rows > 0, query.name


def test_a_wrong_property_path_gives_empty_values_not_an_error(stores):
    arg, _ = stores
    text = build_text(get_query("findings.recommendations"), PARAMS)
    good = arg.run(text).table.column("statusCode").to_pylist()
    bad = arg.run(text.replace("statusCode = tostring(st.code)", "statusCode = tostring(st.Code)")) \
        .table.column("statusCode").to_pylist()
    assert set(good) == {"Unhealthy", "NotApplicable"} and set(bad) == {""}


def _cluster(sub: str, name: str) -> dict:
    return rec.managed_cluster(f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.ContainerService/"
                               f"managedClusters/{name}", tenant_id=TENANT, subscription_id=sub, resource_group="RG",
                               location="westeurope", tags={"Owner": "Zoë \"q\""})


def test_scope_sees_only_the_subscriptions_asked_for_case_insensitively():
    store = RecordStore.from_records({"resources": [_cluster("AAAA", "a"), _cluster("bbbb", "b")]},
                                     load_tables()["resource_graph"])
    text = 'resources | where type =~ "microsoft.containerservice/managedclusters" | project id, name, tags'
    assert [r["name"] for r in store.run(text).wire_rows()] == ["a", "b"]
    assert [r["name"] for r in store.run(text, Scope(subscriptions=frozenset({"aaaa"}))).wire_rows()] == ["a"]
    assert store.run(text, Scope(subscriptions=frozenset())).table.num_rows == 0
    assert store.run(text).wire_rows()[0]["tags"] == {"Owner": "Zoë \"q\""}   # dynamic values come back parsed


def test_time_range_and_wire_times():
    rows = [rec.security_recommendation(time=t, tenant_id=TENANT, assessed_resource_id="/c", recommendation_id="k",
                                        key="k", display_name="d", state="Healthy", severity="High", snapshot=False,
                                        subscription_id="s")
            for t in ("2026-06-30T23:59:59.9999999Z", "2026-07-01T00:00:00Z", "2026-07-15T10:20:30.1234567Z",
                      "2026-08-01T00:00:00Z")]
    store = RecordStore.from_records({"SecurityRecommendation": rows}, load_tables()["log_analytics"])
    july = Scope(time_range=(datetime(2026, 7, 1, tzinfo=timezone.utc), datetime(2026, 8, 1, tzinfo=timezone.utc)))
    got = store.run("SecurityRecommendation | project TimeGenerated", july).wire_rows()
    assert [r["TimeGenerated"] for r in got] == ["2026-07-01T00:00:00Z", "2026-07-15T10:20:30.1234560Z"]


def test_a_query_the_engine_cannot_run_is_a_clear_error():
    store = RecordStore.from_records({}, load_tables()["resource_graph"])
    with pytest.raises(EngineError, match="cannot run this query"):
        store.run("resources | where")
    with pytest.raises(EngineError) as exc:
        RecordStore.from_records({"resources": [{"id": "x", "color": "red"}]}, load_tables()["resource_graph"])
    assert exc.value.one_line() == ("table resources: record has column 'color', which the table schema does not "
                                    "declare (declare it in queries/tables.yaml)")


def test_composed_records_are_written_in_duckdb_and_scoped_like_the_others():
    import pyarrow as pa

    from reportgen.kql.engine import ComposedRecords
    parts = pa.table({"n": ["a", "b", "c"], "subscriptionId": ["S1", "s2", "s1"],
                      "piece": pa.DictionaryArray.from_arrays(pa.array([0, 1, 0], pa.int32()), pa.array(['"x"', '"y"']))})
    composed = ComposedRecords(parts, {"id": "'/subscriptions/' || subscriptionId || '/' || n", "name": "n",
                                       "subscriptionId": "subscriptionId", "properties": "'{\"v\":' || piece || '}'"})
    schemas = load_tables()["resource_graph"]
    store = RecordStore({"resources": pa.table({"id": ["/plain"], "subscriptionId": ["s1"]})}, schemas,
                        composed={"resources": composed})
    assert store.rows("resources") == 4
    text = "resources | extend v = tostring(properties.v) | project id, v"
    assert sorted((r["id"], r["v"]) for r in store.run(text, Scope(subscriptions=frozenset({"s1"}))).wire_rows()) == [
        ("/plain", ""), ("/subscriptions/S1/a", "x"), ("/subscriptions/s1/c", "x")]
    whole = composed.materialize(schemas["resources"]).to_pylist()
    assert [(r["id"], r["properties"]) for r in whole] == [
        ("/subscriptions/S1/a", '{"v":"x"}'), ("/subscriptions/s2/b", '{"v":"y"}'), ("/subscriptions/s1/c", '{"v":"x"}')]
