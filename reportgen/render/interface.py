"""The output interface: every document of a pack is one ``Output``, registered once.

An ``Output`` names the files it writes (pack-relative POSIX paths, or ``*`` patterns for a
family such as ``data/*.csv``), says in one line what it is, describes each of its files
for README.txt and OSCAL, and writes them with ``write(model, pack_dir)``, reading only
finished figures from the report model. ``OUTPUTS`` lists the modules that define one, in
the order the pack stage writes them: a document that links to others (the OSCAL results
hash the files they cite) comes after them. Adding a document is one module with an
``OUTPUT`` plus one line here; nothing else lists the pack's files.

The pack's own index files (README.txt, manifest.json and its signature) are written by
the pack stage (``reportgen.pack``) after every output; their names are here so that an
output can link to them without importing the stage above it.

One exception to "linked documents first": evidence-pack.pdf embeds the OSCAL results
(PDF/A-3 associated file), so OSCAL is written before it and cites the PDF by path and media
type only, without a sha256; the PDF's hash is in manifest.json. Nothing the PDF embeds
depends on the PDF's bytes, so there is no cycle.
"""

from __future__ import annotations

import fnmatch
import importlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

if TYPE_CHECKING:
    from reportgen.aggregate.model import ReportModel

# The modules that define an OUTPUT, in writing order.
OUTPUTS: tuple[str, ...] = (
    "reportgen.render.summary",
    "reportgen.render.executive_pdf",   # embeds summary.json
    "reportgen.render.excel",
    "reportgen.render.csv_export",
    "reportgen.render.poam",
    "reportgen.render.charts",
    "reportgen.render.oscal",   # before the PDF, which embeds it; it cites the PDF by path, unhashed
    "reportgen.render.pdf",
)

README = "README.txt"
MANIFEST = "manifest.json"
SIGNATURE = MANIFEST + ".sig"
SNAPSHOT_DIR = "snapshot"
INDEX_FILES = {
    README: "This index.",
    MANIFEST: "sha256 and size of every other file, the tool and library versions, run id, snapshot "
              "fingerprint and as-of time.",
    SIGNATURE: "Present when the pack is signed: detached Ed25519 signature over manifest.json (64 raw bytes).",
}


@dataclass(frozen=True)
class Output:
    """One document of the pack."""
    name: str                                       # short id, e.g. "workbook"
    files: tuple[str, ...]                          # paths or patterns it writes, main file first
    description: str                                # one line: what it is, for whom
    write: Callable[[ReportModel, Path], Sequence[Path]]
    describe: Callable[[str, ReportModel], str | None] | None = field(default=None)  # per-file text
    step: str = ""                                  # progress label ("Writing the Excel workbook")

    @property
    def main_file(self) -> str:
        return self.files[0]

    def owns(self, rel: str) -> bool:
        return any(fnmatch.fnmatchcase(rel, pattern) for pattern in self.files)

    def description_of(self, rel: str, model: ReportModel) -> str:
        text = self.describe(rel, model) if self.describe is not None else None
        return text or self.description


@cache
def outputs() -> tuple[Output, ...]:
    """Every registered output, in writing order (modules imported on first use)."""
    return tuple(importlib.import_module(name).OUTPUT for name in OUTPUTS)


def output(name: str) -> Output:
    for out in outputs():
        if out.name == name:
            return out
    raise KeyError(name)


def describe_file(rel: str, model: ReportModel) -> str:
    """One sentence (or a few) saying what the pack file ``rel`` is."""
    if rel in INDEX_FILES:
        return INDEX_FILES[rel]
    if rel.startswith(SNAPSHOT_DIR + "/"):
        return _describe_snapshot_file(rel[len(SNAPSHOT_DIR) + 1:], model)
    for out in outputs():
        if out.owns(rel):
            return out.description_of(rel, model)
    return "Part of the pack."


# --- the snapshot copy (written by the pack stage, described here for every output) ------

DATASET_TEXT = {
    "clusters": "AKS clusters in scope (Azure Resource Graph)",
    "resource_containers": "subscriptions and resource groups with their tags, for owner attribution",
    "policy_states": "Azure Policy compliance states of the configured policy definition, per cluster",
    "assessments": "Microsoft Defender assessments of the running-images recommendation, per cluster",
    "findings": "per-CVE findings as Defender reported them at the collection time (image, package, fix, "
                "workloads); findings resolved earlier are not in it",
    "exemptions": "Azure Policy exemptions in scope, with their metadata and who created and last changed them",
    "governance_assignments": "Defender governance assignments: owners and remediation due dates",
    "regulatory_compliance": "Defender regulatory-compliance state of DS.6 and PV.6 (cross-check)",
    "assessment_history": "assessment history from continuous export (Log Analytics)",
    "finding_history": "per-CVE finding history from continuous export: sightings for first-seen dates and the "
                       "period population",
    "known_exploited": "the known-exploited vulnerabilities catalogue (CISA KEV JSON format) as read at collection, "
                       "one row per CVE with its dateAdded and dueDate; optional: absent when no [known_exploited] "
                       "source is configured (known exploited vulnerabilities then not checked)",
}
_SNAPSHOT_META = ("The input snapshot's metadata: run id, collection (as-of) time, period, scope, and per dataset "
                  "its rows, the sha256 of its data file, its status (complete, partial, skipped, failed), query "
                  "sha256, pages and warnings, and any evidence gaps recorded during collection.")


def _describe_snapshot_file(rel: str, model: ReportModel) -> str:
    stem = Path(rel).stem
    if rel == "snapshot.json":
        return _SNAPSHOT_META
    if rel.startswith("data/") and rel.endswith(".parquet"):
        status = {d.name: d for d in model.datasets}.get(stem)
        what = DATASET_TEXT.get(stem, f"dataset {stem}")
        if status is None:
            return f"Input data: {what} (Parquet)."
        rows = f"{status.rows:,} row{'' if status.rows == 1 else 's'}"
        return f"Input data: {what}; {rows}, {status.status} (Parquet)."
    if rel.startswith("queries/") and rel.endswith(".kql"):
        return f"The exact KQL text sent to collect dataset {stem}; its sha256 is in snapshot/snapshot.json."
    return "Part of the input snapshot."
