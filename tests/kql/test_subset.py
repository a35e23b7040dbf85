"""`reportgen queries check` enforces the Azure Resource Graph subset of KQL on the Resource Graph queries.

The official Kusto parser accepts all of KQL; the subset (``reportgen/kql/resource_graph_subset.yaml``)
is applied on top of it to queries/resource_graph only. Every rejection is one line naming the
query file, the line and column in that file and the construct.

These tests run the parser (node + ``npm ci``) and fail, not skip, when it is missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from reportgen.errors import QueryError
from reportgen.kql import catalog, subset
from reportgen.kql.catalog import EXAMPLE_PARAMETERS, HEADER_LINES
from reportgen.kql.check import check_queries

QUERIES = Path(__file__).resolve().parent.parent.parent / "queries"
PAGE = '(query-language page, "Supported tabular/top level operators")'
PAGE_OPERATORS = ["count", "distinct", "extend", "join", "limit", "mvexpand", "mv-expand", "order", "parse", "project",
                  "project-away", "sort", "summarize", "take", "top", "union", "where"]


def insert(path: Path, anchor: str, *new_lines: str) -> int:
    """Insert lines before the line starting with ``anchor``; the file line number of the first one."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith(anchor))
    lines[at:at] = [line + "\n" for line in new_lines]
    path.write_text("".join(lines), encoding="utf-8")
    return at + 1


def replace_line(path: Path, old: str, new: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.rstrip("\n") == old)
    lines[at] = new + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    return at + 1


def col(line: str, construct: str) -> int:
    assert construct in line
    return line.index(construct) + 1


# Each case: (file, line, column, the construct's message). Built on one copy of queries/ so that
# the parser starts once.
@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    root = tmp_path_factory.mktemp("subset") / "queries"
    shutil.copytree(QUERIES, root)
    rg, la = root / "resource_graph", root / "log_analytics"
    expected: dict[str, tuple[Path, int, int, str]] = {}

    line = 'let wanted = "aks";'
    n = insert(rg / "clusters.kql", "resources", line)
    expected["let"] = (rg / "clusters.kql", n, 1, "'let' statement is not supported by Azure Resource Graph")
    line = '| parse-where name with "aks-" rest'
    n = insert(rg / "clusters.kql", "| project id,", line, '| parse name with "aks-" rest2')  # parse is listed (2024)
    expected["parse-where"] = (rg / "clusters.kql", n, 3,
                               f"operator 'parse-where' is not in the Azure Resource Graph subset {PAGE}")

    line = '| where name has_any ("a", "b")'
    n = insert(rg / "exemptions.kql", "| project id,", line)
    expected["has_any"] = (rg / "exemptions.kql", n, col(line, "has_any"),
                           "operator 'has_any' is not supported by Azure Resource Graph")

    lines = ["| mv-expand a = properties.x limit 400", "| mvexpand b = properties.y limit 400",
             "| mv-expand c = properties.z limit 400"]
    n = insert(rg / "governance_assignments.kql", "| project id,", *lines)
    expected["third mv-expand"] = (rg / "governance_assignments.kql", n + 2, 3,
                                   "3 mv-expand operators in one query (mv-expand and mvexpand); "
                                   "Azure Resource Graph allows at most 2")

    n = replace_line(rg / "findings.recommendations.kql", "| mv-expand cve = cves limit 400", "| mv-expand cve = cves")
    expected["mv-expand without limit"] = (rg / "findings.recommendations.kql", n, 3,
                                           "mv-expand without a limit clause: Azure Resource Graph then expands at most "
                                           "128 values per row")

    line = "| mv-expand w = properties.additionalData limit 500"
    n = insert(rg / "findings.subassessments.kql", "| project id,", line)
    expected["limit 500"] = (rg / "findings.subassessments.kql", n, col(line, "limit"),
                             "mv-expand limit 500 is above Azure Resource Graph's maximum of 400")

    line = "| extend fit = series_fit_line(dynamic([1, 2, 3]))"
    n = insert(rg / "policy_states.kql", "| project id,", line)
    expected["unknown function"] = (rg / "policy_states.kql", n, col(line, "series_fit_line"),
                                    "function 'series_fit_line' is not in the Azure Resource Graph subset")

    line = "| join kind=rightouter (resourcecontainers | project id) on id"
    n = insert(rg / "resource_containers.kql", "| project id,", line)
    expected["rightouter join"] = (rg / "resource_containers.kql", n, col(line, "kind="),
                                   "join kind 'rightouter' is not supported by Azure Resource Graph "
                                   "(allowed: innerunique, inner, leftouter, fullouter;")

    line = "| union (securityresources | take 1), (securityresources | take 1), (securityresources | take 1)"
    n = insert(rg / "assessments.kql", "| project id,", line)
    expected["4-leg union"] = (rg / "assessments.kql", n, 3,
                               "union has 4 legs; Azure Resource Graph allows at most 3")

    line = "| join kind=inner hint.strategy=broadcast (securityresources | project id) on id"
    n = insert(rg / "regulatory_compliance.kql", "| project id,", line)
    expected["join hint"] = (rg / "regulatory_compliance.kql", n, col(line, "hint.strategy"),
                             "join hint.strategy=broadcast is not supported by Azure Resource Graph: join hints")

    # A column after a placeholder is the column in the file, not in the longer text sent.
    old = "| where name in~ ({assessment_keys})"
    line = old + ' or name has_all ("x")'
    n = replace_line(rg / "assessments.kql", old, line)
    expected["has_all after a placeholder"] = (rg / "assessments.kql", n, col(line, "has_all"),
                                               "operator 'has_all' is not supported by Azure Resource Graph")

    # Log Analytics keeps full KQL: let and has_any are fine there.
    insert(la / "assessment_history.kql", "SecurityRecommendation", 'let wanted = dynamic(["x"]);')
    insert(la / "assessment_history.kql", "| project TimeGenerated,", '| where RecommendationName has_any ("a", "b")')

    return root, check_queries(root), expected


