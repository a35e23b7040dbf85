"""README.txt: the auditor's index to a pack.

What each file is, the scope and period, how the figures were produced, the exact
commands to verify the pack (with and without reportgen) and to re-render it, and the
known limits of this pack's evidence (skipped or partial datasets, unassessed clusters,
sample data). Plain UTF-8 text, wrapped for a terminal.

The text depends only on the report model and the list of files, never on the clock, the
output folder or whether the pack is signed, so re-rendering gives the same bytes and a
signature added later by ``reportgen sign`` does not make the index stale.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Iterable

from reportgen.aggregate.findings import due_date_method
from reportgen.aggregate.model import SEVERITY_ORDER, ReportModel
from reportgen.render.interface import MANIFEST, README, SIGNATURE, describe_file
from reportgen.render.limits import capped, clean_line, limits
from reportgen.snapshot import utc_iso

WIDTH = 92
NAME_WIDTH = 44
LIST_CAP = 20  # names listed inline (subscriptions, management groups) before "and N more"

def readme_text(model: ReportModel, files: Iterable[str]) -> str:
    """The README.txt text for a pack holding ``files`` (pack-relative POSIX paths)."""
    m = model.meta
    files = sorted(set(files) | {README})
    out: list[str] = []
    title = f"{m.title} \u2014 {m.organization}"
    out += [title, "=" * len(title), ""]
    out += _para("Evidence for Microsoft cloud security benchmark (v3) controls "
                 + " and ".join(f"{c.id} ({c.control.title})" for c in model.controls)
                 + ": vulnerable running container images in Azure Kubernetes Service (AKS) clusters, as measured "
                 "by Azure Policy and Microsoft Defender for Containers.")
    if m.source == "sample":
        out += _para("NOTE: this pack was built from the built-in SAMPLE tenant, not from Azure. Its figures are "
                     "illustrative only.")

    out += _section("Scope and period")
    out += _pairs([
        ("Period", f"{m.period_start.isoformat()} to {m.period_end.isoformat()}"),
        ("As of", f"{utc_iso(m.as_of)} (every age, due date and overdue flag is computed at this time)"),
        ("Source", f"{m.source}, cloud {m.cloud}" + (f", findings source {m.findings_source}" if m.findings_source else "")),
        ("Tenant", m.tenant_id or "not recorded"),
        ("Subscriptions", _listing(m.scope_subscriptions, "every subscription the collecting identity can read")),
        ("Management groups", _listing(m.scope_management_groups, "none")),
        ("Clusters", f"{model.coverage.clusters:,} in {model.coverage.subscriptions:,} subscriptions, "
                     f"{model.coverage.assessed:,} assessed by Defender, {len(model.coverage.not_assessed):,} not assessed"),
        ("Run id", m.run_id),
        ("Snapshot sha256", f"{m.snapshot_fingerprint} (of snapshot/snapshot.json)"),
        ("Tool", f"reportgen {m.tool_version}"),
    ])

    out += _section("Results in brief")
    for c in model.controls:
        figure = (f"{c.compliance_pct:.2f}% compliant" if c.compliance_pct is not None
                  else "no compliance figure, as no cluster has a counted policy state")
        out += _para(f"{c.id} {c.control.title}: {c.status}, {figure} "
                     f"({c.compliant:,} compliant, {c.exempt:,} exempt, {c.non_compliant:,} non-compliant, "
                     f"{c.conflict:,} conflict of {c.resources:,} clusters evaluated); Defender's own state for "
                     f"{c.control.defender_control}: {c.defender.state}.", indent="  ")
    f = model.findings
    by_sev = ", ".join(f"{s.lower()} {int(f.by_severity.get(s, 0)):,}" for s in SEVERITY_ORDER)
    out += _para(f"Open findings: {f.open:,} ({by_sev}); overdue {f.overdue:,}, of them critical "
                 f"{int(f.overdue_by_severity.get('Critical', 0)):,}; exempt {f.exempt:,}.", indent="  ")
    out += _para(_period_sentence(model), indent="  ")
    if model.audit_sample is not None:
        a = model.audit_sample
        out += _para(f"Audit sample: {a.drawn:,} of {a.population:,} lineages of the period population (size "
                     f"{a.size:,}, seed {a.seed}), in data/audit_sample.csv and the workbook's Audit sample sheet; "
                     f"the method to re-draw it is on the workbook's README sheet.", indent="  ")
    out += _para("The full figures are in summary.json and the workbook; the PDF explains them.")

    out += _section("Files")
    out += _para("Every file below except manifest.json and manifest.json.sig is listed with its sha256 and size "
                 "in manifest.json.")
    for rel in [f for f in files if not f.startswith("by-owner/")] + [MANIFEST, SIGNATURE]:
        out += _entry(rel, describe_file(rel, model))
    if model.by_owner:
        out += _section("Per-owner packs (by-owner/)")
        out += _para("Each folder below is a complete evidence pack holding only that owner's clusters and their "
                     "findings, rendered from a copy of this pack's snapshot filtered to those clusters (its "
                     "snapshot/snapshot.json records derived_from: this run id, this snapshot's sha256, the filter "
                     "and the cluster ids). Each verifies on its own (reportgen verify PACK/by-owner/FOLDER; with "
                     "--deep --history-dir, the same history folder as this pack, filtered to the owner's clusters "
                     "as the split did), and "
                     "every one of its files is also listed in this pack's manifest.json.")
        for entry in model.by_owner:
            out += _entry(f"{entry['folder']}/", f"{entry['owner']}: {entry['clusters']:,} clusters, "
                                                  f"{entry['open_findings']:,} open findings")

    out += _section("How the figures were produced")
    defs = ", ".join(m.policy_definition_ids)
    out += _bullets([
        "Collection: KQL queries against Azure Resource Graph (and, where Defender continuous export is on, "
        "Azure Monitor Logs) froze the evidence into snapshot/ at the as-of time. Each query's exact text and "
        "sha256 are in the PDF's appendix and the workbook's Queries sheet (and snapshot/queries/ for "
        "collected data).",
        f"Control compliance: policy states of the policy definition(s) {defs} whose policy group names contain "
        f"the control's group ("
        + ", ".join(c.control.policy_group for c in model.controls)
        + "), rolled up per cluster keeping the worst state (NonCompliant > Compliant > Conflict > Exempt > "
        "other). Compliance % = 100 x (compliant + exempt) / (compliant + non-compliant + conflict + exempt): "
        "Azure's own formula. With no counted state there is no figure (null in summary.json, empty in the "
        "workbook) and the status is No data. Otherwise Passed when no cluster is non-compliant or in conflict, "
        "else Failed.",
        f"Coverage: a cluster without a Defender assessment ({', '.join(m.assessment_keys)}) is not assessed.",
        "Derived verdict: beside each cluster's policy state, as Azure reports it, the pack shows a verdict "
        "derived from the findings and labelled as derived: Unhealthy when the cluster has an open finding, "
        "Healthy when it has finding rows and none is open, No findings when Defender assessed it but no finding "
        "rows exist, and No evidence (no verdict) when it has neither an assessment nor findings. It matters where "
        "the grouped assessment c609cf0f, retired on 31 July 2026, is missing.",
        "Open finding: a per-CVE finding with status Unhealthy that no unexpired local exception covers; "
        "duplicates (same cluster, image digest, CVE and package) count once, represented by an Unhealthy row "
        "first, then a row of the individual recommendations before one of the legacy sub-assessments, then the "
        "latest; its workloads are those of all its rows. Exempt: NotApplicable with cause Exempt, or covered by a "
        "local exception.",
        f"Owner of a cluster (and of its findings): the Defender governance assignment's owner, else the first "
        f"of the tag keys {', '.join(m.owner_tag_keys) or '(none)'} on the cluster, its resource group, its "
        f"subscription, else the owner mapping file, else \u201c{m.owner_fallback}\u201d. The source is shown "
        f"with every owner.",
        "Lineage: the same CVE and package on the same cluster and repository, across image rebuilds (the image "
        "digest is not part of it), so a rebuilt image that still carries the CVE keeps its clock; Changes count "
        "lineages and show rebuilt, still vulnerable ones apart from fixes. First seen (of a lineage): the earliest "
        "sighting at which it was open (earlier snapshots, the finding history, this snapshot) or Defender's first "
        "evaluation of any of its rows, never before the CVE's published date; where that is the start of the "
        "available evidence, the age is a lower bound (\u201cat least N days\u201d).",
        due_date_method(m.sla_days),
        "Known exploited vulnerabilities (CISA KEV): " + model.findings.known_exploited.statement,
        "Exemptions: a policy exemption counts only if it exempts an assignment of the configured definition and "
        "names no definition reference ids or that definition's; others are listed as not applicable to this "
        "policy and never counted. An exemption with no expiry is flagged.",
        "Period population (data/period_population.csv): every lineage open at the period start or at any "
        "sighting inside the period, with first seen, due date, the sighting that closed it and why (fixed, exempt, "
        "out_of_scope) and its SLA verdict (met, missed, open-overdue, open-within); the roll-forward per severity "
        "(opening + new - closed = closing) is in data/roll_forward.csv and summary.json.",
        "Completeness and accuracy (data/completeness.csv, data/reconciliation.csv): per dataset the query sha256, "
        "rows, Azure's totalRecords and pages, the subscriptions asked for and seen; our counts against Defender's "
        "own totals with every difference explained; who collected the data and when, from the access token's "
        "claims (not proof of identity; the token is never stored).",
        _history_sentence(model),
    ])

    out += _section("How to verify this pack")
    history = " --history-dir SAME_HISTORY" if len(model.history) > 1 else ""
    out += _para("PACK below is this folder; PUBLIC_KEY.pem is the publisher's Ed25519 public key, obtained from "
                 "the publisher by a separate channel.")
    out += _commands("With reportgen (exit code 0 only when every check holds; one line per problem otherwise):", [
        "reportgen verify PACK",
        "reportgen verify PACK --public-key PUBLIC_KEY.pem",
        "reportgen verify PACK --deep --config SAME_CONFIG.toml" + history,
    ])
    out += _para("This re-hashes every file against manifest.json, reports any changed, missing or unexpected "
                 "file, re-checks the sha256 of every snapshot dataset (and query text) against "
                 "snapshot/snapshot.json, and with --public-key checks the signature in manifest.json.sig. It "
                 "follows no symbolic link: a link (to a file or folder, inside the pack or outside), FIFO, socket "
                 "or device anywhere in PACK is a problem, and so is PACK itself being a link or a folder named "
                 ".NAME.partial-XXXX (reportgen's unfinished or replaced folders). --deep also renders the pack "
                 "again from snapshot/ in a temporary folder and compares every file and every figure of "
                 "summary.json; it needs the configuration"
                 + (" and the history folder" if history else "") + " the pack was rendered with (leave out "
                 "--config for the defaults) and the reportgen and library versions in manifest.json, and says so "
                 "when the versions differ.", indent="  ")
    out += _para("What each check proves. Anyone can recompute the hashes, so manifest.json alone proves only "
                 "that the files match the manifest beside them: whoever changes a file can rewrite the manifest "
                 "too. Only --public-key, with a key obtained from the publisher by a separate channel, proves "
                 "where the pack comes from. --deep proves that the files and figures follow from the snapshot "
                 "in snapshot/, not that the snapshot is what Azure returned: for that, the signature ties the "
                 "pack to its publisher.", indent="  ")
    out += _commands("Without reportgen (inside PACK; needs jq, sha256sum and OpenSSL 3):", [
        "jq -r '.files[] | \"\\(.sha256)  \\(.path)\"' manifest.json | sha256sum --check --strict -",
        "diff <(jq -r '.files[].path' manifest.json | sort) \\",
        "     <(find . -type f ! -name manifest.json ! -name manifest.json.sig | sed 's|^\\./||' | sort)",
        "find . ! -type f ! -type d",
        "openssl pkeyutl -verify -pubin -inkey PUBLIC_KEY.pem -rawin -in manifest.json -sigfile manifest.json.sig",
    ])
    out += _para("The first command checks every listed file, the second that no file is missing or added, the "
                 "third, which must print nothing, that nothing is a link, FIFO, socket or device, and the fourth "
                 "the signature (\u201cSignature Verified Successfully\u201d).", indent="  ")
    out += _commands("Re-render from the snapshot and compare by hand (same reportgen version and library versions "
                     "as in manifest.json's tool and environment, same configuration and exceptions file"
                     + (", same history folder" if history else "") + "):", [
        "reportgen render PACK/snapshot --out REPACK --config SAME_CONFIG.toml" + history,
        "diff <(jq -r '.files[] | \"\\(.sha256)  \\(.path)\"' PACK/manifest.json) \\",
        "     <(jq -r '.files[] | \"\\(.sha256)  \\(.path)\"' REPACK/manifest.json)",
    ])
    out += _para("Rendering is deterministic: no clock time, random id or file-system order reaches any file, so "
                 "the two manifests are identical. Leave out --config if the pack was made with the defaults.",
                 indent="  ")

    out += _section("Known limits of this pack's evidence")
    out += _bullets(limits(model))
    return "\n".join(out).rstrip("\n") + "\n"


def _period_sentence(model: ReportModel) -> str:
    p = model.period
    if p is None:
        return "Period population: not computed for this pack."
    r = p.total
    attainment = (f"SLA attainment {p.sla_attainment_pct:.2f}%" if p.sla_attainment_pct is not None
                  else "no SLA attainment figure, as nothing with a due date was fixed")
    text = (f"Period population (lineages): opening {r.opening:,} + new {r.new:,} - closed "
            f"{r.closed:,} = closing {r.closing:,}"
            f"{'' if r.reconciles else ' (DOES NOT reconcile)'}; closed as fixed {p.closed_by_reason['fixed']:,}, "
            f"exempt {p.closed_by_reason['exempt']:,}, out of scope {p.closed_by_reason['out_of_scope']:,}; SLA met "
            f"{p.sla['met']:,}, missed {p.sla['missed']:,}, open and overdue {p.sla['open_overdue']:,}, open within "
            f"SLA {p.sla['open_within']:,}; {attainment}.")
    return text + (f" {p.statement}" if p.statement else "")


def _history_sentence(model: ReportModel) -> str:
    earlier = model.history[:-1]
    if not earlier:
        return "History: no earlier snapshot was given; trends and changes since last month are not shown."
    labels = ", ".join(p.label for p in earlier)
    text = f"History: {len(earlier)} earlier snapshot{'s' if len(earlier) != 1 else ''} ({labels})"
    if model.changes is not None:
        text += (f"; changes are against the snapshot of {utc_iso(model.changes.previous_as_of)} "
                 f"(run {model.changes.previous_run_id})")
    return text + "."


def write_readme(model: ReportModel, pack_dir: Path, files: Iterable[str]) -> Path:
    path = Path(pack_dir) / README
    path.write_text(readme_text(model, files), encoding="utf-8")
    return path


# --- layout -------------------------------------------------------------------------------

def _para(text: str, indent: str = "") -> list[str]:
    return textwrap.wrap(clean_line(text), WIDTH, initial_indent=indent, subsequent_indent=indent,
                         break_on_hyphens=False, break_long_words=False) + [""]


def _section(title: str) -> list[str]:
    return ["", title, "-" * len(title), ""]


def _pairs(rows: list[tuple[str, str]]) -> list[str]:
    width = max(len(k) for k, _ in rows) + 2
    out = []
    for key, value in rows:
        out += textwrap.wrap(clean_line(value), WIDTH, initial_indent=f"  {key + ':':<{width}}",
                             subsequent_indent=" " * (width + 2), break_on_hyphens=False, break_long_words=False)
    return out + [""]


def _entry(rel: str, text: str) -> list[str]:
    first = f"  {rel}"
    lines = textwrap.wrap(clean_line(text), WIDTH, initial_indent=" " * (NAME_WIDTH + 2),
                          subsequent_indent=" " * (NAME_WIDTH + 2), break_on_hyphens=False, break_long_words=False)
    if len(first) < NAME_WIDTH + 1:
        lines[0] = first.ljust(NAME_WIDTH + 2) + lines[0].lstrip()
    else:
        lines.insert(0, first)
    return lines


def _bullets(items: list[str]) -> list[str]:
    out = []
    for item in items:
        out += textwrap.wrap(clean_line(item), WIDTH, initial_indent="  - ", subsequent_indent="    ",
                             break_on_hyphens=False, break_long_words=False)
    return out + [""]


def _commands(intro: str, lines: list[str]) -> list[str]:
    return _para(intro) + [f"    {line}" for line in lines] + [""]


def _listing(values, empty: str) -> str:
    return capped(values, LIST_CAP) if values else empty
