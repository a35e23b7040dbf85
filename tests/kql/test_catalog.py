"""The query catalogue: files, parameters (validated, quoted, written inline) and the official Kusto parser.

Parameters are written in a query file as ``{placeholder}`` and replaced by quoted literals in
place: the text sent never holds a ``let`` statement (Azure Resource Graph does not take one).

The parser tests need ``node`` and ``npm ci`` (``make test`` installs the package). They
fail, not skip, when it is missing: a skipped check would hide a broken query.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from reportgen.errors import QueryError, UsageError
from reportgen.kql import catalog, parser, subset
from reportgen.kql.catalog import (EXAMPLE_PARAMETERS, HEADER_LINES, build_query, build_text, get_query, load_queries,
                                   strip_comments)
from reportgen.kql.check import check_queries
from reportgen.snapshot import DATASETS, OPTIONAL_COLUMNS

QUERIES = Path(__file__).resolve().parent.parent.parent / "queries"


@pytest.fixture
def query_copy(tmp_path) -> Path:
    target = tmp_path / "queries"
    shutil.copytree(QUERIES, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def all_texts(params=EXAMPLE_PARAMETERS) -> list[tuple[catalog.Query, str]]:
    return [(q, build_text(q, params)) for q in load_queries()]


# ---------------------------------------------------------------------------- files

def test_every_dataset_has_its_query_files_readable_by_a_person():
    queries = load_queries()
    assert {q.dataset for q in queries} == set(DATASETS)
    assert {q.name for q in queries if q.dataset == "findings"} == {"findings.subassessments", "findings.recommendations"}
    for q in queries:
        assert q.path.parent.name == q.service
        first = q.text.splitlines()[0]
        assert first.startswith("// ") and len(first) > 20, f"{q.path}: start with a comment saying what and why"
        assert q.service == ("log_analytics" if q.dataset in ("assessment_history", "finding_history") else "resource_graph")


def test_get_query_unknown_name_lists_the_names():
    with pytest.raises(UsageError) as exc:
        get_query("nope")
    assert "clusters" in exc.value.one_line() and "findings.subassessments" in exc.value.one_line()


# ---------------------------------------------------------------------------- parameters

def test_sent_text_is_two_header_lines_then_the_body_with_quoted_literals_in_place_of_the_placeholders():
    q = get_query("policy_states")
    text = build_query("policy_states", EXAMPLE_PARAMETERS)
    lines = text.splitlines()
    assert HEADER_LINES == 2
    assert lines[0] == "// dataset: policy_states"
    assert lines[1] == f"// query: policy_states (sha256 {q.sha256[:12]})"
    body = q.text.splitlines()
    assert len(lines) == HEADER_LINES + len(body)  # line numbers of the file are kept
    changed = [(f, s) for f, s in zip(body, lines[HEADER_LINES:]) if f != s]
    assert changed == [("| where tostring(properties.policyDefinitionId) in~ ({policy_definition_ids})",
                        '| where tostring(properties.policyDefinitionId) in~ '
                        '("/providers/Microsoft.Authorization/policyDefinitions/17f4b1cc-c55c-4d94-b1f9-2978f6ac2957")')]


def test_no_let_and_no_placeholder_anywhere_in_any_sent_text():
    for q, text in all_texts():
        code = strip_comments(text)
        assert not re.search(r"\blet\b", code), q.name
        assert not catalog.PLACEHOLDER.search(code), q.name
        assert text.count("\n// dataset: ") == 0 and text.startswith(f"// dataset: {q.dataset}\n"), q.name


def test_lists_become_comma_separated_literals_and_dates_datetime_literals():
    text = build_query("regulatory_compliance", EXAMPLE_PARAMETERS)
    assert '| where standard in~ ("Microsoft-cloud-security-benchmark") and control in~ ("DS.6", "PV.6")' in text
    history = build_query("assessment_history", EXAMPLE_PARAMETERS)
    assert "| where TimeGenerated >= datetime(2026-07-01) and TimeGenerated < datetime(2026-08-01)" in history
    assert '| where assessmentKey in~ ("c609cf0f-71ab-41e9-a3c6-9a1f7fe1b8d5") or RecommendationName in~ ' \
           '("c609cf0f-71ab-41e9-a3c6-9a1f7fe1b8d5")' in history
    # a query without placeholders is sent as written
    clusters = get_query("clusters")
    assert build_query("clusters", EXAMPLE_PARAMETERS).split("\n", HEADER_LINES)[HEADER_LINES] == clusters.text


@pytest.mark.parametrize("name, value, expected", [
    ("assessment_keys", ['c609cf0f-71ab-41e9-a3c6-9a1f7fe1b8d5"); resources | take 1 //'], "double quote"),
    ("assessment_keys", ["c609cf0f-71ab-41e9-a3c6-9a1f7fe1b8d5\n| take 1"], "newline"),
    ("compliance_controls", ["DS.6' or 1==1"], "single quote"),
    ("compliance_controls", ["DS.6\\"], "backslash"),
    ("compliance_controls", ["DS.6\n| take 1"], "newline"),
    ("assessment_keys", ["not-a-guid"], "not a GUID"),
    ("policy_definition_ids", ["17f4b1cc-c55c-4d94-b1f9-2978f6ac2957"], "not an Azure resource id"),
    ("compliance_controls", ["DS 6"], "not a valid name"),
    ("assessment_keys", [], "at least one value"),
    ("assessment_keys", "c609cf0f-71ab-41e9-a3c6-9a1f7fe1b8d5", "expected a list"),
    ("period_start", "2026-13-01", "not a date"),
    ("period_start", "2026-07-01\n", "newline"),
])
def test_bad_parameter_values_are_rejected_with_a_clear_error(name, value, expected):
    params = dict(EXAMPLE_PARAMETERS, **{name: value})
    query = {"assessment_keys": "assessments", "compliance_controls": "regulatory_compliance",
             "policy_definition_ids": "policy_states", "period_start": "assessment_history"}[name]
    with pytest.raises(QueryError) as exc:
        build_query(query, params)
    assert expected in exc.value.one_line() and name in exc.value.one_line()


@pytest.mark.parametrize("value, expected", [('a"b', "double quote"), ("a'b", "single quote"), ("a\\b", "backslash"),
                                             ("a\nb", "newline"), ("a`b", "backtick")])
def test_every_parameter_kind_refuses_quotes_newlines_and_backslashes(value, expected):
    for name in catalog.PARAMETERS:
        spec = catalog.PARAMETERS[name]
        with pytest.raises(QueryError, match=expected):
            catalog.render_parameter(name, [value] if spec.many else value)


def test_unknown_and_missing_parameters_are_errors_naming_them():
    with pytest.raises(QueryError, match="unknown query parameter 'tenant'"):
        build_query("clusters", {"tenant": "x"})
    params = {k: v for k, v in EXAMPLE_PARAMETERS.items() if k != "assessment_keys"}
    with pytest.raises(QueryError) as exc:
        build_query("assessments", params)
    assert "assessment_keys" in exc.value.message and "assessments.kql" in exc.value.message


def test_an_unknown_placeholder_in_a_file_is_an_error_naming_the_file(query_copy):
    path = query_copy / "resource_graph" / "clusters.kql"
    edit(path, "| project id,", "| where name == {nope}\n| project id,")
    with pytest.raises(QueryError) as exc:
        build_query("clusters", EXAMPLE_PARAMETERS, query_copy)
    assert "{nope}" in exc.value.message and str(path) in exc.value.message
    problems = check_queries(query_copy)
    assert any(p.startswith(f"{path}: ") and "unknown placeholder {nope}" in p for p in problems), problems


def test_a_placeholder_in_a_comment_is_left_alone(query_copy):
    path = query_copy / "resource_graph" / "clusters.kql"
    edit(path, "resources\n", "// {nope} and {assessment_keys} stay as written here\nresources\n")
    text = build_query("clusters", EXAMPLE_PARAMETERS, query_copy)
    assert "// {nope} and {assessment_keys} stay as written here\n" in text


def test_accepted_shapes():
    params = dict(EXAMPLE_PARAMETERS,
                  policy_definition_ids=["/subscriptions/00000000-0000-0000-0000-000000000001/providers/"
                                         "Microsoft.Authorization/policyDefinitions/my-custom_policy.v2"],
                  period_start=date(2026, 2, 1), period_end="2026-03-01")
    text = build_query("policy_states", params)
    assert '"/subscriptions/00000000-0000-0000-0000-000000000001/providers/Microsoft.Authorization/' \
           'policyDefinitions/my-custom_policy.v2"' in text
    assert "datetime(2026-03-01)" in build_query("finding_history", params)


# ---------------------------------------------------------------------------- the Kusto parser

def test_every_query_passes_the_official_kusto_parser_and_returns_its_contract_columns():
    assert check_queries() == []
    # the same parse (answered from the cache), looked at directly: columns in contract order, id first
    queries = load_queries()
    results = parser.run_parser([(q.name, q.service, build_text(q, EXAMPLE_PARAMETERS)) for q in queries],
                                catalog.load_tables())
    for q, result in zip(queries, results):
        assert result["name"] == q.name
        assert result["diagnostics"] == [], q.name
        got = [c for c, _ in result["columns"]]
        want = list(DATASETS[q.dataset])
        assert got[:len(want)] == want and set(got[len(want):]) <= set(OPTIONAL_COLUMNS.get(q.dataset, {})), q.name
        statements = [c for c in result["constructs"] if c["kind"] == "statement"]
        assert [c["name"] for c in statements] == ["ExpressionStatement"], q.name  # no let, one query
        assert statements[0]["line"] == HEADER_LINES + 1 + next(
            i for i, line in enumerate(q.text.splitlines()) if line.strip() and not line.startswith("//")), q.name
        if q.service == "resource_graph":
            assert result["columns"][0][0] == "id"
            assert subset.problems(result, HEADER_LINES) == [], q.name


def test_check_names_the_file_line_and_problem(query_copy, monkeypatch):
    rg = query_copy / "resource_graph"
    edit(rg / "clusters.kql", "project id, name,", "project id, nmae,")
    edit(rg / "regulatory_compliance.kql", "tolong(properties.passedResources)", "tostring(properties.passedResources)")
    edit(rg / "exemptions.kql", "    expiresOn = todatetime(properties.expiresOn),\n", "    expiry = todatetime(properties.expiresOn),\n")
    (rg / "exemptions.kql").rename(rg / "waivers.kql")
    shutil.copy(rg / "waivers.kql", rg / "exemptions.kql")
    (rg / "policy_states.kql").rename(rg / "compliance.kql")
    problems = check_queries(query_copy)
    text = "\n".join(problems)
    line = next(i for i, t in enumerate((rg / "clusters.kql").read_text().splitlines(), 1) if "nmae" in t)
    assert re.search(rf"clusters\.kql: line {line}, column 15: error: .*'nmae'", text), text
    assert "regulatory_compliance.kql: column 'passedResources' is string, dataset regulatory_compliance needs int or long" in text
    assert "exemptions.kql: result columns do not match dataset exemptions (missing expiresOn; unexpected expiry)" in text
    assert "waivers.kql: no dataset named 'waivers'" in text and "compliance.kql: no dataset named 'compliance'" in text
    assert "no query for dataset 'policy_states'" in text
    assert all(str(query_copy) in p for p in problems)
    # `reportgen queries check` reports the same lines and exits 2 (same texts: answered from the cache)
    from click.testing import CliRunner

    from reportgen.cli import cli
    monkeypatch.setattr(catalog, "queries_dir", lambda: query_copy)
    result = CliRunner().invoke(cli, ["queries", "check"])
    assert result.exit_code == 2 and f"clusters.kql: line {line}, column 15" in result.output


def test_check_says_how_to_install_the_parser_when_it_is_missing(monkeypatch):
    monkeypatch.setattr(parser, "KUSTO_PACKAGE", "@kusto/not-installed")
    with pytest.raises(UsageError) as exc:
        check_queries()
    assert "npm ci" in exc.value.one_line()
    with pytest.raises(UsageError) as exc:
        parser.find_kusto_module()
    assert "@kusto/not-installed" in exc.value.message and "npm ci" in exc.value.one_line()
    monkeypatch.setattr(parser.shutil, "which", lambda name: None)
    with pytest.raises(UsageError, match="node is not installed"):
        check_queries()


def test_the_kusto_package_is_installed_where_the_check_looks():
    module = parser.find_kusto_module()
    assert module.name == parser.KUSTO_PACKAGE.split("/")[1]
    assert (module / "Kusto.Language.Bridge.js").is_file()


def test_cli_queries_list_show_check():
    from click.testing import CliRunner

    from reportgen.cli import cli
    runner = CliRunner()
    listed = runner.invoke(cli, ["queries", "list"])
    assert listed.exit_code == 0 and "findings.recommendations" in listed.output and "log_analytics" in listed.output
    shown = runner.invoke(cli, ["queries", "show", "clusters"])
    assert shown.exit_code == 0 and shown.output == get_query("clusters").text
    unknown = subprocess.run([sys.executable, "-m", "reportgen", "queries", "show", "nope"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "unknown query 'nope'" in unknown.stderr


def test_cli_queries_check_passes():
    from click.testing import CliRunner

    from reportgen.cli import cli
    result = CliRunner().invoke(cli, ["queries", "check"])
    assert result.exit_code == 0 and result.output.startswith("OK"), result.output