CASES = ["let", "parse-where", "has_any", "third mv-expand", "mv-expand without limit", "limit 500", "unknown function",
         "rightouter join", "4-leg union", "join hint", "has_all after a placeholder"]


@pytest.mark.parametrize("case", CASES)
def test_check_rejects_each_construct_outside_the_subset_naming_file_line_and_construct(broken, case):
    _, problems, expected = broken
    path, line, column, message = expected[case]
    prefix = f"{path}: line {line}, column {column}: "
    assert any(p.startswith(prefix) and message in p for p in problems), f"{prefix}{message}\n" + "\n".join(problems)


def test_each_rejection_cites_its_source(broken):
    _, problems, _ = broken
    text = "\n".join(problems)
    assert "MicrosoftDocs/azure-docs#104044" in next(p for p in problems if "'let' statement" in p)
    assert "MicrosoftDocs/azure-docs#104674" in next(p for p in problems if "'has_any'" in p)
    assert '"Custom join strategies, such as broadcast join, aren\'t allowed."' in text
    assert '"Limit of three `union` legs in a single query"' in text
    assert "resource_graph_subset.yaml 'functions'" in text


def test_allowed_constructs_and_log_analytics_queries_are_not_rejected(broken):
    root, problems, _ = broken
    assert not [p for p in problems if "assessment_history.kql" in p], problems
    assert not [p for p in problems if "operator 'parse'" in p or "operator 'mvexpand'" in p]
    # inner is an allowed join kind; the hint is the only problem of that line
    assert not [p for p in problems if "regulatory_compliance.kql" in p and "join kind" in p]
    # nothing but the cases above: the edits were all accepted by the parser itself
    assert not [p for p in problems if ": error: " in p], problems
    assert len(problems) == len(CASES), "\n".join(problems)


def test_cli_queries_check_exits_2_with_the_rejections(broken, monkeypatch):
    from click.testing import CliRunner

    from reportgen.cli import cli
    root, problems, expected = broken
    monkeypatch.setattr(catalog, "queries_dir", lambda: root)
    result = CliRunner().invoke(cli, ["queries", "check"])
    assert result.exit_code == 2
    path, line, column, message = expected["let"]
    assert f"{path}: line {line}, column {column}: {message}" in result.output
    assert all(p in result.output for p in problems)


def test_the_real_resource_graph_queries_stay_inside_the_subset():
    assert check_queries() == []


# ---------------------------------------------------------------------------- the data file

def test_the_data_file_lists_every_operator_of_the_page_and_its_limits():
    data = yaml.safe_load(subset.SUBSET_FILE.read_text(encoding="utf-8"))
    assert [o["name"] for o in data["operators"]] == PAGE_OPERATORS
    assert all("note" in o for o in data["operators"])
    assert "Limit of 2 `mv-expand` in a single query" in next(o["note"] for o in data["operators"] if o["name"] == "mv-expand")
    rules = subset.load_subset()
    assert list(rules.operators) == PAGE_OPERATORS
    assert rules.join_kinds == ("innerunique", "inner", "leftouter", "fullouter") and rules.join_default == "innerunique"
    limits = {limit.label: (limit.max, limit.operators) for limit in rules.count_limits}
    assert limits == {"join": (3, ("join",)), "mv-expand": (2, ("mv-expand", "mvexpand"))}
    assert rules.union_legs.max == 3
    assert (rules.row_limit.max, rules.row_limit.default, rules.row_limit.required) == (400, 128, True)
    for entry in (rules.join_source, rules.union_legs.source, rules.row_limit.source, *(x.source for x in rules.count_limits)):
        assert entry.startswith("query-language page")
    not_supported = {(e.construct, e.name): e.source for e in rules.not_supported}
    assert "#104044" in not_supported[("statement", "let")]
    assert "#104674" in not_supported[("scalar_operator", "has_any")]
    assert "0 of 2,298" in not_supported[("scalar_operator", "has_all")]


