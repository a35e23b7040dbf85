"""The query catalog: loads ``queries/**/*.kql``, builds the exact text sent, checks it.

A query's name is its file name without ``.kql``; its service is its folder
(``resource_graph`` or ``log_analytics``). The part of the name before the first dot is
the dataset it fills: ``findings.subassessments`` and ``findings.recommendations`` both
fill ``findings``. Parameters (assessment keys, policy definition ids, group names, period
bounds) are validated by shape and enter the query only as quoted KQL literals in a
generated ``let`` prelude, never pasted into the body. ``check_queries`` runs the official
Kusto parser (``@kusto/language-service-next``, via node) over the full text that would be
sent, against the table schemas declared in ``queries/tables.yaml``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from reportgen.assets import asset_dir
from reportgen.errors import QueryError, UsageError
from reportgen.kusto import CHECK_SCRIPT
from reportgen.snapshot import DATASETS, sha256_text

SERVICES = ("resource_graph", "log_analytics")
TABLES_FILE = "tables.yaml"
KUSTO_PACKAGE = "@kusto/language-service-next"

# Which Kusto result types satisfy each snapshot column kind.
_KIND_TYPES = {
    "str": {"string"}, "json": {"dynamic"}, "ts": {"datetime"}, "float": {"real", "decimal"},
    "int": {"int", "long"}, "bool": {"bool"},
}
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
    def parameters(self) -> tuple[str, ...]:
        """The declared parameters this query's body refers to, in declaration order."""
        words = set(re.findall(r"\b[a-z_]+\b", _strip_comments(self.text)))
        return tuple(p for p in PARAMETERS if p in words)


@dataclass(frozen=True)
class ParamSpec:
    kind: str  # guid | arm_id | name | date
    many: bool
    description: str


PARAMETERS: dict[str, ParamSpec] = {
    "assessment_keys": ParamSpec("guid", True, "Defender assessment keys behind the policy"),
    "individual_assessment_keys": ParamSpec("guid", True, "assessment keys of the individual recommendations"),
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
    "individual_assessment_keys": ["e9acaf48-d2cf-45a3-a6e7-3caa2ef769e0"],
    "policy_definition_ids": ["/providers/Microsoft.Authorization/policyDefinitions/17f4b1cc-c55c-4d94-b1f9-2978f6ac2957"],
    "policy_groups": ["Azure_Security_Benchmark_v3.0_DS-6", "Azure_Security_Benchmark_v3.0_PV-6"],
    "compliance_standards": ["Microsoft-cloud-security-benchmark"],
    "compliance_controls": ["DS.6", "PV.6"],
    "period_start": date(2026, 7, 1),
    "period_end": date(2026, 8, 1),
}


def _strip_comments(text: str) -> str:
    return "\n".join(line.split("//", 1)[0] if not line.lstrip().startswith("//") else "" for line in text.splitlines())


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


def queries_for(dataset: str, directory: Path | None = None) -> list[Query]:
    """The queries that fill ``dataset`` (findings has two: legacy and individual recommendations)."""
    return [q for q in load_queries(directory) if q.dataset == dataset]


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
    """One ``let`` statement for a validated parameter value."""
    spec = PARAMETERS.get(name)
    if spec is None:
        raise QueryError(f"unknown query parameter {name!r}", hint=f"parameters: {', '.join(PARAMETERS)}")
    if spec.many:
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise QueryError(f"query parameter {name}: expected a list of values, got {value!r}")
        values = list(value)
        if not values:
            raise QueryError(f"query parameter {name}: needs at least one value ({spec.description})")
        items = [_literal(f"{name}[{i}]", spec.kind, v) for i, v in enumerate(values)]
        return f"let {name} = dynamic([{', '.join(items)}]);"
    return f"let {name} = {_literal(name, spec.kind, value)};"


def build_query(name: str, params: Mapping[str, Any], directory: Path | None = None) -> str:
    """The exact text sent: header lines, the ``let`` prelude of the parameters the body uses, the body."""
    query = get_query(name, directory)
    return build_text(query, params)


def build_text(query: Query, params: Mapping[str, Any]) -> str:
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise QueryError(f"unknown query parameter {unknown[0]!r}", hint=f"parameters: {', '.join(PARAMETERS)}")
    lines = [f"// dataset: {query.dataset}", f"// query: {query.name} (sha256 {query.sha256[:12]})"]
    for pname in query.parameters:
        if pname not in params:
            raise QueryError(f"query {query.name} ({query.path}): parameter {pname!r} has no value",
                             hint=PARAMETERS[pname].description)
        lines.append(render_parameter(pname, params[pname]))
    body = query.text if query.text.endswith("\n") else query.text + "\n"
    return "\n".join(lines) + "\n" + body


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


