"""The query catalogue: loads ``queries/**/*.kql`` and builds the exact text sent.

A query's name is its file name without ``.kql``; its service is its folder
(``resource_graph`` or ``log_analytics``). The part of the name before the first dot is
the dataset it fills: ``findings.subassessments`` and ``findings.recommendations`` both
fill ``findings``.

Parameters (assessment keys, policy definition ids, group names, period bounds) are
written in a query file as workbook-style placeholders, ``{assessment_keys}``, the form
Microsoft's own workbooks use for their parameters. Each value is validated by its shape
(a GUID, an ARM id, a plain name, a date) and written in place as a quoted KQL literal; a
list becomes comma-separated literals, for ``in~ ({assessment_keys})``. Nothing else of a
value ever reaches the text, and no ``let`` statement is generated: Azure Resource Graph
does not accept ``let`` (MicrosoftDocs/azure-docs issue #104044; ``../shared/AZURE-NOTES.md``
"Read first" 1), and Microsoft's workbooks put their values inline the same way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from reportgen.assets import asset_dir
from reportgen.errors import QueryError, UsageError
from reportgen.snapshot import sha256_text

SERVICES = ("resource_graph", "log_analytics")
TABLES_FILE = "tables.yaml"
HEADER_LINES = 2   # "// dataset: ..." and "// query: ..." precede the body in the text sent
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_KUSTO_TYPES = {"string", "bool", "int", "long", "real", "decimal", "datetime", "timespan", "dynamic", "guid"}

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ARM_ID = re.compile(r"^(?:/[A-Za-z0-9][A-Za-z0-9_.()\-]{0,259})+$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_FORBIDDEN = {'"': "a double quote", "'": "a single quote", "\\": "a backslash", "\n": "a newline",
              "\r": "a carriage return", "`": "a backtick"}


@dataclass(frozen=True)
class Query:
    """One query file. ``text`` is the body as written; ``build_query`` adds the parameters."""

    name: str
    service: str
    path: Path
    text: str
    sha256: str

    @property
    def dataset(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def variant(self) -> str | None:
        return self.name.split(".", 1)[1] if "." in self.name else None

    @property
    def placeholders(self) -> tuple[str, ...]:
        """Every ``{name}`` placeholder in the query's code (comments aside), in order of first use."""
        return tuple(dict.fromkeys(PLACEHOLDER.findall(strip_comments(self.text))))

    @property
    def parameters(self) -> tuple[str, ...]:
        """The declared parameters this query uses, in declaration order."""
        used = set(self.placeholders)
        return tuple(p for p in PARAMETERS if p in used)


@dataclass(frozen=True)
class ParamSpec:
    kind: str  # guid | arm_id | name | date
    many: bool
    description: str


PARAMETERS: dict[str, ParamSpec] = {
    "assessment_keys": ParamSpec("guid", True, "Defender assessment keys behind the policy"),
    "policy_definition_ids": ParamSpec("arm_id", True, "policy definition ids"),
    "policy_groups": ParamSpec("name", True, "policy definition group names of the controls"),
    "compliance_standards": ParamSpec("name", True, "Defender regulatory compliance standards"),
    "compliance_controls": ParamSpec("name", True, "Defender regulatory compliance controls"),
    "period_start": ParamSpec("date", False, "first day of the report period"),
    "period_end": ParamSpec("date", False, "the day after the report period (exclusive bound)"),
}

# Used by `queries check` and `queries show`: the defaults of a standard MCSB run.
EXAMPLE_PARAMETERS: dict[str, Any] = {
    "assessment_keys": ["c609cf0f-71ab-41e9-a3c6-9a1f7fe1b8d5"],
    "policy_definition_ids": ["/providers/Microsoft.Authorization/policyDefinitions/17f4b1cc-c55c-4d94-b1f9-2978f6ac2957"],
    "policy_groups": ["Azure_Security_Benchmark_v3.0_DS-6", "Azure_Security_Benchmark_v3.0_PV-6"],
    "compliance_standards": ["Microsoft-cloud-security-benchmark"],
    "compliance_controls": ["DS.6", "PV.6"],
    "period_start": date(2026, 7, 1),
    "period_end": date(2026, 8, 1),
}


def strip_comments(text: str) -> str:
    """The text with ``//`` comments blanked, line for line (a ``//`` inside a string literal is kept)."""
    return "\n".join(_code_part(line) for line in text.splitlines())


def _code_part(line: str) -> str:
    quote = None
    i = 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\" and not quote.startswith("@"):  # verbatim @"..." strings have no escapes
                i += 2
                continue
            if c == quote[-1]:
                quote = None
        elif c in "'\"":
            quote = "@" + c if i and line[i - 1] == "@" else c
        elif line.startswith("//", i):
            return line[:i]
        i += 1
    return line


def queries_dir() -> Path:
    return asset_dir("queries")


def load_queries(directory: Path | None = None) -> list[Query]:
    """Every ``.kql`` file under ``queries/resource_graph`` and ``queries/log_analytics``, sorted by name."""
    root = Path(directory) if directory else queries_dir()
    found: list[Query] = []
    for service in SERVICES:
        folder = root / service
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.kql")):
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise QueryError(f"query file {path}: not UTF-8 text") from None
            if not text.strip():
                raise QueryError(f"query file {path}: empty")
            found.append(Query(name=path.stem, service=service, path=path, text=text, sha256=sha256_text(text)))
    names = [q.name for q in found]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise QueryError(f"query name {dupes[0]!r} is used by more than one file under {root}")
    return sorted(found, key=lambda q: q.name)


def get_query(name: str, directory: Path | None = None) -> Query:
    queries = load_queries(directory)
    for query in queries:
        if query.name == name:
            return query
    raise UsageError(f"unknown query {name!r}", hint=f"queries: {', '.join(q.name for q in queries)}")

