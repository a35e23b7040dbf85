"""An embedded KQL engine: the real query files, run over raw Azure-shaped records.

The sample tenant and the test emulator both hold what Azure itself holds: the rows of
Resource Graph's ``resources``, ``resourcecontainers``, ``policyresources`` and
``securityresources`` tables (``properties`` nested as Azure nests it, JSON-string fields
kept as strings), and the continuous-export tables of a Log Analytics workspace. A
``RecordStore`` loads them into DuckDB with the column types declared in
``queries/tables.yaml`` and runs KQL text on them with duckdb-kql, which translates KQL
to SQL (``duckdb-kql`` on PyPI, MIT). Nothing is routed by name: a wrong property path in
a query file gives empty values here exactly as it would in Azure.

Scope works as in the services: a Resource Graph request sees only the records of the
subscriptions it names (``subscriptions``), a Log Analytics request only the rows inside
its timespan (``time_range``). Each distinct scope gets its own in-memory database, built
once and kept, so paging through a result costs one execution.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from reportgen.errors import QueryError

# Kusto scalar types (queries/tables.yaml) -> DuckDB column types and the Arrow type records arrive in.
_DUCK_TYPES = {"string": "VARCHAR", "guid": "VARCHAR", "dynamic": "JSON", "datetime": "TIMESTAMP",
               "bool": "BOOLEAN", "int": "INTEGER", "long": "BIGINT", "real": "DOUBLE", "decimal": "DOUBLE",
               "timespan": "INTERVAL"}
_ARROW_TYPES = {"string": pa.string(), "guid": pa.string(), "dynamic": pa.string(),
                "datetime": pa.timestamp("us", tz="UTC"), "bool": pa.bool_(), "int": pa.int32(),
                "long": pa.int64(), "real": pa.float64(), "decimal": pa.float64(), "timespan": pa.duration("us")}


class EngineError(QueryError):
    """The embedded engine could not run a query (a syntax or translation error, or a SQL failure)."""


@dataclass(frozen=True)
class Scope:
    """Which records a request may see: subscriptions (lower-case; None = every one) and a time range."""

    subscriptions: frozenset[str] | None = None
    time_range: tuple[datetime, datetime] | None = None

    def key(self) -> str:
        subs = sorted(self.subscriptions) if self.subscriptions is not None else None
        span = [t.isoformat() for t in self.time_range] if self.time_range else None
        return hashlib.sha256(json.dumps([subs, span]).encode()).hexdigest()[:16]


def _arrow_column(values: Sequence[Any], kusto_type: str) -> pa.Array:
    """One column of raw records as Arrow: dynamic values as compact JSON text (strings stay strings)."""
    if kusto_type == "dynamic":
        out = [None if v is None else json.dumps(v, separators=(",", ":"), ensure_ascii=False) for v in values]
        return pa.array(out, type=pa.string())
    if kusto_type == "datetime":
        out = [None if v is None else _parse_time(v) for v in values]
        return pa.array(out, type=_ARROW_TYPES["datetime"])
    return pa.array(list(values), type=_ARROW_TYPES[kusto_type])


def _parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    text = str(value).strip().replace("Z", "+00:00")
    if "." in text:  # Azure writes 7 fractional digits; Python reads at most 6
        head, _, rest = text.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        tail = rest[len(digits):]
        text = f"{head}.{digits[:6]}{tail}"
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def records_table(records: Iterable[Mapping[str, Any]], columns: Mapping[str, str]) -> pa.Table:
    """Raw records (dicts as Azure returns them) -> an Arrow table with the declared columns."""
    rows = list(records)
    unknown = sorted({k for r in rows for k in r} - set(columns))
    if unknown:
        raise EngineError(f"record has column {unknown[0]!r}, which the table schema does not declare",
                          hint="declare it in queries/tables.yaml")
    return pa.table({name: _arrow_column([r.get(name) for r in rows], kind) for name, kind in columns.items()})


def conform(table: pa.Table, columns: Mapping[str, str]) -> pa.Table:
    """An Arrow table of raw records with exactly the declared columns, in order, cast to their
    Arrow types; columns it lacks are null. Dynamic columns hold JSON text."""
    extra = [c for c in table.column_names if c not in columns]
    if extra:
        raise EngineError(f"record column {extra[0]!r} is not declared", hint="declare it in queries/tables.yaml")
    arrays = {}
    for col, kind in columns.items():
        want = _ARROW_TYPES[kind]
        if col in table.column_names:
            arr = table[col]
            arrays[col] = arr if arr.type == want else arr.cast(want)
        else:
            arrays[col] = pa.nulls(table.num_rows, type=want)
    return pa.table(arrays)


@dataclass(frozen=True)
class ComposedRecords:
    """More raw records of one table, written inside DuckDB from parts instead of passed whole.

    ``parts``: one row per record, with a ``subscriptionId`` column for scoping (dictionary
    columns welcome: a million records repeat a few thousand pieces); ``select``: for each
    column of the table, a DuckDB SQL expression over the parts' columns (the record's JSON
    text for dynamic columns); absent columns are null. The records are the same as if built
    in Python and passed in ``tables``; DuckDB only does the concatenation, in parallel."""

    parts: pa.Table
    select: Mapping[str, str]

    def materialize(self, columns: Mapping[str, str]) -> pa.Table:
        """The records as an Arrow table with the declared columns (dynamic ones as JSON text)."""
        import duckdb

        con = duckdb.connect()
        con.register("parts", self.parts)
        exprs = ", ".join(f'CAST(({self.select[c]}) AS VARCHAR) AS "{c}"' if c in self.select
                          else f'NULL AS "{c}"' for c in columns)
        return conform(con.sql(f"SELECT {exprs} FROM parts").to_arrow_table(), columns)


def sql_text(value: str) -> str:
    """A string as a DuckDB SQL literal."""
    return "'" + value.replace("'", "''") + "'"


class RecordStore:
    """Raw records per table, queryable with KQL. ``tables``: name -> Arrow table of raw records.

    ``schemas`` gives each table's declared columns and Kusto types (``queries/tables.yaml``
    of one service); a table's Arrow columns must be a subset of them (the rest are null).
    ``composed`` adds records built inside DuckDB (``ComposedRecords``).
    """

    def __init__(self, tables: Mapping[str, pa.Table], schemas: Mapping[str, Mapping[str, str]],
                 composed: Mapping[str, ComposedRecords] | None = None) -> None:
        composed = dict(composed or {})
        unknown = sorted((set(tables) | set(composed)) - set(schemas))
        if unknown:
            raise EngineError(f"no table schema declared for {unknown[0]!r}", hint="declare it in queries/tables.yaml")
        self.schemas = {name: dict(cols) for name, cols in schemas.items()}
        for name, extra in composed.items():
            bad = sorted(set(extra.select) - set(self.schemas[name]))
            if bad:
                raise EngineError(f"table {name}: composed column {bad[0]!r} is not declared",
                                  hint="declare it in queries/tables.yaml")
            if "subscriptionId" not in extra.parts.column_names:
                raise EngineError(f"table {name}: composed parts need a subscriptionId column for scoping")
        self.composed = composed
        self.tables: dict[str, pa.Table] | None = {name: self._conform(name, tables.get(name)) for name in self.schemas}
        self._rows = {name: table.num_rows + (composed[name].parts.num_rows if name in composed else 0)
                      for name, table in self.tables.items()}
        self._connections: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_records(cls, records: Mapping[str, Iterable[Mapping[str, Any]]],
                     schemas: Mapping[str, Mapping[str, str]]) -> "RecordStore":
        tables = {}
        for name, rows in records.items():
            if name not in schemas:
                raise EngineError(f"no table schema declared for {name!r}", hint="declare it in queries/tables.yaml")
            try:
                tables[name] = records_table(rows, schemas[name])
            except EngineError as exc:
                raise EngineError(f"table {name}: {exc.message}", hint=exc.hint) from None
        return cls(tables, schemas)

    def _conform(self, name: str, table: pa.Table | None) -> pa.Table:
        columns = self.schemas[name]
        if table is None:
            return pa.table({c: pa.array([], type=_ARROW_TYPES[k]) for c, k in columns.items()})
        try:
            return conform(table, columns)
        except EngineError as exc:
            raise EngineError(f"table {name}: {exc.message}", hint=exc.hint) from None

    def rows(self, table: str) -> int:
        return self._rows[table]

    def prepare(self, scopes: Iterable[Scope], release: bool = False) -> None:
        """Build the databases of these scopes now; with ``release``, drop the source records afterwards
        (a large tenant's records then live once, in DuckDB), and refuse any other scope later."""
        from concurrent.futures import ThreadPoolExecutor

        scopes = list(scopes)
        with ThreadPoolExecutor(max_workers=max(1, len(scopes))) as pool:
            list(pool.map(self._connection_for, scopes))
        if release:
            self.tables = None
            self.composed = {}

    def close(self) -> None:
        """Close every database (a large tenant's records live there); the store cannot run queries after."""
        with self._lock:
            for con in self._connections.values():
                con.close()
            self._connections.clear()
            self.tables = None
            self.composed = {}

    def _scope_lock(self, scope: Scope) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(scope.key(), threading.Lock())

    def _connection_for(self, scope: Scope) -> Any:
        with self._scope_lock(scope):
            return self._connection(scope)

    # ------------------------------------------------------------------ scope

    def _filtered(self, name: str, scope: Scope, table: pa.Table | None = None) -> pa.Table:
        table = self.tables[name] if table is None else table
        mask = None
        if scope.subscriptions is not None and "subscriptionId" in table.column_names:
            subs = pa.array(sorted(scope.subscriptions), type=pa.string())
            mask = pc.is_in(pc.utf8_lower(table["subscriptionId"]), value_set=subs)
        if scope.time_range is not None and "TimeGenerated" in table.column_names:
            start, end = (pa.scalar(t.astimezone(timezone.utc), type=_ARROW_TYPES["datetime"]) for t in scope.time_range)
            in_range = pc.and_(pc.greater_equal(table["TimeGenerated"], start), pc.less(table["TimeGenerated"], end))
            mask = in_range if mask is None else pc.and_(mask, in_range)
        if mask is None:
            return table
        return table.filter(pc.fill_null(mask, False))

    def _connection(self, scope: Scope) -> Any:
        key = scope.key()
        con = self._connections.get(key)
        if con is not None:
            return con
        if self.tables is None:
            raise EngineError("the records were released after the prepared scopes were built",
                              hint="prepare every scope a source will ask for")
        import duckdb_kql

        con = duckdb_kql.connect()
        for name, columns in self.schemas.items():
            raw = f"_raw_{name}"
            con.register(raw, self._filtered(name, scope))
            select = ", ".join(f'CAST("{c}" AS {_DUCK_TYPES[k]}) AS "{c}"' for c, k in columns.items())
            con.execute(f'CREATE TABLE "{name}" AS SELECT {select} FROM "{raw}"')
            con.unregister(raw)
            if name in self.composed:
                extra = self.composed[name]
                con.register(raw, self._filtered(name, scope, extra.parts))
                exprs = ", ".join(f'CAST(({extra.select[c]}) AS {_DUCK_TYPES[k]})' if c in extra.select
                                  else f"CAST(NULL AS {_DUCK_TYPES[k]})" for c, k in columns.items())
                con.execute(f'INSERT INTO "{name}" SELECT {exprs} FROM "{raw}"')
                con.unregister(raw)
        self._connections[key] = con
        return con

    # ------------------------------------------------------------------ running

    def run(self, text: str, scope: Scope = Scope()) -> "Result":
        """Run KQL text over the records ``scope`` allows."""
        import duckdb
        import duckdb_kql

        with self._scope_lock(scope):  # one DuckDB connection per scope, one thread at a time; scopes in parallel
            try:
                con = self._connection(scope)
                relation = duckdb_kql.kql(con, text)
                dynamic = tuple(name for name, kind in zip(relation.columns, relation.types) if str(kind) == "JSON")
                table = relation.to_arrow_table()
            except duckdb_kql.KqlError as exc:
                raise EngineError(f"the embedded KQL engine cannot run this query: {_first_line(exc)}") from None
            except duckdb.Error as exc:
                raise EngineError(f"the embedded KQL engine failed running this query: {_first_line(exc)}") from None
        return Result(_utc(table), dynamic)


@dataclass(frozen=True)
class Result:
    """A query's result: an Arrow table (timestamps in UTC) and which of its columns are KQL dynamic.

    Dynamic values are JSON text in the table; ``wire_rows`` gives them as Azure sends them."""

    table: pa.Table
    dynamic: tuple[str, ...]

    def wire_rows(self, start: int = 0, stop: int | None = None) -> list[dict]:
        """Rows as the services send them in JSON: dynamic values parsed, datetimes as ISO 8601 text."""
        part = self.table.slice(start, None if stop is None else max(0, stop - start))
        rows = part.to_pylist()
        times = [f.name for f in part.schema if pa.types.is_timestamp(f.type)]
        for row in rows:
            for name in self.dynamic:
                if row[name] is not None:
                    row[name] = json.loads(row[name])
            for name in times:
                if row[name] is not None:
                    row[name] = iso_time(row[name])
        return rows


def iso_time(value: datetime) -> str:
    """A UTC datetime as Azure writes it: seven fractional digits when there is a fraction."""
    value = value.astimezone(timezone.utc)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:400]


def _utc(table: pa.Table) -> pa.Table:
    """DuckDB returns KQL datetimes as naive timestamps that mean UTC: say so in the type."""
    columns = []
    for field, column in zip(table.schema, table.columns):
        if pa.types.is_timestamp(field.type) and field.type.tz is None:
            column = column.cast(pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)