def _find_kusto_module() -> Path:
    candidates = []
    if os.environ.get("REPORTGEN_NODE_MODULES"):
        candidates.append(Path(os.environ["REPORTGEN_NODE_MODULES"]))
    package_root = Path(__file__).resolve().parent.parent
    candidates += [package_root / "node_modules", Path.cwd() / "node_modules"]
    for base in candidates:
        module = base / KUSTO_PACKAGE
        if (module / "Kusto.Language.Bridge.js").is_file() and (module / "bridge.js").is_file():
            return module
    raise UsageError(
        f"the Kusto parser ({KUSTO_PACKAGE}) is not installed (looked in "
        + ", ".join(str(c) for c in candidates) + ")",
        hint="run `npm ci` in the reportgen checkout (needs node >= 18), or set REPORTGEN_NODE_MODULES")


_PARSER_CACHE: dict[str, str] = {}


def run_parser(texts: list[tuple[str, str, str]], tables: Mapping[str, Mapping[str, Mapping[str, str]]]) -> list[dict]:
    """Parse (name, service, text) triples with the official Kusto parser in one node process."""
    node = shutil.which("node")
    if node is None:
        raise UsageError("node is not installed; the query check runs the official Kusto parser under node",
                         hint="install Node.js >= 18, then run `npm ci` in the reportgen checkout")
    module = _find_kusto_module()
    payload = {
        "module_dir": str(module),
        "services": {s: {"tables": dict(t), "subset": "arg" if s == "resource_graph" else None} for s, t in tables.items()},
        "queries": [{"name": n, "service": s, "text": t} for n, s, t in texts],
    }
    encoded = json.dumps(payload, sort_keys=True)
    key = sha256_text(encoded)
    if key in _PARSER_CACHE:  # the parser is slow to start; the same texts give the same answer
        return json.loads(_PARSER_CACHE[key])
    try:
        proc = subprocess.run([node, str(CHECK_SCRIPT)], input=encoded, capture_output=True,
                              text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"could not run the Kusto parser under node: {exc}") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise UsageError(f"the Kusto parser failed: {' | '.join(tail)}",
                         hint="run `npm ci` in the reportgen checkout to reinstall it")
    _PARSER_CACHE[key] = proc.stdout
    return json.loads(proc.stdout)


def check_queries(directory: Path | None = None) -> list[str]:
    """Problems with the query files, one line each naming the file; empty when all is well."""
    root = Path(directory) if directory else queries_dir()
    problems: list[str] = []
    try:
        queries = load_queries(root)
        tables = load_tables(root)
    except QueryError as exc:
        return [exc.one_line()]
    texts: list[tuple[str, str, str]] = []
    by_name: dict[str, Query] = {}
    seen_datasets = set()
    for query in queries:
        if query.dataset not in DATASETS:
            problems.append(f"{query.path}: no dataset named {query.dataset!r} (file names start with one of "
                            f"{', '.join(DATASETS)})")
            continue
        if query.service not in tables:
            problems.append(f"{query.path}: no table schemas declared for {query.service} in {root / TABLES_FILE}")
            continue
        seen_datasets.add(query.dataset)
        try:
            text = build_text(query, EXAMPLE_PARAMETERS)
        except QueryError as exc:
            problems.append(f"{query.path}: {exc.one_line()}")
            continue
        texts.append((query.name, query.service, text))
        by_name[query.name] = query
    for dataset in DATASETS:
        if dataset not in seen_datasets:
            problems.append(f"{root}: no query for dataset {dataset!r}")
    if not texts:
        return problems
    for result in run_parser(texts, tables):
        query = by_name[result["name"]]
        prelude_lines = build_text(query, EXAMPLE_PARAMETERS).count("\n") - query.text.rstrip("\n").count("\n") - 1
        for diag in result["diagnostics"]:
            line = diag["line"] - prelude_lines
            where = f"line {line}" if line >= 1 else "parameter prelude"
            problems.append(f"{query.path}: {where}, column {diag['column']}: {diag['severity'].lower()}: {diag['message']}")
        for issue in result["subset"]:
            problems.append(f"{query.path}: {issue}")
        if result["diagnostics"]:
            continue
        problems.extend(_compare_columns(query, result["columns"]))
    return problems


def _compare_columns(query: Query, columns: list[list[str]]) -> list[str]:
    contract = DATASETS[query.dataset]
    got = [c for c, _ in columns]
    want = list(contract)
    out = []
    if got != want:
        missing = [c for c in want if c not in got]
        extra = [c for c in got if c not in want]
        detail = []
        if missing:
            detail.append("missing " + ", ".join(missing))
        if extra:
            detail.append("unexpected " + ", ".join(extra))
        if not detail:
            detail.append("order differs")
        out.append(f"{query.path}: result columns do not match dataset {query.dataset} ({'; '.join(detail)}); "
                   f"expected: {', '.join(want)}")
        return out
    for (col, kusto_type) in columns:
        kind = contract[col]
        if kusto_type not in _KIND_TYPES[kind]:
            out.append(f"{query.path}: column {col!r} is {kusto_type}, dataset {query.dataset} needs "
                       f"{' or '.join(sorted(_KIND_TYPES[kind]))}")
    if query.service == "resource_graph" and "id" not in got:
        out.append(f"{query.path}: Resource Graph queries must project id (paging needs it)")
    return out
