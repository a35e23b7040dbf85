"""The "sample" collection source: the built-in tenant's raw records, queried by the embedded engine.

``EngineSource`` is a ``Source`` like Resource Graph or Log Analytics: it runs the exact
query text it is given, here over raw records with the embedded KQL engine
(``reportgen.kql.engine``), and hands the result on as one page. ``open_sources`` builds the
records of one month of a ``World`` (``tenant.py``), so that ``reportgen sample`` and
``reportgen demo`` make their snapshots through the same collection code and the same
query files as ``reportgen collect``.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any, Mapping, Sequence

from reportgen.collect.interface import COMPLETE, QueryOutcome, RowSink, Source, Sources
from reportgen.collect.log_analytics import period_timespan
from reportgen.config import RunConfig
from reportgen.errors import UsageError
from reportgen.kql.catalog import load_tables
from reportgen.kql.engine import RecordStore, Scope

PAGE_ROWS = 1000   # pages are counted as Resource Graph would page the same result
PARALLEL_ROWS = 200_000   # records above which the subscriptions are split into one batch per core


class EngineSource(Source):
    """Runs query texts over a ``RecordStore`` (the same text that would go to Azure).

    Like Resource Graph, it can run a query once per scope batch (``scopes``: subscriptions
    per batch) and join the results in batch order; the batches run in parallel, each on
    its own in-memory database, so a large tenant uses every core."""

    def __init__(self, service: str, store: RecordStore, scopes: Sequence[Scope] = (Scope(),)) -> None:
        self.service = service
        self.store = store
        self.scopes = tuple(scopes) or (Scope(),)

    def run(self, query: str, text: str, sink: RowSink | None = None) -> QueryOutcome:
        if len(self.scopes) == 1:
            results = [self.store.run(text, self.scopes[0])]
        else:
            with ThreadPoolExecutor(max_workers=len(self.scopes), thread_name_prefix="reportgen-engine") as pool:
                results = list(pool.map(lambda scope: self.store.run(text, scope), self.scopes))
        count = sum(r.table.num_rows for r in results)
        rows: list[dict] = []
        for result in results:
            if sink is not None:
                sink(result.table)
            else:
                rows.extend(result.wire_rows())
        return QueryOutcome(query=query, text=text, rows=tuple(rows), row_count=count, status=COMPLETE,
                            pages=sum(max(1, math.ceil(r.table.num_rows / PAGE_ROWS)) for r in results),
                            batches=len(results), extra={"engine": "duckdb-kql", "total_records": count if self.service == "resource_graph" else None})

    def close(self) -> None:
        self.store.close()


def balanced_batches(subscription_rows: Mapping[str, int], batches: int) -> list[Scope]:
    """Subscriptions in ``batches`` groups of about equal record counts (the largest first)."""
    groups: list[tuple[int, list[str]]] = [(0, []) for _ in range(max(1, batches))]
    for sub, rows in sorted(subscription_rows.items(), key=lambda kv: (-kv[1], kv[0])):
        i = min(range(len(groups)), key=lambda j: (groups[j][0], j))
        groups[i] = (groups[i][0] + rows, groups[i][1] + [sub.lower()])
    return [Scope(subscriptions=frozenset(subs)) for _, subs in groups if subs]


def open_sources(config: RunConfig, period: tuple[date, date], options: Mapping[str, Any]) -> Sources:
    """``options``: ``world`` (a sample ``World``) and ``month`` (0 = its as-of month, -1 = the month before...)."""
    from reportgen.collect.sample.tenant import MonthTenant

    world = options.get("world")
    if world is None:
        raise UsageError("the sample source needs a sample world", hint="use `reportgen sample` or `reportgen demo`")
    month = int(options.get("month", 0))
    tenant = MonthTenant(world, month)
    schemas = load_tables()
    arg = RecordStore(tenant.resource_graph(schemas["resource_graph"]), schemas["resource_graph"],
                      composed=tenant.composed())
    la = RecordStore(tenant.log_analytics(schemas["log_analytics"]), schemas["log_analytics"])
    subscriptions = [s["id"] for s in world.subs]
    per_subscription = {s: 0 for s in subscriptions}
    for table in (arg.tables["securityresources"], *(c.parts for c in arg.composed.values())):
        for row in table.group_by("subscriptionId").aggregate([("subscriptionId", "count")]).to_pylist():
            per_subscription[row["subscriptionId"]] = per_subscription.get(row["subscriptionId"], 0) + \
                row["subscriptionId_count"]
    batches = balanced_batches(per_subscription, os.cpu_count() or 1) \
        if arg.rows("securityresources") > PARALLEL_ROWS else [Scope()]
    arg.prepare(batches, release=True)   # the records now live once, in the batches' databases
    return Sources(
        source="sample",
        by_service={"resource_graph": EngineSource("resource_graph", arg, batches),
                    "log_analytics": EngineSource("log_analytics", la, [Scope(time_range=period_timespan(period))])},
        cloud="AzureCloud",
        scope={"tenant_id": world.tenant_id, "subscriptions": subscriptions, "management_groups": []},
        subscriptions=tuple(subscriptions),
        meta={"engine": "duckdb-kql (embedded KQL over the sample tenant's raw records)",
              "sample": dict(options.get("label") or {}),
              "records": {name: arg.rows(name) for name in arg.schemas}
              | {name: la.rows(name) for name in la.schemas}})
