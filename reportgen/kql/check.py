"""``reportgen queries check``: every query file through the official Kusto parser and our rules.

For each query the text that would be sent (example parameters filled in) is parsed with
the official Kusto parser against the declared table schemas (``queries/tables.yaml``).
A query passes when the parser reports nothing, its result columns are its dataset's
contract columns with matching types, and, for Resource Graph, it stays inside the
Resource Graph subset of KQL (``subset.py``). Every problem is one line naming the file and,
where there is one, the line and the construct.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from reportgen.errors import QueryError
from reportgen.kql import catalog, parser, subset
from reportgen.kql.catalog import EXAMPLE_PARAMETERS, HEADER_LINES, TABLES_FILE, Query, build_text
from reportgen.snapshot import DATASETS, OPTIONAL_COLUMNS

# Which Kusto result types satisfy each snapshot column kind.
KIND_TYPES = {
    "str": {"string"}, "json": {"dynamic"}, "ts": {"datetime"}, "float": {"real", "decimal"},
    "int": {"int", "long"}, "nint": {"int", "long"}, "bool": {"bool"},
}


def check_queries(directory: Path | None = None) -> list[str]:
    """Problems with the query files, one line each naming the file; empty when all is well."""
    root = Path(directory) if directory else catalog.queries_dir()
    problems: list[str] = []
    try:
        queries = catalog.load_queries(root)
        tables = catalog.load_tables(root)
        rules = subset.load_subset()
    except QueryError as exc:
        return [exc.one_line()]
    texts: list[tuple[str, str, str]] = []
    sent: dict[str, str] = {}
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
        sent[query.name] = text
    for dataset in DATASETS:
        if dataset not in seen_datasets:
            problems.append(f"{root}: no query for dataset {dataset!r}")
    if not texts:
        return problems
    for result in parser.run_parser(texts, tables):
        query = by_name[result["name"]]
        position = file_position(query.text, sent[query.name])
        for diag in result["diagnostics"]:
            problems.append(f"{query.path}: {subset.location(*position(diag['line'], diag['column']))}: "
                            f"{diag['severity'].lower()}: {diag['message']}")
        if query.service == "resource_graph":
            problems.extend(f"{query.path}: {p}"
                            for p in subset.problems(result, HEADER_LINES, position=position, subset=rules))
        if result["diagnostics"]:
            continue
        problems.extend(compare_columns(query, result["columns"]))
    return problems


def file_position(body: str, text: str) -> Callable[[int, int], tuple[int, int]]:
    """Map a (line, column) of the text sent to the query file's (line 0 or less: the header).

    The text sent is the file's body after ``HEADER_LINES`` header lines, with each
    placeholder replaced by its literal on the same line, so lines keep their numbers and
    only columns after a placeholder move: a column in the unchanged start or end of the line
    maps back exactly, one inside a literal maps to the start of its placeholder.
    """
    file_lines = body.split("\n")  # as check.js counts lines
    sent_lines = text.split("\n")

    def position(line: int, column: int) -> tuple[int, int]:
        n = line - HEADER_LINES
        if n < 1 or n > len(file_lines) or line > len(sent_lines):
            return n, column
        return n, _file_column(file_lines[n - 1], sent_lines[line - 1], column)
    return position


def _file_column(file_line: str, sent_line: str, column: int) -> int:
    if file_line == sent_line:
        return column
    shortest = min(len(file_line), len(sent_line))
    prefix = 0
    while prefix < shortest and file_line[prefix] == sent_line[prefix]:
        prefix += 1
    suffix = 0
    while suffix < shortest - prefix and file_line[-1 - suffix] == sent_line[-1 - suffix]:
        suffix += 1
    offset = column - 1
    if offset < prefix:
        return column
    if len(sent_line) - offset <= suffix:
        return len(file_line) - (len(sent_line) - offset) + 1
    return prefix + 1


def compare_columns(query: Query, columns: list[list[str]]) -> list[str]:
    """The result columns must be the dataset's contract columns, in order, then any of its optional columns."""
    contract = DATASETS[query.dataset]
    optional = OPTIONAL_COLUMNS.get(query.dataset, {})
    got = [c for c, _ in columns]
    want = list(contract)
    out = []
    extra = [c for c in got[len(want):]]
    if got[:len(want)] != want or any(c not in optional for c in extra):
        missing = [c for c in want if c not in got]
        unexpected = [c for c in got if c not in want and c not in optional]
        detail = []
        if missing:
            detail.append("missing " + ", ".join(missing))
        if unexpected:
            detail.append("unexpected " + ", ".join(unexpected))
        if not detail:
            detail.append("order differs")
        out.append(f"{query.path}: result columns do not match dataset {query.dataset} ({'; '.join(detail)}); "
                   f"expected: {', '.join(want)}"
                   + (f" (then any of: {', '.join(optional)})" if optional else ""))
        return out
    kinds = {**contract, **optional}
    for (col, kusto_type) in columns:
        kind = kinds[col]
        if kusto_type not in KIND_TYPES[kind]:
            out.append(f"{query.path}: column {col!r} is {kusto_type}, dataset {query.dataset} needs "
                       f"{' or '.join(sorted(KIND_TYPES[kind]))}")
    if query.service == "resource_graph" and "id" not in got:
        out.append(f"{query.path}: Resource Graph queries must project id (paging needs it)")
    return out
