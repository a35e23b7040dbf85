"""The Azure Resource Graph subset of KQL: rules as data, applied to what the parser found.

Resource Graph accepts only part of KQL: the tabular operators of Microsoft's page
"Understanding the Azure Resource Graph query language" (table "Supported tabular/top level
operators"), a few join kinds, at most 3 joins, 2 ``mv-expand`` and 3 ``union`` legs, an
``mv-expand`` row limit of 400 (128 without a ``limit`` clause, the rest dropped silently),
no ``let`` (MicrosoftDocs/azure-docs#104044) and no ``has_any`` (#104674). The official Kusto
parser checks full KQL and accepts all of these, so a query could pass it and still fail
or, worse, lose rows in Azure. This module closes that gap for the Resource Graph queries.

Why data: every rule has a source, and the sources change (the page gained ``parse`` and
``fullouter`` between 2021 and 2024; functions are listed nowhere and are taken from
Microsoft's own ARG queries). ``resource_graph_subset.yaml`` holds the rules with their
citations, so that widening the subset is one reviewed line of data with its evidence, and
the messages quote the source. ``check.js`` only reports the constructs of each query
(statements, operators with their join kind, hints, union legs and ``mv-expand`` limits,
function calls, scalar operators) with their positions; ``problems`` judges them.
"""

from __future__ import annotations

import fnmatch
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping


from reportgen.assets import read_yaml
from reportgen.errors import QueryError

SUBSET_FILE = Path(__file__).resolve().parent / "resource_graph_subset.yaml"
FUNCTION_KINDS = ("scalar", "aggregation", "window")
CONSTRUCTS = ("statement", "operator", "function", "scalar_operator", "join_parameter", "union_parameter")
LIMIT_KEYS = ("join", "mv-expand", "union_legs", "mv_expand_row_limit")

Position = Callable[[int, int], "tuple[int, int]"]


@dataclass(frozen=True)
class CountLimit:
    label: str
    max: int
    operators: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class RowLimit:
    max: int
    default: int
    required: bool
    operators: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Function:
    name: str
    kind: str
    source: str


@dataclass(frozen=True)
class NotSupported:
    construct: str
    name: str
    reason: str
    source: str


@dataclass(frozen=True)
class Subset:
    path: Path
    cite: str                      # how messages name the query-language page
    operators_table: str
    statements: frozenset[str]
    max_statements: int
    statements_source: str
    operators: Mapping[str, str]   # name -> the page's note
    join_kinds: tuple[str, ...]
    join_default: str
    join_source: str
    count_limits: tuple[CountLimit, ...]
    union_legs: CountLimit
    row_limit: RowLimit
    functions: Mapping[str, Function]
    not_supported: tuple[NotSupported, ...]

    def unsupported(self, construct: str, name: str) -> NotSupported | None:
        for entry in self.not_supported:
            if entry.construct == construct and fnmatch.fnmatchcase(name.lower(), entry.name.lower()):
                return entry
        return None


# ---------------------------------------------------------------------------- loading

