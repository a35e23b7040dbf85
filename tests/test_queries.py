"""The query catalog: files, parameters (validated, quoted, never pasted) and the official Kusto parser.

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

from reportgen import catalog
from reportgen.catalog import EXAMPLE_PARAMETERS, build_query, build_text, check_queries, get_query, load_queries
from reportgen.errors import QueryError, UsageError
from reportgen.snapshot import DATASETS

QUERIES = Path(__file__).resolve().parent.parent / "queries"


@pytest.fixture
def query_copy(tmp_path) -> Path:
    target = tmp_path / "queries"
    shutil.copytree(QUERIES, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


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

def test_sent_text_has_dataset_line_and_a_quoted_let_prelude_then_the_body_unchanged():
    q = get_query("policy_states")
    text = build_query("policy_states", EXAMPLE_PARAMETERS)
    assert text.splitlines()[0] == "// dataset: policy_states"
    assert "\n// dataset: policy_states\n" in "\n" + text
    assert text.endswith(q.text)
    prelude = text[: -len(q.text)]
    assert ('let policy_definition_ids = dynamic(["/providers/Microsoft.Authorization/policyDefinitions/'
            '17f4b1cc-c55c-4d94-b1f9-2978f6ac2957"]);') in prelude
    assert 'let policy_groups = dynamic(["Azure_Security_Benchmark_v3.0_DS-6", "Azure_Security_Benchmark_v3.0_PV-6"]);' in prelude
    # values never enter the body: the body is the file as written
    assert "17f4b1cc-c55c-4d94-b1f9-2978f6ac2957" not in q.text.split("policyresources", 1)[1]


def test_dates_become_datetime_literals_and_unused_parameters_are_left_out():
    text = build_query("assessment_history", EXAMPLE_PARAMETERS)
    assert "let period_start = datetime(2026-07-01);" in text
    assert "let period_end = datetime(2026-08-01);" in text
    assert "policy_groups" not in text
    assert "let " not in build_query("clusters", EXAMPLE_PARAMETERS).split("resources", 1)[0].replace("// ", "")


@pytest.mark.parametrize("name, value, expected", [
    ("assessment_keys", ['c609cf0f-71ab-41e9-a3c6-9a1f7fe1b8d5"]); resources | take 1 //'], "double quote"),
    ("assessment_keys", ["c609cf0f-71ab-41e9-a3c6-9a1f7fe1b8d5\n| take 1"], "newline"),
    ("policy_groups", ["DS-6' or 1==1"], "single quote"),
    ("policy_groups", ["a\\b"], "backslash"),
    ("assessment_keys", ["not-a-guid"], "not a GUID"),
    ("policy_definition_ids", ["17f4b1cc-c55c-4d94-b1f9-2978f6ac2957"], "not an Azure resource id"),
    ("policy_groups", ["DS 6"], "not a valid name"),
    ("assessment_keys", [], "at least one value"),
    ("assessment_keys", "c609cf0f-71ab-41e9-a3c6-9a1f7fe1b8d5", "expected a list"),
    ("period_start", "2026-13-01", "not a date"),
    ("period_start", "2026-07-01\n", "newline"),
])
def test_bad_parameter_values_are_rejected_with_a_clear_error(name, value, expected):
    params = dict(EXAMPLE_PARAMETERS, **{name: value})
    query = {"assessment_keys": "assessments", "policy_groups": "policy_states", "policy_definition_ids": "policy_states",
             "period_start": "assessment_history"}[name]
    with pytest.raises(QueryError) as exc:
        build_query(query, params)
    assert expected in exc.value.one_line() and name in exc.value.one_line()


def test_unknown_and_missing_parameters_are_errors_naming_them():
    with pytest.raises(QueryError, match="unknown query parameter 'tenant'"):
        build_query("clusters", {"tenant": "x"})
    params = {k: v for k, v in EXAMPLE_PARAMETERS.items() if k != "assessment_keys"}
    with pytest.raises(QueryError) as exc:
        build_query("assessments", params)
    assert "assessment_keys" in exc.value.message and "assessments.kql" in exc.value.message


def test_accepted_shapes():
    params = dict(EXAMPLE_PARAMETERS,
                  policy_definition_ids=["/subscriptions/00000000-0000-0000-0000-000000000001/providers/"
                                         "Microsoft.Authorization/policyDefinitions/my-custom_policy.v2"],
                  period_start=date(2026, 2, 1), period_end="2026-03-01")
    text = build_query("policy_states", params)
    assert "my-custom_policy.v2" in text
    assert "datetime(2026-03-01)" in build_query("finding_history", params)


# ---------------------------------------------------------------------------- the Kusto parser

def test_every_query_passes_the_official_kusto_parser_and_returns_its_contract_columns():
    assert check_queries() == []
    # the same parse (answered from the cache), looked at directly: columns in contract order, id first
    queries = load_queries()
    results = catalog.run_parser([(q.name, q.service, build_text(q, EXAMPLE_PARAMETERS)) for q in queries],
                                 catalog.load_tables())
    for q, result in zip(queries, results):
        assert result["diagnostics"] == [] and result["subset"] == [], q.name
        assert [c for c, _ in result["columns"]] == list(DATASETS[q.dataset]), q.name
        if q.service == "resource_graph":
            assert result["columns"][0][0] == "id"


def test_check_names_the_file_line_and_problem(query_copy, monkeypatch):
    rg = query_copy / "resource_graph"
    edit(rg / "clusters.kql", "project id, name,", "project id, nmae,")
    edit(rg / "regulatory_compliance.kql", "tolong(properties.passedResources)", "tostring(properties.passedResources)")
    edit(rg / "exemptions.kql", "    expiresOn = todatetime(properties.expiresOn)\n", "    expiry = todatetime(properties.expiresOn)\n")
    edit(rg / "assessments.kql", "| project id,", "| parse name with k \"-\" rest\n| project id,")
    edit(rg / "resource_containers.kql", "| project id,",
         "| join kind=rightouter (resourcecontainers | project id) on id\n| project id,")
    edit(rg / "governance_assignments.kql", "| project id,",
         "| mv-expand a = properties.x\n| mv-expand b = properties.y\n| mv-expand c = properties.z\n| project id,")
    (rg / "exemptions.kql").rename(rg / "waivers.kql")
    edit(rg / "waivers.kql", "policyresources", "policyresources")
    shutil.copy(rg / "waivers.kql", rg / "exemptions.kql")
    (rg / "policy_states.kql").rename(rg / "compliance.kql")
    problems = check_queries(query_copy)
    text = "\n".join(problems)
    assert re.search(r"clusters\.kql: line 6, column \d+: error: .*'nmae'", text), text
    assert "regulatory_compliance.kql: column 'passedResources' is string, dataset regulatory_compliance needs int or long" in text
    assert "exemptions.kql: result columns do not match dataset exemptions (missing expiresOn; unexpected expiry)" in text
    assert "assessments.kql: operator 'parse' is not supported by Azure Resource Graph" in text
    assert "resource_containers.kql: join kind 'rightouter' is not supported by Azure Resource Graph" in text
    assert "governance_assignments.kql: 3 mv-expand operators; Azure Resource Graph allows 2" in text
    assert "waivers.kql: no dataset named 'waivers'" in text and "compliance.kql: no dataset named 'compliance'" in text
    assert "no query for dataset 'policy_states'" in text
    assert all(str(query_copy) in p for p in problems)
    # `reportgen queries check` reports the same lines and exits 2 (same texts: answered from the cache)
    from click.testing import CliRunner

    from reportgen.cli import cli
    monkeypatch.setattr(catalog, "queries_dir", lambda: query_copy)
    result = CliRunner().invoke(cli, ["queries", "check"])
    assert result.exit_code == 2 and "clusters.kql: line 6" in result.output


def test_check_says_how_to_install_the_parser_when_it_is_missing(monkeypatch):
    monkeypatch.setattr(catalog, "KUSTO_PACKAGE", "@kusto/not-installed")
    with pytest.raises(UsageError) as exc:
        check_queries()
    assert "npm ci" in exc.value.one_line()
    monkeypatch.setattr(catalog.shutil, "which", lambda name: None)
    with pytest.raises(UsageError, match="node is not installed"):
        check_queries()


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
