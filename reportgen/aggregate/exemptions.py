"""Policy exemptions and local exceptions: which apply to this policy, who approved them, what they cover.

An Azure Policy exemption names a policy *assignment* and, for an initiative, optionally the
policy definition reference ids inside it. It counts for this policy only when its
assignment carries a configured definition (seen in the snapshot's ``policy_states`` rows)
and its reference ids are empty or hold that definition's reference id (DESIGN §6
"Exemptions that apply"); every other exemption is listed as "not applicable to this
policy" and credited with nothing. Approval evidence comes from the exemption's
``metadata`` (an open-ended object: approver, requester and ticket keys are recognised in
several spellings, every other key is kept as given) and from ARM's ``systemData``.

Each exempt finding is attributed to exactly one row, so that the table and the exempt
count agree: a local exception by its id; else the applicable, unexpired policy exemption
with the longest scope containing the finding's cluster (ties by name); else nothing (the
number returned beside the table). A management-group scope contains no cluster id as
text, so findings it exempts stay unattributed rather than being guessed.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Iterable, Mapping

import pandas as pd

from reportgen.aggregate.exceptions import LocalException
from reportgen.aggregate.model import EXEMPTION_COLUMNS
from reportgen.config import RunConfig
from reportgen.errors import SnapshotError
from reportgen.snapshot import Snapshot

EXPIRING_DAYS = 30
NOT_APPLICABLE = "not applicable to this policy"
LOCAL_PREFIX = "Local exception "

# metadata keys (compared case-insensitively), in order of precedence
APPROVER_KEYS = ("approvedBy", "approver", "approved_by")
REQUESTER_KEYS = ("requestedBy", "requester", "requested_by")
TICKET_KEYS = ("ticket", "ticketId", "ticketRef", "ticketNumber", "changeRequest")


def _expiry(expires, as_of: pd.Timestamp) -> dict:
    """Status (Active | Expiring | Expired) and whole days to expiry at ``as_of``; no expiry is Active."""
    if expires is None or pd.isna(expires):
        return {"status": "Active", "daysToExpiry": None}
    days = int((pd.Timestamp(expires) - as_of).total_seconds() // 86400)
    if pd.Timestamp(expires) <= as_of:
        return {"status": "Expired", "daysToExpiry": days}
    return {"status": "Expiring" if days <= EXPIRING_DAYS else "Active", "daysToExpiry": days}


def _compact(value: Any) -> str:
    return value.strip() if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def split_metadata(text: Any, where: str) -> dict[str, str]:
    """approver, requester, ticket and otherMetadata (compact JSON of every other key) from metadata JSON text."""
    out = {"approver": "", "requester": "", "ticket": "", "otherMetadata": ""}
    if text is None or (isinstance(text, float) and pd.isna(text)) or not str(text).strip():
        return out
    try:
        value = json.loads(text)
    except ValueError:
        raise SnapshotError(f"{where}: column 'metadata' is not JSON text ({str(text)[:60]!r})",
                            hint="the snapshot was changed after collection; collect it again") from None
    if not isinstance(value, dict):   # Azure stores an object; anything else is shown as given
        out["otherMetadata"] = "" if value is None else _compact(value)
        return out
    lower = {}
    for key in value:
        lower.setdefault(str(key).lower(), key)
    used = set()
    for field, keys in (("approver", APPROVER_KEYS), ("requester", REQUESTER_KEYS), ("ticket", TICKET_KEYS)):
        for key in keys:
            original = lower.get(key.lower())
            if original is not None and value[original] not in (None, ""):
                out[field] = _compact(value[original])
                used.add(original)
                break
    rest = {k: v for k, v in value.items() if k not in used}
    out["otherMetadata"] = json.dumps(rest, separators=(",", ":"), ensure_ascii=False, sort_keys=True) if rest else ""
    return out


def _reference_ids(text: Any, where: str) -> list[str]:
    if text is None or (isinstance(text, float) and pd.isna(text)) or not str(text).strip():
        return []
    try:
        value = json.loads(text)
    except ValueError:
        raise SnapshotError(f"{where}: column 'policyDefinitionReferenceIds' is not JSON text") from None
    if value is None:
        return []
    if not isinstance(value, list):
        raise SnapshotError(f"{where}: column 'policyDefinitionReferenceIds' is not a JSON array")
    return [str(v) for v in value if v is not None and str(v).strip()]


def assignment_references(policy_states: pd.DataFrame, definition_ids: Iterable[str]) -> dict[str, set[str]]:
    """Assignment id (lower-cased) -> the reference ids (lower-cased) under which it carries a configured
    definition, from the policy states of those definitions."""
    wanted = {d.strip().lower() for d in definition_ids}
    if policy_states.empty:
        return {}
    rows = policy_states[policy_states["policyDefinitionId"].fillna("").str.lower().isin(wanted)]
    out: dict[str, set[str]] = {}
    for assignment, reference in zip(rows["policyAssignmentId"].fillna("").str.lower(),
                                     rows["policyDefinitionReferenceId"].fillna("").str.lower()):
        if assignment:
            out.setdefault(assignment, set())
            if reference:
                out[assignment].add(reference)
    return out


def applicability(assignment_id: str, reference_ids: list[str], carriers: Mapping[str, set[str]]) -> tuple[bool, str]:
    """Whether a policy exemption counts for this policy, and why (DESIGN §6 "Exemptions that apply")."""
    key = (assignment_id or "").strip().lower()
    if key not in carriers:
        return False, (f"{NOT_APPLICABLE}: exempts assignment {assignment_id or '(none)'}, which does not carry "
                       "the configured definition")
    ours = sorted(carriers[key])
    if not reference_ids:
        return True, f"applies: exempts every policy of assignment {assignment_id}"
    hit = [r for r in reference_ids if r.lower() in carriers[key]]
    if hit:
        return True, f"applies: exempts reference id {', '.join(hit)} of assignment {assignment_id}"
    return False, (f"{NOT_APPLICABLE}: exempts only reference ids {', '.join(reference_ids)}, "
                   f"not {', '.join(ours) if ours else '(the definition has no reference id there)'}")


def _scope_contains(scope: str, rid: str) -> bool:
    return bool(scope) and (rid == scope or rid.startswith(scope + "/"))


def crediting_order(rows: list[Mapping]) -> list[tuple[str, str, int]]:
    """(scope lower-cased, name, position) of the policy exemption rows that can explain Defender's
    Exempt state now (applicable and not expired), most specific scope first, ties by name."""
    return sorted(((str(r["scope"] or "").rstrip("/").lower(), str(r["name"]), i) for i, r in enumerate(rows)
                   if r["kind"] == "Policy exemption" and r["appliesToPolicy"] and r["status"] != "Expired"),
                  key=lambda c: (-len(c[0]), c[1]))


def covering(candidates: list[tuple[str, str, int]], rid: str) -> int | None:
    """The position of the exemption an exempt finding on cluster ``rid`` is credited to, else None."""
    return next((i for scope, _, i in candidates if _scope_contains(scope, rid)), None)


def exemptions_table(snapshot: Snapshot, exceptions: tuple[LocalException, ...], findings: pd.DataFrame,
                     config: RunConfig) -> tuple[pd.DataFrame, int]:
    """The exemptions table (EXEMPTION_COLUMNS) and the number of exempt findings attributed to no row.

    ``findings``: one row per distinct finding with ``rid`` (lower-cased cluster id), ``state``
    and ``exemption`` ("Exempt in Defender" or "Local exception <id>: <reason>")."""
    as_of = snapshot.collected_at
    ex = snapshot.frames["exemptions"]
    where_file = f"{snapshot.path / 'data' / 'exemptions.parquet'}"
    carriers = assignment_references(snapshot.frames["policy_states"], config.policy.definition_ids)
    rows: list[dict] = []
    for i, r in enumerate(ex.to_dict("records")):
        where = f"{where_file} row {i + 1} ({r.get('name')})"
        expires = r["expiresOn"]
        refs = _reference_ids(r["policyDefinitionReferenceIds"], where)
        applies, why = applicability(r["policyAssignmentId"] or "", refs, carriers)
        rows.append({
            "kind": "Policy exemption", "name": r["name"], "category": r["category"], "scope": r["scope"],
            "displayName": r["displayName"], "reason": r["description"],
            **split_metadata(r.get("metadata"), where),
            "expiresOn": expires, **_expiry(expires, as_of), "matchedFindings": 0,
            "appliesToPolicy": applies, "applicability": why, "noExpiry": expires is None or pd.isna(expires),
            "policyAssignmentId": r["policyAssignmentId"] or "", "policyDefinitionReferenceIds": "; ".join(refs),
            "createdBy": r.get("createdBy") or "", "createdAt": r.get("createdAt"),
            "lastModifiedBy": r.get("lastModifiedBy") or "", "lastModifiedAt": r.get("lastModifiedAt"),
        })
    for exc in exceptions:
        expires = pd.Timestamp(exc.expires, tz="UTC")
        rows.append({
            "kind": "Local exception", "name": exc.id, "category": "Risk acceptance", "scope": exc.describe_scope(),
            "displayName": exc.id, "reason": exc.reason, "approver": exc.approver, "ticket": exc.ticket,
            "requester": "", "otherMetadata": "",
            "expiresOn": expires, **_expiry(expires + timedelta(days=1), as_of), "matchedFindings": 0,
            "appliesToPolicy": True, "applicability": "applies: a local risk acceptance of the [exceptions] file",
            "noExpiry": False, "policyAssignmentId": "", "policyDefinitionReferenceIds": "",
            "createdBy": "", "createdAt": None, "lastModifiedBy": "", "lastModifiedAt": None,
        })
    unattributed = _attribute(rows, findings, len(ex))
    table = pd.DataFrame(rows, columns=list(EXEMPTION_COLUMNS))
    if len(table):
        order = {"Expired": 0, "Expiring": 1, "Active": 2}
        table = table.assign(_o=table["status"].map(order)).sort_values(
            ["_o", "expiresOn", "name"], na_position="last", kind="stable").drop(columns="_o").reset_index(drop=True)
    for column in ("expiresOn", "createdAt", "lastModifiedAt"):
        table[column] = pd.to_datetime(table[column], utc=True)
    table["matchedFindings"] = table["matchedFindings"].astype("int64")
    for column in ("appliesToPolicy", "noExpiry"):
        table[column] = table[column].astype(bool)
    return table, unattributed


def _attribute(rows: list[dict], findings: pd.DataFrame, policy_rows: int) -> int:
    """Credit every exempt finding to one row (``matchedFindings``); returns how many found none."""
    exempt = findings.loc[findings["state"].eq("Exempt"), ["rid", "exemption"]]
    if exempt.empty:
        return 0
    reasons = exempt["exemption"].fillna("").astype(str)
    local = {row["name"]: i for i, row in enumerate(rows) if row["kind"] == "Local exception"}
    taken = pd.Series(False, index=exempt.index)
    for name, i in local.items():
        hit = reasons.str.startswith(f"{LOCAL_PREFIX}{name}: ") & ~taken
        rows[i]["matchedFindings"] += int(hit.sum())
        taken |= hit
    unknown_local = reasons.str.startswith(LOCAL_PREFIX) & ~taken   # an exception not in the file: never guessed
    taken |= unknown_local
    # policy exemptions that can explain Defender's Exempt state now: applicable and not expired
    candidates = crediting_order([rows[i] for i in range(policy_rows)])
    per_rid = exempt.loc[~taken, "rid"].fillna("").astype(str).str.lower().value_counts(sort=False)
    unattributed = int(unknown_local.sum())
    for rid, count in per_rid.items():
        owner = covering(candidates, rid)
        if owner is None:
            unattributed += int(count)
        else:
            rows[owner]["matchedFindings"] += int(count)
    return unattributed