class _Reader:
    """Typed access to the data file; every error names the file and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, what: str) -> QueryError:
        return QueryError(f"Resource Graph subset file {self.path}: {key}: {what}",
                          hint="fix the data file (see its header comment for the sources)")

    def mapping(self, data: Any, key: str) -> Mapping[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(key, f"expected a mapping, got {_type(data)}")
        return data

    def get(self, data: Mapping[str, Any], name: str, key: str) -> Any:
        if name not in data:
            raise self.fail(f"{key}.{name}" if key else name, "missing")
        return data[name]

    def text(self, data: Mapping[str, Any], name: str, key: str, *, empty: bool = False) -> str:
        value = self.get(data, name, key)
        if not isinstance(value, str) or (not empty and not value.strip()):
            raise self.fail(f"{key}.{name}" if key else name, f"expected {'text' if empty else 'non-empty text'}, got {value!r}")
        return value

    def integer(self, data: Mapping[str, Any], name: str, key: str) -> int:
        value = self.get(data, name, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail(f"{key}.{name}", f"expected a positive integer, got {value!r}")
        return value

    def names(self, data: Mapping[str, Any], name: str, key: str) -> tuple[str, ...]:
        value = self.get(data, name, key)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(f"{key}.{name}", f"expected a non-empty list of names, got {value!r}")
        return tuple(value)

    def entries(self, data: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
        value = self.get(data, name, "")
        if not isinstance(value, list) or not value:
            raise self.fail(name, f"expected a non-empty list, got {_type(value)}")
        out = []
        seen = set()
        for i, entry in enumerate(value):
            entry = self.mapping(entry, f"{name}[{i}]")
            entry_name = self.text(entry, "name", f"{name}[{i}]")
            ident = (entry.get("construct"), entry_name)
            if ident in seen:
                raise self.fail(f"{name}[{i}]", f"{entry_name!r} is listed twice")
            seen.add(ident)
            out.append(entry)
        return out


def _type(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


@functools.lru_cache(maxsize=8)
def _load(path: Path, mtime_ns: int) -> Subset:
    r = _Reader(path)
    data = read_yaml(path, "Resource Graph subset file", QueryError)
    data = r.mapping(data, "(top level)")

    page = r.mapping(r.get(data, "page", ""), "page")
    for key in ("title", "url", "source_file", "cite", "operators_table"):
        r.text(page, key, "page")

    statements = r.mapping(r.get(data, "statements", ""), "statements")
    allowed_statements = frozenset(r.names(statements, "allowed", "statements"))
    max_statements = r.integer(statements, "max", "statements")
    statements_source = r.text(statements, "source", "statements")

    operators = {}
    for i, entry in enumerate(r.entries(data, "operators")):
        operators[entry["name"]] = r.text(entry, "note", f"operators[{i}]", empty=True)

    join = r.mapping(r.get(data, "join_kinds", ""), "join_kinds")
    join_kinds = tuple(k.lower() for k in r.names(join, "allowed", "join_kinds"))
    join_default = r.text(join, "default", "join_kinds").lower()
    if join_default not in join_kinds:
        raise r.fail("join_kinds.default", f"{join_default!r} is not one of join_kinds.allowed")
    join_source = r.text(join, "source", "join_kinds")

    limits = r.mapping(r.get(data, "limits", ""), "limits")
    unknown = sorted(set(limits) - set(LIMIT_KEYS))
    if unknown:
        raise r.fail(f"limits.{unknown[0]}", f"unknown limit (known: {', '.join(LIMIT_KEYS)})")
    count_limits = []
    for label in ("join", "mv-expand"):
        entry = r.mapping(r.get(limits, label, "limits"), f"limits.{label}")
        names = r.names(entry, "operators", f"limits.{label}")
        for name in names:
            if name not in operators:
                raise r.fail(f"limits.{label}.operators", f"{name!r} is not in operators")
        count_limits.append(CountLimit(label, r.integer(entry, "max", f"limits.{label}"), names,
                                       r.text(entry, "source", f"limits.{label}")))
    legs = r.mapping(r.get(limits, "union_legs", "limits"), "limits.union_legs")
    union_legs = CountLimit("union legs", r.integer(legs, "max", "limits.union_legs"), ("union",),
                            r.text(legs, "source", "limits.union_legs"))
    rows = r.mapping(r.get(limits, "mv_expand_row_limit", "limits"), "limits.mv_expand_row_limit")
    required = r.get(rows, "required", "limits.mv_expand_row_limit")
    if not isinstance(required, bool):
        raise r.fail("limits.mv_expand_row_limit.required", f"expected true or false, got {required!r}")
    for name in r.names(rows, "operators", "limits.mv_expand_row_limit"):
        if name not in operators:
            raise r.fail("limits.mv_expand_row_limit.operators", f"{name!r} is not in operators")
    row_limit = RowLimit(r.integer(rows, "max", "limits.mv_expand_row_limit"),
                         r.integer(rows, "default", "limits.mv_expand_row_limit"), required,
                         r.names(rows, "operators", "limits.mv_expand_row_limit"),
                         r.text(rows, "source", "limits.mv_expand_row_limit"))

    functions = {}
    for i, entry in enumerate(r.entries(data, "functions")):
        kind = r.text(entry, "kind", f"functions[{i}]")
        if kind not in FUNCTION_KINDS:
            raise r.fail(f"functions[{i}].kind", f"{kind!r} is not one of {', '.join(FUNCTION_KINDS)}")
        functions[entry["name"]] = Function(entry["name"], kind, r.text(entry, "source", f"functions[{i}]"))

    not_supported = []
    for i, entry in enumerate(r.entries(data, "not_supported")):
        construct = r.text(entry, "construct", f"not_supported[{i}]")
        if construct not in CONSTRUCTS:
            raise r.fail(f"not_supported[{i}].construct", f"{construct!r} is not one of {', '.join(CONSTRUCTS)}")
        not_supported.append(NotSupported(construct, entry["name"], r.text(entry, "reason", f"not_supported[{i}]"),
                                          r.text(entry, "source", f"not_supported[{i}]")))

    return Subset(path=path, cite=page["cite"], operators_table=page["operators_table"],
                  statements=allowed_statements, max_statements=max_statements,
                  statements_source=statements_source, operators=operators, join_kinds=join_kinds,
                  join_default=join_default, join_source=join_source, count_limits=tuple(count_limits),
                  union_legs=union_legs, row_limit=row_limit, functions=functions,
                  not_supported=tuple(not_supported))


def load_subset(path: Path | None = None) -> Subset:
    """The validated subset; a bad data file is a ``QueryError`` naming the file and the key."""
    path = Path(path or SUBSET_FILE).resolve()
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise QueryError(f"Resource Graph subset file {path} not found") from None
    return _load(path, mtime)


# ---------------------------------------------------------------------------- judging

def location(line: int, column: int) -> str:
    """``line 7, column 3`` in the query file; ``header`` for the lines reportgen adds."""
    return f"line {line}, column {column}" if line >= 1 else "header"


def problems(result: Mapping[str, Any], header_lines: int, *, position: Position | None = None,
             subset: Subset | None = None) -> list[str]:
    """One line per construct outside the subset, ``line L, column C: ...`` (the caller adds the file).

    ``result`` is one query's answer from ``check.js``; its positions are in the text sent,
    which has ``header_lines`` lines before the body. ``position`` maps a sent (line, column)
    to the query file's (the default only takes the header off the line).
    """
    rules = subset or load_subset()
    if "constructs" not in result:
        raise QueryError("the Kusto parser bridge reported no constructs (reportgen/kql/check.js is out of date)")
    where = position or (lambda line, column: (line - header_lines, column))
    constructs = sorted(result["constructs"], key=lambda c: (c["line"], c["column"]))
    page = f'{rules.cite}, "{rules.operators_table}"'
    out: list[tuple[tuple[int, int], str]] = []

    def say(line: int, column: int, message: str) -> None:
        at = where(line, column)
        out.append((at, f"{location(*at)}: {message}"))

    def rejected(c: Mapping[str, Any], construct: str, name: str, label: str,
                 line: int | None = None, column: int | None = None) -> bool:
        entry = rules.unsupported(construct, name)
        if entry is None:
            return False
        say(c["line"] if line is None else line, c["column"] if column is None else column,
            f"{label} is not supported by Azure Resource Graph: {entry.reason} ({entry.source})")
        return True

    statements = 0
    for c in constructs:
        kind, name = c["kind"], c["name"]
        if kind == "statement":
            keyword = str(c.get("keyword", ""))
            if name in rules.statements:
                statements += 1
                if statements > rules.max_statements:
                    say(c["line"], c["column"], f"more than {rules.max_statements} query statement(s): Azure "
                        f"Resource Graph runs one query expression ({rules.statements_source})")
            elif not rejected(c, "statement", keyword, f"'{keyword}' statement"):
                say(c["line"], c["column"], f"statement '{keyword}' ({name}) is not in the Azure Resource Graph subset: "
                    f"a query is one query expression ({rules.statements_source})")
        elif kind == "operator":
            if rejected(c, "operator", name, f"operator '{name}'"):
                continue
            if name not in rules.operators:
                say(c["line"], c["column"], f"operator '{name}' is not in the Azure Resource Graph subset ({page})")
                continue
            if name == "join":
                _join(c, rules, say, rejected)
            if name == "union":
                for p in c.get("parameters", []):
                    rejected(c, "union_parameter", p["name"], f"union {p['name']}={p['value']}", p["line"], p["column"])
                if c.get("legs", 0) > rules.union_legs.max:
                    say(c["line"], c["column"], f"union has {c['legs']} legs; Azure Resource Graph allows at most "
                        f"{rules.union_legs.max} ({rules.union_legs.source})")
            if name in rules.row_limit.operators:
                _row_limit(c, rules.row_limit, say)
        elif kind == "function":
            if rejected(c, "function", name, f"function '{name}'"):
                continue
            if name not in rules.functions:
                say(c["line"], c["column"], f"function '{name}' is not in the Azure Resource Graph subset (the "
                    f"{rules.cite} lists no functions; allowed are those Microsoft's own ARG queries use, "
                    f"{rules.path.name} 'functions')")
        elif kind == "scalar_operator":
            rejected(c, "scalar_operator", name, f"operator '{name}'")

    for limit in rules.count_limits:
        found = [c for c in constructs if c["kind"] == "operator" and c["name"] in limit.operators]
        if len(found) > limit.max:
            first = found[limit.max]
            spelled = " and ".join(dict.fromkeys(c["name"] for c in found))
            say(first["line"], first["column"], f"{len(found)} {limit.label} operators in one query ({spelled}); "
                f"Azure Resource Graph allows at most {limit.max} ({limit.source})")
    return [message for _, message in sorted(out, key=lambda item: item[0])]


def _join(c: Mapping[str, Any], rules: Subset, say: Callable, rejected: Callable) -> None:
    params = c.get("parameters", [])
    kind_param = next((p for p in params if p["name"].lower() == "kind"), None)
    kind = (c.get("join_kind") or rules.join_default).lower()
    if kind not in rules.join_kinds:
        at = (kind_param["line"], kind_param["column"]) if kind_param else (c["line"], c["column"])
        say(*at, f"join kind '{kind}' is not supported by Azure Resource Graph (allowed: "
            f"{', '.join(rules.join_kinds)}; {rules.join_source})")
    for p in params:
        if p is not kind_param:
            rejected(c, "join_parameter", p["name"], f"join {p['name']}={p['value']}", p["line"], p["column"])


def _row_limit(c: Mapping[str, Any], limit: RowLimit, say: Callable) -> None:
    name = c["name"]
    text = c.get("row_limit_text")
    if text is None:
        if limit.required:
            say(c["line"], c["column"], f"{name} without a limit clause: Azure Resource Graph then expands at most "
                f"{limit.default} values per row and drops the rest without an error; end it with "
                f"'limit {limit.max}' and report a longer list as a gap ({limit.source})")
        return
    at = (c.get("row_limit_line", c["line"]), c.get("row_limit_column", c["column"]))
    value = c.get("row_limit")
    if value is None:
        say(*at, f"{name} limit '{text}' is not an integer literal; Azure Resource Graph allows at most "
            f"{limit.max} ({limit.source})")
    elif value > limit.max:
        say(*at, f"{name} limit {value} is above Azure Resource Graph's maximum of {limit.max} ({limit.source})")