def test_every_function_has_a_kind_and_a_source_and_every_function_of_our_queries_is_listed():
    from reportgen.kql import parser
    rules = subset.load_subset()
    assert len(rules.functions) > 80
    for f in rules.functions.values():
        assert f.kind in ("scalar", "aggregation", "window") and f.source, f
    # the functions our Resource Graph queries use, as the parser finds them
    queries = [q for q in catalog.load_queries() if q.service == "resource_graph"]
    results = parser.run_parser([(q.name, q.service, catalog.build_text(q, EXAMPLE_PARAMETERS)) for q in queries],
                                catalog.load_tables())
    used = {c["name"] for r in results for c in r["constructs"] if c["kind"] == "function"}
    assert {"tostring", "tolower", "extract", "coalesce", "todatetime", "todouble", "tobool", "tolong", "iff", "pack",
            "pack_array", "parse_json", "split", "substring", "strlen", "replace_string", "array_length", "isempty",
            "isnotnull"} <= used
    assert used <= set(rules.functions)
    # all of them are seen in Microsoft's own ARG queries (none is only reportgen's)
    assert not [n for n in used if rules.functions[n].source.startswith("reportgen")]


@pytest.mark.parametrize("change, key", [
    (lambda d: d.pop("operators"), "operators: missing"),
    (lambda d: d["functions"][0].pop("source"), "functions[0].source: missing"),
    (lambda d: d["functions"][1].update(kind="tabular"), "functions[1].kind"),
    (lambda d: d["limits"]["join"].update(max="three"), "limits.join.max"),
    (lambda d: d["limits"]["mv-expand"].update(operators=["mv-apply"]), "limits.mv-expand.operators"),
    (lambda d: d["join_kinds"].update(default="leftsemi"), "join_kinds.default"),
    (lambda d: d["not_supported"][0].update(construct="keyword"), "not_supported[0].construct"),
    (lambda d: d["operators"].append({"name": "where", "note": ""}), "operators[17]: 'where' is listed twice"),
])
def test_a_bad_data_file_is_an_error_naming_the_file_and_the_key(tmp_path, monkeypatch, change, key):
    data = yaml.safe_load(subset.SUBSET_FILE.read_text(encoding="utf-8"))
    change(data)
    bad = tmp_path / "resource_graph_subset.yaml"
    bad.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(QueryError) as exc:
        subset.load_subset(bad)
    assert str(bad) in exc.value.message and key in exc.value.message, exc.value.message
    # `queries check` reports it as its one problem instead of checking with broken rules
    monkeypatch.setattr(subset, "SUBSET_FILE", bad)
    problems = check_queries()
    assert len(problems) == 1 and str(bad) in problems[0] and key in problems[0]


def test_problems_judges_the_constructs_the_parser_reports():
    # a unit check without node: positions in the text sent, header lines taken off
    result = {"constructs": [
        {"kind": "statement", "name": "ExpressionStatement", "keyword": "resources", "line": 3, "column": 1},
        {"kind": "statement", "name": "SetOptionStatement", "keyword": "set", "line": 3, "column": 1},
        {"kind": "operator", "name": "filter", "line": 4, "column": 3, "class": "FilterOperator", "parameters": []},
        {"kind": "operator", "name": "union", "line": 5, "column": 3, "class": "UnionOperator", "legs": 2,
         "parameters": [{"name": "isfuzzy", "value": "true", "line": 5, "column": 9}]},
        {"kind": "operator", "name": "mvexpand", "line": 6, "column": 3, "class": "MvExpandOperator", "parameters": [],
         "row_limit": None, "row_limit_text": "toint(3)", "row_limit_line": 6, "row_limit_column": 17},
        {"kind": "function", "name": "toscalar", "line": 7, "column": 9, "class": "ToScalarExpression", "symbol": "scalar"},
    ]}
    problems = subset.problems(result, HEADER_LINES)
    assert problems[0].startswith("line 1, column 1: statement 'set' (SetOptionStatement) is not in the Azure "
                                  "Resource Graph subset")
    assert problems[1] == f"line 2, column 3: operator 'filter' is not in the Azure Resource Graph subset {PAGE}"
    assert problems[2].startswith("line 3, column 9: union isfuzzy=true is not supported by Azure Resource Graph")
    assert problems[3].startswith("line 4, column 17: mvexpand limit 'toint(3)' is not an integer literal")
    assert problems[4].startswith("line 5, column 9: function 'toscalar' is not in the Azure Resource Graph subset")
    assert len(problems) == 5
    with pytest.raises(QueryError, match="check.js is out of date"):
        subset.problems({"name": "x", "diagnostics": []}, HEADER_LINES)
