"""Control compliance by Azure's own roll-up and formula (DESIGN.md §6).

policy_states rows of a configured definition whose group names contain the control's
group are rolled up per resource (case-insensitive id), keeping the worst state by weight
NonCompliant 300 > Compliant 200 > Conflict 100 > Exempt 50 > anything else 0.
Compliance % = 100 x (compliant + exempt) / (compliant + non_compliant + conflict + exempt).
When that total is 0 there is no figure (None) and the status is "No data": a pack never
shows a compliance percentage for which there was no evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from reportgen.aggregate.common import lower_id, parse_json, text
from reportgen.aggregate.model import ControlDef, DefenderCrossCheck

STATE_WEIGHTS = {"noncompliant": 300, "compliant": 200, "conflict": 100, "exempt": 50}
WEIGHT_LABELS = {300: "NonCompliant", 200: "Compliant", 100: "Conflict", 50: "Exempt", 0: "Other"}


@dataclass(frozen=True)
class ControlCounts:
    resources: int
    compliant: int
    non_compliant: int
    exempt: int
    conflict: int
    other: int

    @property
    def counted(self) -> int:
        """Resources whose state enters the formula (Unknown, Error... do not)."""
        return self.compliant + self.non_compliant + self.conflict + self.exempt

    @property
    def compliance_pct(self) -> float | None:
        total = self.counted
        return None if total == 0 else round(100.0 * (self.compliant + self.exempt) / total, 2)

    @property
    def status(self) -> str:
        if self.counted == 0:
            return "No data"
        # From the counts, not the rounded percentage: one failure in 40,000 rounds to 100.00.
        return "Passed" if self.non_compliant == 0 and self.conflict == 0 else "Failed"


def _group_sets(policy_states: pd.DataFrame) -> pd.Series:
    def to_set(value):
        groups = parse_json(value, [])
        if isinstance(groups, str):
            groups = [groups]
        return frozenset(str(g).strip().lower() for g in groups) if isinstance(groups, list) else frozenset()
    return policy_states["policyDefinitionGroupNames"].map(to_set)


def relevant_states(policy_states: pd.DataFrame, definition_ids: tuple[str, ...]) -> pd.DataFrame:
    """Rows of the configured definitions, with normalised keys, weights and group sets."""
    defs = {d.strip().rstrip("/").lower() for d in definition_ids}
    rows = policy_states[lower_id(policy_states["policyDefinitionId"]).isin(defs)]
    return pd.DataFrame({
        "rid": lower_id(rows["resourceId"]),
        "weight": text(rows["complianceState"]).str.strip().str.lower().map(STATE_WEIGHTS).fillna(0).astype(int),
        "groups": _group_sets(rows),
    }, index=rows.index)


def rollup(states: pd.DataFrame, group: str | None) -> pd.Series:
    """Worst weight per resource id (lower-cased) for one control group (None = any group)."""
    if group is not None:
        g = group.strip().lower()
        states = states[states["groups"].map(lambda s: g in s)]
    if states.empty:
        return pd.Series(dtype="int64", name="weight")
    return states.groupby("rid")["weight"].max()


def count(weights: pd.Series) -> ControlCounts:
    vc = weights.value_counts()
    return ControlCounts(
        resources=int(len(weights)), compliant=int(vc.get(200, 0)), non_compliant=int(vc.get(300, 0)),
        exempt=int(vc.get(50, 0)), conflict=int(vc.get(100, 0)), other=int(vc.get(0, 0)),
    )


_DEFENDER_RANK = {"failed": 4, "passed": 3, "skipped": 2, "unsupported": 1}


def defender_cross_check(regulatory: pd.DataFrame, control: ControlDef, assessment_keys: tuple[str, ...]) -> DefenderCrossCheck:
    """Defender's regulatory-compliance rows for the control (e.g. DS.6) and the policy's assessment."""
    keys = {k.lower() for k in assessment_keys}
    names = {control.defender_control.lower(), control.id.lower()}
    rows = regulatory[
        text(regulatory["standard"]).str.lower().str.replace(" ", "-").eq(control.defender_standard.lower())
        & text(regulatory["control"]).str.strip().str.lower().isin(names)
        & text(regulatory["assessmentKey"]).str.lower().isin(keys)
    ]
    if rows.empty:
        return DefenderCrossCheck("No data", 0, 0, 0, 0)
    ranks = text(rows["state"]).str.lower().map(_DEFENDER_RANK).fillna(0)
    worst = text(rows["state"]).iloc[int(ranks.to_numpy().argmax())]
    return DefenderCrossCheck(
        state=worst.capitalize() if worst else "No data",
        subscriptions=int(lower_id(rows["subscriptionId"]).nunique()),
        passed_resources=int(rows["passedResources"].sum()),
        failed_resources=int(rows["failedResources"].sum()),
        skipped_resources=int(rows["skippedResources"].sum()),
    )
