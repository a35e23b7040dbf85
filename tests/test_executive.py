"""Executive one-pager figures (issue 11 item 1): RAG rule, honest arrows, leverage, environment split."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from reportgen.aggregate.build import build_model
from reportgen.aggregate.executive import direction, environment_of, rag_status
from reportgen.config import RunConfig
from reportgen.frameworks import load_controls
from reportgen.render.summary import summary_dict
from tests import builders as b


@pytest.mark.parametrize("value, target, cmp, expected", [
    (95.0, 95.0, ">=", "green"), (91.0, 95.0, ">=", "amber"), (89.9, 95.0, ">=", "red"),
    (0, 0, "<=", "green"), (5, 0, "<=", "amber"), (6, 0, "<=", "red"), (None, 90.0, ">=", "No data"),
])
def test_rag_rule(value, target, cmp, expected):
    assert rag_status(value, target, cmp) == expected


def test_arrows_are_honest():
    assert direction(1838, 1665) == "up"
    assert direction(1665, 1838) == "down"
    assert direction(5, 5) == "same"
    assert direction(5, None) == "none"


def test_environment_cluster_then_group_then_subscription():
    clusters = pd.DataFrame({
        "rid": ["a", "b", "c", "d"], "subscriptionId": ["s1", "s1", "s2", "s3"],
        "resourceGroup": ["rg1", "rg2", "rg1", "rg9"],
        "tags": ['{"Environment": "Prod"}', None, None, None]})
    rc = pd.DataFrame({
        "type": ["microsoft.resources/subscriptions/resourcegroups", "microsoft.resources/subscriptions"],
        "subscriptionId": ["s1", "s2"], "resourceGroup": ["rg2", ""], "name": ["rg2", "s2"],
        "tags": ['{"env": "dev"}', '{"env": "production"}']})
    env = environment_of(clusters, rc, ("environment", "env"), ("prod", "production"))
    assert env.to_dict() == {"a": "production", "b": "non-production", "c": "production", "d": "untagged"}


def test_model_executive_figures_match_summary(tmp_path):
    model = build_model(b.snapshot(tmp_path / "current"), RunConfig(), load_controls(), [])
    e = model.executive
    assert e is not None
    names = [r.name for r in e.rag]
    assert "Overdue critical findings" in names and "SLA attainment" in names
    f = model.tables.findings
    crit = f[f["state"].eq("Open") & f["severity"].eq("Critical")]
    assert sum(i.critical for i in e.top_images) <= len(crit)
    if e.top_images:
        top = e.top_images[0]
        assert top.critical == max(
            crit.groupby(crit["registryHost"] + "/" + crit["repositoryName"]).size())
    assert sum(v["open"] for v in e.environments.values()) == model.findings.open
    assert sum(n for _, n in e.unique_cves.values()) == model.findings.open
    s = json.loads(json.dumps(summary_dict(model)))["executive"]
    assert [x["status"] for x in s["status"]] == [r.status for r in e.rag]
    assert s["base_images"] == "not reported by Defender"
