"""Local risk acceptances ([exceptions] file): findings the organisation has accepted.

The file is TOML with one ``[[exception]]`` table per acceptance::

    [[exception]]
    id = "RA-2026-014"
    cve = "CVE-2023-44487"          # selectors: cve, package, repository, digest, cluster, subscription
    repository = "payments/*"       # glob patterns, matched case-insensitively; all given must match
    reason = "Not reachable: HTTP/2 disabled at the ingress"
    approver = "ciso@contoso.com"
    ticket = "SEC-1234"
    expires = 2026-12-31            # mandatory

An Unhealthy finding matched by an unexpired exception (expires on or after the as-of
date) is exempt, not open. Expired exceptions are listed but match nothing.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from reportgen.aggregate.common import lower_id, text
from reportgen.errors import ConfigError

SELECTORS = {
    "cve": "cveId", "package": "packageName", "repository": "repositoryName", "digest": "imageDigest",
    "cluster": "resourceId", "subscription": "subscriptionId",
}
FIELDS = set(SELECTORS) | {"id", "reason", "approver", "ticket", "expires"}


@dataclass(frozen=True)
class LocalException:
    id: str
    selector: tuple[tuple[str, str], ...]   # (selector key, glob pattern)
    reason: str
    approver: str
    ticket: str
    expires: date

    def describe_scope(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.selector)

    def active(self, as_of: date) -> bool:
        return self.expires >= as_of


def load_exceptions(path: Path | None) -> tuple[LocalException, ...]:
    if path is None:
        return ()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"exceptions file {path} not found", hint="check [exceptions] file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"exceptions file {path}: invalid TOML ({exc})") from None
    unknown = set(data) - {"exception"}
    if unknown:
        raise ConfigError(f"exceptions file {path}: unknown key {sorted(unknown)[0]!r}", hint="use [[exception]] tables")
    out = []
    for i, entry in enumerate(data.get("exception", [])):
        where = f"exceptions file {path}: exception #{i + 1}"
        bad = sorted(set(entry) - FIELDS)
        if bad:
            raise ConfigError(f"{where}: unknown key {bad[0]!r}", hint=f"allowed: {', '.join(sorted(FIELDS))}")
        for key in ("reason", "approver", "expires"):
            if key not in entry:
                raise ConfigError(f"{where}: missing mandatory key {key!r}")
        expires = entry["expires"]
        if isinstance(expires, str):
            try:
                expires = date.fromisoformat(expires)
            except ValueError:
                raise ConfigError(f"{where}: expires {expires!r} is not a date (YYYY-MM-DD)") from None
        if isinstance(expires, datetime):
            raise ConfigError(f"{where}: expires must be a date (YYYY-MM-DD), not a date-time")
        if not isinstance(expires, date):
            raise ConfigError(f"{where}: expires must be a date (YYYY-MM-DD)")
        selector = tuple((k, str(entry[k]).strip()) for k in SELECTORS if k in entry and str(entry[k]).strip())
        if not selector:
            raise ConfigError(f"{where}: needs at least one selector ({', '.join(SELECTORS)})")
        for key in ("reason", "approver"):
            if not str(entry[key]).strip():
                raise ConfigError(f"{where}: {key!r} must not be empty")
        out.append(LocalException(
            id=str(entry.get("id") or f"EXC-{i + 1:03d}"), selector=selector, reason=str(entry["reason"]).strip(),
            approver=str(entry["approver"]).strip(), ticket=str(entry.get("ticket", "")).strip(), expires=expires,
        ))
    return tuple(out)


def match_mask(findings: pd.DataFrame, exc: LocalException) -> pd.Series:
    """Rows of ``findings`` (snapshot columns) selected by every selector of ``exc``."""
    mask = pd.Series(True, index=findings.index)
    for key, pattern in exc.selector:
        column = SELECTORS[key]
        values = lower_id(findings[column]) if column in ("resourceId",) else text(findings[column]).str.lower()
        regex = re.compile(fnmatch.translate(pattern.lower().rstrip("/") if key == "cluster" else pattern.lower()))
        mask &= values.str.match(regex)
    return mask
