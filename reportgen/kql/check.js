// Checks KQL queries with the official Kusto parser (@kusto/language-service-next).
//
// Input (stdin, JSON): {"module_dir": ".../node_modules/@kusto/language-service-next",
//   "services": {"<service>": {"tables": {"<table>": {"<column>": "<kusto type>"}}, "subset": "arg"|null}},
//   "queries": [{"name": "...", "service": "...", "text": "..."}]}
// Output (stdout, JSON): [{"name", "diagnostics": [{"severity","line","column","message"}],
//   "columns": [[name, type]], "subset": ["problem", ...]}]
// One node process checks every query, so the parser loads once.
"use strict";
const path = require("path");
const fs = require("fs");

const input = JSON.parse(fs.readFileSync(0, "utf8"));
require(path.join(input.module_dir, "bridge.js"));
require(path.join(input.module_dir, "Kusto.Language.Bridge.js"));
const K = Kusto.Language;
const S = K.Symbols;

// Azure Resource Graph supports a subset of KQL (query-language.md, "Supported KQL language elements").
const ARG_OPERATORS = {
  CountOperator: "count", DistinctOperator: "distinct", ExtendOperator: "extend", JoinOperator: "join",
  TakeOperator: "limit/take", MvExpandOperator: "mv-expand", SortOperator: "order/sort",
  ProjectOperator: "project", ProjectAwayOperator: "project-away", SummarizeOperator: "summarize",
  TopOperator: "top", UnionOperator: "union", FilterOperator: "where",
};
const ARG_JOIN_KINDS = ["innerunique", "inner", "leftouter", "fullouter"];
const ARG_LIMITS = { JoinOperator: 3, MvExpandOperator: 2 };
const ARG_UNION_LEGS = 3;

function globalsFor(service) {
  const tables = [];
  for (const [name, columns] of Object.entries(service.tables)) {
    const schema = "(" + Object.entries(columns).map(([c, t]) => "['" + c + "']:" + t).join(", ") + ")";
    tables.push(new S.TableSymbol.$ctor7(name, schema, null));
  }
  const db = new S.DatabaseSymbol.$ctor2("db", null, tables);
  const cluster = new S.ClusterSymbol.$ctor1("cluster", [db]);
  return K.GlobalState.Default.WithCluster(cluster).WithDatabase(db);
}

function lineCol(text, offset) {
  const before = text.slice(0, offset).split("\n");
  return [before.length, before[before.length - 1].length + 1];
}

function shortName(element) {
  const full = (element.constructor && element.constructor.$$name) || "";
  return full.slice(full.lastIndexOf(".") + 1);
}

function argSubset(code) {
  const problems = [];
  const counts = {};
  code.Syntax.WalkElements(function (element) {
    if (!Bridge.is(element, K.Syntax.QueryOperator)) return;
    const name = shortName(element);
    counts[name] = (counts[name] || 0) + 1;
    if (!(name in ARG_OPERATORS)) {
      problems.push("operator '" + element.toString().trim().split(/\s+/)[0] + "' is not supported by Azure Resource Graph");
    }
    if (name === "JoinOperator") {
      const m = /kind\s*=\s*([A-Za-z]+)/.exec(element.toString());
      const kind = m ? m[1].toLowerCase() : "innerunique";
      if (ARG_JOIN_KINDS.indexOf(kind) < 0) problems.push("join kind '" + kind + "' is not supported by Azure Resource Graph");
      if (/hint\./i.test(element.toString())) problems.push("join strategies (hint.*) are not allowed by Azure Resource Graph");
    }
    if (name === "UnionOperator") {
      const legs = element.Expressions ? element.Expressions.Count + 1 : 2;
      if (legs > ARG_UNION_LEGS) problems.push("union has " + legs + " legs; Azure Resource Graph allows " + ARG_UNION_LEGS);
    }
  });
  for (const [name, limit] of Object.entries(ARG_LIMITS)) {
    if ((counts[name] || 0) > limit) {
      problems.push(counts[name] + " " + ARG_OPERATORS[name] + " operators; Azure Resource Graph allows " + limit);
    }
  }
  return problems;
}

const globals = {};
for (const [name, service] of Object.entries(input.services)) globals[name] = globalsFor(service);

const out = [];
for (const q of input.queries) {
  const result = { name: q.name, diagnostics: [], columns: [], subset: [] };
  const code = K.KustoCode.ParseAndAnalyze(q.text, globals[q.service]);
  const diags = code.GetDiagnostics();
  for (let i = 0; i < diags.Count; i++) {
    const d = diags.getItem(i);
    const [line, column] = lineCol(q.text, d.Start);
    result.diagnostics.push({ severity: String(d.Severity), line: line, column: column, message: d.Message });
  }
  const rt = code.ResultType;
  if (rt && rt.Columns) {
    for (let i = 0; i < rt.Columns.Count; i++) {
      const c = rt.Columns.getItem(i);
      result.columns.push([c.Name, c.Type ? c.Type.Name : "unknown"]);
    }
  }
  if (input.services[q.service].subset === "arg") result.subset = argSubset(code);
  out.push(result);
}
process.stdout.write(JSON.stringify(out));
