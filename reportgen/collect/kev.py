"""The known-exploited vulnerabilities dataset: a catalogue in the CISA KEV JSON format.

Format: CISA's "Known Exploited Vulnerabilities Catalog" JSON feed,
https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json, described by
its published JSON Schema (draft-07)
https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities_schema.json, the same
file as ``known_exploited_vulnerabilities_schema.json`` in https://github.com/cisagov/kev-data
(checked against commit d98075f22b11ca60ede428f4397966d3523dc692). What it says, and what is read:

- top level, required: ``catalogVersion`` (string), ``dateReleased`` (string, date-time
  ``YYYY-MM-DDTHH:mm:ss.sssZ``), ``count`` (integer: the number of vulnerabilities in the catalogue),
  ``vulnerabilities`` (array); ``title`` is in the feed but not required by the schema (optional here);
- each vulnerability, required: ``cveID`` (pattern ``^CVE-[0-9]{4}-[0-9]{4,19}$``; read case-insensitively
  and upper-cased), ``vendorProject``, ``product``, ``vulnerabilityName``, ``dateAdded`` (date
  ``YYYY-MM-DD``), ``shortDescription``, ``requiredAction``, ``dueDate`` (date ``YYYY-MM-DD``);
  optional: ``knownRansomwareCampaignUse`` ("Known" or "Unknown"), ``forensicTriage`` ("Yes" / "No"),
  ``notes`` (string), ``cwes`` (array of ``CWE-<digits>`` strings). Other keys are ignored.

The catalogue is read at collect time only (an https URL with a timeout, http only to a
loopback host, or a file) and frozen into the snapshot as ``data/known_exploited.parquet``;
rendering never fetches it.
"""

from __future__ import annotations

import hashlib
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
CVE = re.compile(r"CVE-\d{4}-\d{4,19}", re.IGNORECASE)
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
TOP_KEYS = {"catalogVersion": str, "dateReleased": str, "count": int, "vulnerabilities": list}   # schema "required"
REQUIRED = ("cveID", "vendorProject", "product", "vulnerabilityName", "dateAdded", "shortDescription",
            "requiredAction", "dueDate")
OPTIONAL = ("knownRansomwareCampaignUse", "forensicTriage", "notes")
CWE = re.compile(r"CWE-\d+")
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
        if not isinstance(cwes, list) or not all(isinstance(c, str) and CWE.fullmatch(c.strip()) for c in cwes):
            raise SourceError(f"{where} ({row['cveID']}): key 'cwes' is not a list of CWE-<number> strings")
        row["cwes"] = json.dumps(cwes)
        rows.append(row)
    title = data.get("title", "")
    if not isinstance(title, str):
        raise SourceError(f"known_exploited {source}: key 'title' has the wrong type ({type(title).__name__}, "
                          "expected str)")
    frame = to_frame(rows)
    return Catalogue(title=title, catalog_version=data["catalogVersion"], date_released=data["dateReleased"],
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


def collect_dataset(source: str | None, label: str | None = None):
    """(frame, DatasetInfo) for the snapshot, or None when no source is configured: the dataset is then
    not written at all (an optional dataset, snapshot.OPTIONAL_DATASETS), and its absence is what the pack
    reports as "not checked". Not configuring it is a choice, not an evidence gap of the tenant's data.
    ``label``: how the source is recorded (default: the URL or path itself); the sha256 of the bytes read
    is recorded beside it."""
    from reportgen.collect.interface import COMPLETE
    from reportgen.snapshot import DatasetInfo
    if not source:
        return None
    body = read_bytes(source)
    catalogue = parse(body, label or source)
    meta = {**catalogue.meta(), "source_sha256": hashlib.sha256(body).hexdigest(), "source_bytes": len(body)}
    warnings = ()
    if catalogue.count != len(catalogue.frame):
        warnings = (f"{DATASET}: the catalogue's count is {catalogue.count} but it lists {len(catalogue.frame)} "
                    "distinct CVEs",)
    return (catalogue.frame, DatasetInfo(name=DATASET, rows=len(catalogue.frame), status=COMPLETE, warnings=warnings, pages=1,
                                         extra={"service": "kev", "catalog": meta,
                                                # the catalogue's own count, as Resource Graph's totalRecords
                                                "total_records": catalogue.count}))


def empty_frame() -> pd.DataFrame:
    return to_frame([])
