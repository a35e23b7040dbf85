// Checks KQL queries with the official Kusto parser (@kusto/language-service-next).
//
// Input (stdin, JSON): {"module_dir": ".../node_modules/@kusto/language-service-next",
//   "services": {"<service>": {"tables": {"<table>": {"<column>": "<kusto type>"}}}},
//   "queries": [{"name": "...", "service": "...", "text": "..."}]}
// Output (stdout, JSON): [{"name", "diagnostics": [{"severity","line","column","message"}],
//   "columns": [[name, type]], "constructs": [{"kind","name","line","column", ...}]}]
// One node process checks every query, so the parser loads once.
//
// The constructs are reported as found, never judged here: the rules of the Azure Resource
// Graph subset are data (resource_graph_subset.yaml) applied in Python (subset.py). Lines and
// columns are 1-based, in the text given. Kinds:
//   statement        every statement: name = the parser's class (LetStatement,
//                    ExpressionStatement, SetOptionStatement...), keyword = its first word;
//                    also name = Directive for a #directive.
//   operator         every tabular operator, and the tabular expressions that start a query
//                    without being operators (datatable, externaldata...): name = as written
//                    (mv-expand, mvexpand, project-away, order...), class, parameters
//                    [{name, value, line, column}]; join: join_kind (null = no kind=),
//                    hints [names]; union: legs (the piped input counts as one);
//                    mv-expand: row_limit (an integer, or null), row_limit_text (null = no
//                    limit clause), row_limit_line, row_limit_column.
//   function         every function call: name as written, class, symbol (aggregate |
//                    scalar | user | unknown, from the parser's binding).
//   scalar_operator  every binary, in, between, has_any and has_all operator: name = the
//                    operator as written (=~, in~, contains, has_any...).
"use strict";
const path = require("path");
const fs = require("fs");

const input = JSON.parse(fs.readFileSync(0, "utf8"));
require(path.join(input.module_dir, "bridge.js"));
require(path.join(input.module_dir, "Kusto.Language.Bridge.js"));
const K = Kusto.Language;
const S = K.Symbols;
const X = K.Syntax;

// Tabular expressions that are not QueryOperator nodes but act as one (a query source).
const TABULAR_EXPRESSIONS = [
  "DataTableExpression", "ExternalDataExpression", "ContextualDataTableExpression",
  "MaterializedViewCombineExpression", "DataScopeExpression", "ForkExpression",
];
// Function-like keywords the parser gives their own node instead of a FunctionCallExpression.
const KEYWORD_FUNCTIONS = { ToScalarExpression: "toscalar", ToTableExpression: "totable",
  MaterializeExpression: "materialize", PackExpression: "pack(*)" };
// Scalar operator nodes and the property holding their operator token.
const SCALAR_OPERATORS = ["BinaryExpression", "InExpression", "BetweenExpression", "HasAnyExpression", "HasAllExpression"];

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

function lineStarts(text) {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === "\n") starts.push(i + 1);
  return starts;
}

function lineCol(starts, offset) {
  let lo = 0, hi = starts.length - 1;
  while (lo < hi) {  // the last line start <= offset
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= offset) lo = mid; else hi = mid - 1;
  }
  return [lo + 1, offset - starts[lo] + 1];
}

function shortName(element) {
  const full = (element.constructor && element.constructor.$$name) || "";
  return full.slice(full.lastIndexOf(".") + 1);
}

function isA(element, className) {
  return X[className] !== undefined && Bridge.is(element, X[className]);
}

function items(list) {
  const out = [];
  if (!list) return out;
  for (let i = 0; i < list.Count; i++) {
    const item = list.getItem(i);
    out.push(item && item.Element !== undefined ? item.Element : item);  // SeparatedElement -> element
  }
  return out;
}

function firstWord(element) {
  const token = element.GetFirstToken ? element.GetFirstToken() : null;
  return token ? String(token.Text) : "";
}

function integerLiteral(expression) {
  if (!expression || !Bridge.is(expression, X.LiteralExpression) || expression.LiteralValue == null) return null;
  const n = Number(String(expression.LiteralValue));
  return Number.isInteger(n) ? n : null;
}

