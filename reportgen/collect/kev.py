"""The known-exploited vulnerabilities dataset: a catalogue in the CISA KEV JSON format.

Format: CISA's "Known Exploited Vulnerabilities Catalog" JSON feed,
https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json, described by
its published schema https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities_schema.json
(mirrored at https://github.com/cisagov/kev-data). Top level: ``title``, ``catalogVersion``,
``dateReleased``, ``count``, ``vulnerabilities[]``; each vulnerability: ``cveID``,
``vendorProject``, ``product``, ``vulnerabilityName``, ``dateAdded``, ``shortDescription``,
``requiredAction``, ``dueDate`` (YYYY-MM-DD), ``knownRansomwareCampaignUse`` ("Known" /
"Unknown"), ``notes``, ``cwes`` (list of CWE ids).

The catalogue is read at collect time only (an https URL with a timeout, http only to a
loopback host, or a file) and frozen into the snapshot as ``data/known_exploited.parquet``;
rendering never fetches it.
"""

from __future__ import annotations

import json
import re
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

import pandas as pd

from reportgen.errors import SourceError
from reportgen.snapshot import OPTIONAL_DATASETS

DATASET = "known_exploited"
TIMEOUT_SECONDS = 30
MAX_BYTES = 64 * 1024 * 1024
CVE = re.compile(r"CVE-\d{4}-\d{4,}", re.IGNORECASE)
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
TOP_KEYS = {"title": str, "catalogVersion": str, "dateReleased": str, "count": int, "vulnerabilities": list}
REQUIRED = ("cveID", "vendorProject", "product", "vulnerabilityName", "dateAdded", "shortDescription",
            "requiredAction", "dueDate")
OPTIONAL = ("knownRansomwareCampaignUse", "notes")
# The snapshot columns (snapshot.OPTIONAL_DATASETS).
COLUMNS: dict[str, str] = OPTIONAL_DATASETS[DATASET]


@dataclass(frozen=True)
class Catalogue:
    title: str
    catalog_version: str
    date_released: str
    count: int
    frame: pd.DataFrame
    source: str

    def meta(self) -> dict:
        return {"source": self.source, "title": self.title, "catalog_version": self.catalog_version,
                "date_released": self.date_released, "count": self.count}


def read_bytes(source: str) -> bytes:
    """The catalogue's bytes from an https URL (http only to loopback) or a file."""
    lowered = source.lower()
    if lowered.startswith(("https://", "http://")):
        if lowered.startswith("http://") and (urlsplit(source).hostname or "") not in ("127.0.0.1", "localhost", "::1"):
            raise SourceError(f"known_exploited {source}: plain http is allowed only to a loopback host")
        request = urllib.request.Request(source, headers={"Accept": "application/json",
                                                          "User-Agent": "reportgen"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 (scheme checked)
                body = response.read(MAX_BYTES + 1)
        except OSError as exc:
            raise SourceError(f"known_exploited {source}: could not be read ({exc})",
                              hint="check the URL and the network, or set [known_exploited] source to a file") \
                from None
        if len(body) > MAX_BYTES:
            raise SourceError(f"known_exploited {source}: larger than {MAX_BYTES} bytes")
        return body
    path = Path(source)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SourceError(f"known_exploited {path}: could not be read ({exc.strerror or exc})",
                          hint="check [known_exploited] source") from None


def parse(body: bytes, source: str) -> Catalogue:
    """Validate a KEV JSON document; every error names ``source`` and the key that is wrong."""
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"known_exploited {source}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise SourceError(f"known_exploited {source}: expected a JSON object (the CISA KEV catalogue)")
    for key, kind in TOP_KEYS.items():
        if key not in data:
            raise SourceError(f"known_exploited {source}: missing key {key!r}")
        if not isinstance(data[key], kind) or isinstance(data[key], bool):
            raise SourceError(f"known_exploited {source}: key {key!r} has the wrong type "
                              f"({type(data[key]).__name__}, expected {kind.__name__})")
    rows = []
    for i, item in enumerate(data["vulnerabilities"]):
        where = f"known_exploited {source}: vulnerabilities[{i}]"
        if not isinstance(item, dict):
            raise SourceError(f"{where}: expected an object")
        row: dict[str, Any] = {}
        for key in REQUIRED + OPTIONAL:
            value = item.get(key)
            if value is None and key in OPTIONAL:
                row[key] = ""
                continue
            if not isinstance(value, str):
                raise SourceError(f"{where}: key {key!r} {'missing' if key not in item else 'is not a string'}")
            row[key] = value.strip()
        if not CVE.fullmatch(row["cveID"]):
            raise SourceError(f"{where}: key 'cveID' {row['cveID'][:40]!r} is not a CVE id")
        row["cveID"] = row["cveID"].upper()
        for key in ("dateAdded", "dueDate"):
            if not DAY.fullmatch(row[key]):
                raise SourceError(f"{where} ({row['cveID']}): key {key!r} {row[key][:40]!r} is not a YYYY-MM-DD date")
        cwes = item.get("cwes", [])
        if not isinstance(cwes, list) or not all(isinstance(c, str) for c in cwes):
            raise SourceError(f"{where} ({row['cveID']}): key 'cwes' is not a list of strings")
        row["cwes"] = json.dumps(cwes)
        rows.append(row)
    frame = to_frame(rows)
    return Catalogue(title=data["title"], catalog_version=data["catalogVersion"], date_released=data["dateReleased"],
                     count=data["count"], frame=frame, source=source)


def to_frame(rows: list[Mapping[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame({c: [r.get(c) for r in rows] for c in COLUMNS})
    for column, kind in COLUMNS.items():
        if kind == "ts":
            frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[us, UTC]")
        else:
            frame[column] = frame[column].astype(object)
    # One row per CVE (the catalogue lists each once; a duplicate keeps its earliest due date).
    frame = frame.sort_values(["cveID", "dueDate"], kind="stable").drop_duplicates("cveID", keep="first")
    return frame.reset_index(drop=True)


def load(source: str) -> Catalogue:
    return parse(read_bytes(source), source)


def collect_dataset(source: str | None):
    """(frame, DatasetInfo, gaps) for the snapshot: skipped with the reason when not configured."""
    from reportgen.collect.interface import COMPLETE, SKIPPED, Gap
    from reportgen.snapshot import DatasetInfo
    if not source:
        reason = "[known_exploited] source is not configured"
        return (empty_frame(), DatasetInfo(name=DATASET, rows=0, status=SKIPPED, warnings=(f"{DATASET}: {reason}",),
                                           extra={"service": "kev", "catalog": None}),
                (Gap("not-configured", f"Dataset {DATASET} was not collected: {reason}; known exploited "
                     "vulnerabilities were not checked.", dataset=DATASET),))
    catalogue = load(source)
    return (catalogue.frame, DatasetInfo(name=DATASET, rows=len(catalogue.frame), status=COMPLETE,
                                         extra={"service": "kev", "catalog": catalogue.meta()}), ())


def empty_frame() -> pd.DataFrame:
    return to_frame([])