# ---------------------------------------------------------------------------- parameters

def _check_text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise QueryError(f"query parameter {name}: expected text, got {type(value).__name__} {value!r}")
    for char, what in _FORBIDDEN.items():
        if char in value:
            raise QueryError(f"query parameter {name}: value {value!r} contains {what}",
                             hint="parameters are ids, keys, names or dates and never contain quotes or line breaks")
    if any(ord(c) < 32 for c in value):
        raise QueryError(f"query parameter {name}: value {value!r} contains a control character")
    return value


def _literal(name: str, kind: str, value: Any) -> str:
    if kind == "date":
        if isinstance(value, datetime):
            raise QueryError(f"query parameter {name}: expected a date, got a datetime {value!r}")
        if isinstance(value, str):
            _check_text(name, value)
            try:
                value = date.fromisoformat(value)
            except ValueError:
                raise QueryError(f"query parameter {name}: {value!r} is not a date (YYYY-MM-DD)") from None
        if not isinstance(value, date):
            raise QueryError(f"query parameter {name}: expected a date, got {type(value).__name__}")
        return f"datetime({value.isoformat()})"
    text = _check_text(name, value).strip()
    if kind == "guid" and not _GUID.match(text):
        raise QueryError(f"query parameter {name}: {value!r} is not a GUID",
                         hint="assessment keys look like c609cf0f-71ab-41e9-a3c6-9a1f7fe1b8d5")
    if kind == "arm_id" and not (_ARM_ID.match(text) and "/providers/" in text.lower()):
        raise QueryError(f"query parameter {name}: {value!r} is not an Azure resource id",
                         hint="e.g. /providers/Microsoft.Authorization/policyDefinitions/17f4b1cc-c55c-4d94-b1f9-2978f6ac2957")
    if kind == "name" and not _NAME.match(text):
        raise QueryError(f"query parameter {name}: {value!r} is not a valid name",
                         hint="letters, digits, '_', '.', '-' only")
    return json.dumps(text)  # safe: the value has no quote, backslash or control character


def render_parameter(name: str, value: Any) -> str:
    """The KQL literal text of a validated parameter value (a list: comma-separated literals)."""
    spec = PARAMETERS.get(name)
    if spec is None:
        raise QueryError(f"unknown query parameter {name!r}", hint=f"parameters: {', '.join(PARAMETERS)}")
    if spec.many:
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise QueryError(f"query parameter {name}: expected a list of values, got {value!r}")
        values = list(value)
        if not values:
            raise QueryError(f"query parameter {name}: needs at least one value ({spec.description})")
        return ", ".join(_literal(f"{name}[{i}]", spec.kind, v) for i, v in enumerate(values))
    return _literal(name, spec.kind, value)


def build_query(name: str, params: Mapping[str, Any], directory: Path | None = None) -> str:
    """The exact text sent: two header lines, then the body with every placeholder replaced by its literal."""
    query = get_query(name, directory)
    return build_text(query, params)


def build_text(query: Query, params: Mapping[str, Any]) -> str:
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise QueryError(f"unknown query parameter {unknown[0]!r}", hint=f"parameters: {', '.join(PARAMETERS)}")
    for name in query.placeholders:
        if name not in PARAMETERS:
            raise QueryError(f"query {query.name} ({query.path}): unknown placeholder {{{name}}}",
                             hint=f"parameters: {', '.join(PARAMETERS)}")
        if name not in params:
            raise QueryError(f"query {query.name} ({query.path}): parameter {name!r} has no value",
                             hint=PARAMETERS[name].description)
    literals = {name: render_parameter(name, params[name]) for name in query.parameters}
    body = query.text if query.text.endswith("\n") else query.text + "\n"
    lines = []
    for line in body.splitlines(keepends=True):
        code = _code_part(line)
        lines.append(PLACEHOLDER.sub(lambda m: literals[m.group(1)], code) + line[len(code):])
    header = [f"// dataset: {query.dataset}", f"// query: {query.name} (sha256 {query.sha256[:12]})"]
    assert len(header) == HEADER_LINES
    return "\n".join(header) + "\n" + "".join(lines)


# ---------------------------------------------------------------------------- checking

def load_tables(directory: Path | None = None) -> dict[str, dict[str, dict[str, str]]]:
    """The declared table schemas: service -> table -> column -> Kusto type."""
    path = (Path(directory) if directory else queries_dir()) / TABLES_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QueryError(f"table schema file {path} not found") from None
    except yaml.YAMLError as exc:
        raise QueryError(f"table schema file {path}: invalid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise QueryError(f"table schema file {path}: expected a mapping of service -> tables")
    out: dict[str, dict[str, dict[str, str]]] = {}
    for service, tables in data.items():
        if service not in SERVICES:
            raise QueryError(f"table schema file {path}: unknown service {service!r}", hint=f"services: {', '.join(SERVICES)}")
        if not isinstance(tables, dict) or not tables:
            raise QueryError(f"table schema file {path}: {service} needs a mapping of tables")
        out[service] = {}
        for table, columns in tables.items():
            if not isinstance(columns, dict) or not columns:
                raise QueryError(f"table schema file {path}: {service}.{table} needs a mapping of column -> type")
            for col, kusto_type in columns.items():
                if kusto_type not in _KUSTO_TYPES:
                    raise QueryError(f"table schema file {path}: {service}.{table}.{col} has unknown type {kusto_type!r}",
                                     hint=f"types: {', '.join(sorted(_KUSTO_TYPES))}")
            out[service][str(table)] = {str(c): str(t) for c, t in columns.items()}
    return out