function constructs(code, text, globals) {
  const starts = lineStarts(text);
  const out = [];
  function add(kind, name, offset, extra) {
    const [line, column] = lineCol(starts, offset);
    out.push(Object.assign({ kind: kind, name: name, line: line, column: column }, extra || {}));
  }
  function parameters(element) {
    return items(element.Parameters).map(function (p) {
      const [line, column] = lineCol(starts, p.TextStart);
      return { name: p.Name ? String(p.Name.SimpleName) : "", value: p.Expression ? p.Expression.toString().trim() : "",
               line: line, column: column };
    });
  }
  code.Syntax.WalkElements(function (e) {
    if (Bridge.is(e, X.SyntaxToken)) return;
    const cls = shortName(e);
    if (Bridge.is(e, X.Statement)) {
      add("statement", cls, e.TextStart, { keyword: firstWord(e) });
    } else if (Bridge.is(e, X.Directive)) {
      if (e.Width > 0) add("statement", "Directive", e.TextStart, { keyword: e.toString().trim() });
    } else if (Bridge.is(e, X.QueryOperator) || TABULAR_EXPRESSIONS.some(c => isA(e, c))) {
      const extra = { class: cls, parameters: e.Parameters ? parameters(e) : [] };
      if (Bridge.is(e, X.JoinOperator)) {
        const kind = extra.parameters.find(p => p.name.toLowerCase() === "kind");
        extra.join_kind = kind ? kind.value : null;
        extra.hints = extra.parameters.filter(p => p.name.toLowerCase().startsWith("hint.")).map(p => p.name);
      } else if (Bridge.is(e, X.UnionOperator)) {
        const piped = e.Parent && Bridge.is(e.Parent, X.PipeExpression) && e.Parent.Operator === e;
        extra.legs = items(e.Expressions).length + (piped ? 1 : 0);
      } else if (Bridge.is(e, X.MvExpandOperator)) {
        const clause = e.RowLimitClause;
        extra.row_limit = clause ? integerLiteral(clause.RowLimit) : null;
        extra.row_limit_text = clause && clause.RowLimit ? clause.RowLimit.toString().trim() : null;
        if (clause) [extra.row_limit_line, extra.row_limit_column] = lineCol(starts, clause.TextStart);
      }
      const name = cls === "DataScopeExpression" ? "datascope" : firstWord(e);
      add("operator", name, e.TextStart, extra);
    } else if (Bridge.is(e, X.FunctionCallExpression)) {
      const symbol = e.ReferencedSymbol;
      let kind = "unknown";
      if (symbol && Bridge.is(symbol, S.FunctionSymbol)) {
        kind = globals.IsAggregateFunction(symbol) ? "aggregate" : globals.IsBuiltInFunction(symbol) ? "scalar" : "user";
      }
      add("function", e.Name ? String(e.Name.SimpleName) : firstWord(e), e.TextStart, { class: cls, symbol: kind });
    } else if (cls in KEYWORD_FUNCTIONS) {
      add("function", KEYWORD_FUNCTIONS[cls], e.TextStart, { class: cls, symbol: "scalar" });
    } else if (SCALAR_OPERATORS.some(c => isA(e, c)) && e.Operator) {
      add("scalar_operator", String(e.Operator.Text), e.Operator.TextStart, { class: cls });
    }
  });
  return out;
}

const globals = {};
for (const [name, service] of Object.entries(input.services)) globals[name] = globalsFor(service);

const out = [];
for (const q of input.queries) {
  const result = { name: q.name, diagnostics: [], columns: [], constructs: [] };
  const code = K.KustoCode.ParseAndAnalyze(q.text, globals[q.service]);
  const starts = lineStarts(q.text);
  const diags = code.GetDiagnostics();
  for (let i = 0; i < diags.Count; i++) {
    const d = diags.getItem(i);
    const [line, column] = lineCol(starts, d.Start);
    result.diagnostics.push({ severity: String(d.Severity), line: line, column: column, message: d.Message });
  }
  const rt = code.ResultType;
  if (rt && rt.Columns) {
    for (let i = 0; i < rt.Columns.Count; i++) {
      const c = rt.Columns.getItem(i);
      result.columns.push([c.Name, c.Type ? c.Type.Name : "unknown"]);
    }
  }
  result.constructs = constructs(code, q.text, globals[q.service]);
  out.push(result);
}
process.stdout.write(JSON.stringify(out));
