"""Layered configuration: TOML < environment, with errors that name the key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from reportgen.config import DEFAULT_SLA, load_config
from reportgen.errors import ConfigError


def write(tmp_path, text):
    p = tmp_path / "reportgen.toml"
    p.write_text(text)
    return p


def test_defaults_without_file():
    cfg = load_config(None, env={})
    assert dict(cfg.sla_days) == DEFAULT_SLA and cfg.owners.tag_keys == ("owner",)
    assert cfg.policy.assessment_keys == ("c609cf0f-71ab-41e9-a3c6-9a1f7fe1b8d5",)
    assert cfg.report.pdf_detail_rows == 200


def test_file_values_and_env_overrides(tmp_path):
    path = write(tmp_path, '[sla]\ncritical = 7\n[owners]\ntag_keys = ["Owner", "team"]\nmapping_file = "map.csv"\n'
                           '[report]\norganization = "Fabrikam"\n[azure]\ncloud = "AzureUSGovernment"\n')
    cfg = load_config(path, env={"REPORTGEN_ARM_ENDPOINT": "http://127.0.0.1:9"})
    assert cfg.sla_days["critical"] == 7 and cfg.sla_days["high"] == 30
    assert cfg.owners.tag_keys == ("Owner", "team") and cfg.owners.mapping_file == tmp_path / "map.csv"
    assert cfg.report.organization == "Fabrikam" and cfg.azure.cloud == "AzureUSGovernment"
    assert cfg.azure.arm_endpoint == "http://127.0.0.1:9"


@pytest.mark.parametrize("text, message", [
    ("[sla]\ncritcal = 7\n", r"\[sla\]: unknown key 'critcal'"),
    ("[sla]\ncritical = -1\n", r"\[sla\] critical: expected a positive integer"),
    ("[sla]\ncritical = \"7\"\n", r"\[sla\] critical"),
    ("[colors]\na = 1\n", r"unknown section \[colors\]"),
    ("[azure]\ncloud = \"Mars\"\n", r"\[azure\] cloud: 'Mars'"),
    ("[owners]\ntag_keys = \"owner\"\n", r"\[owners\] tag_keys: expected a list"),
    ("[report]\npdf_detail_rows = 0\n", r"\[report\] pdf_detail_rows"),
    ("[sla\n", "invalid TOML"),
    ("[audit_sample]\nsize = -1\n", r"\[audit_sample\] size: expected an integer >= 0, got -1"),
    ("[audit_sample]\nsize = 2.5\n", r"\[audit_sample\] size: expected an integer >= 0, got 2.5"),
    ("[audit_sample]\nseed = true\n", r"\[audit_sample\] seed: expected an integer >= 0, got True"),
    ("[audit_sample]\nseed = \"7\"\n", r"\[audit_sample\] seed: expected an integer >= 0, got '7'"),
    ("[audit_sample]\nsample_size = 5\n", r"\[audit_sample\]: unknown key 'sample_size'"),
])
def test_bad_config_names_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), env={})


def test_audit_sample_defaults_file_values_and_flags(tmp_path):
    from reportgen.config import with_audit_sample
    assert (load_config(None, env={}).audit_sample.size, load_config(None, env={}).audit_sample.seed) == (25, 1)
    cfg = load_config(write(tmp_path, "[audit_sample]\nsize = 0\nseed = 2026\n"), env={})
    assert (cfg.audit_sample.size, cfg.audit_sample.seed) == (0, 2026)
    only_seed = load_config(write(tmp_path, "[audit_sample]\nseed = 9\n"), env={})
    assert (only_seed.audit_sample.size, only_seed.audit_sample.seed) == (25, 9)
    # a flag overrides its own key only
    assert with_audit_sample(cfg, size=40).audit_sample == type(cfg.audit_sample)(size=40, seed=2026)
    assert with_audit_sample(cfg, seed=3).audit_sample == type(cfg.audit_sample)(size=0, seed=3)
    assert with_audit_sample(cfg) == cfg
    with pytest.raises(ConfigError, match=r"--sample-seed -1: expected an integer >= 0"):
        with_audit_sample(cfg, seed=-1)


def test_cli_bad_config_exit_2(tmp_path):
    path = write(tmp_path, "[sla]\ncritcal = 7\n")
    proc = subprocess.run([sys.executable, "-m", "reportgen", "render", str(tmp_path), "--out", str(tmp_path / "o"),
                           "--config", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: config [sla]: unknown key 'critcal' (allowed keys: critical, high, low, medium)"]


# ---------------------------------------------------------------------------- [scope] values

GOOD_SUB = "11111111-aaaa-4bbb-8ccc-0123456789ab"


@pytest.mark.parametrize("scope", [
    f'tenant_id = "5F0E3C2A-8D4B-4E6F-9A1B-2C3D4E5F6A7B"\nsubscriptions = ["{GOOD_SUB}", "{GOOD_SUB.upper()}"]',
    'management_groups = ["mg-platform", "Contoso_(EU).prod", "5f0e3c2a-8d4b-4e6f-9a1b-2c3d4e5f6a7b", "a", "'
    + "m" * 90 + '"]',
    "subscriptions = []\nmanagement_groups = []",
])
def test_good_scope_values_pass(tmp_path, scope):
    cfg = load_config(write(tmp_path, f"[scope]\n{scope}\n"), env={})
    assert all(len(m) <= 90 for m in cfg.scope.management_groups)


@pytest.mark.parametrize("scope, key, shown", [
    (f'subscriptions = ["{GOOD_SUB}", "{GOOD_SUB}", "{GOOD_SUB}", "not-a-guid"]', "subscriptions[3]", "'not-a-guid'"),
    (f'subscriptions = ["/subscriptions/{GOOD_SUB}"]', "subscriptions[0]", f"'/subscriptions/{GOOD_SUB}'"),
    (f'subscriptions = ["{GOOD_SUB[:-1]}g"]', "subscriptions[0]", f"'{GOOD_SUB[:-1]}g'"),
    (f'subscriptions = ["{{{GOOD_SUB}}}"]', "subscriptions[0]", f"'{{{GOOD_SUB}}}'"),
    ('tenant_id = "contoso.onmicrosoft.com"', "tenant_id", "'contoso.onmicrosoft.com'"),
    ('tenant_id = "5f0e3c2a8d4b4e6f9a1b2c3d4e5f6a7b"', "tenant_id", "'5f0e3c2a8d4b4e6f9a1b2c3d4e5f6a7b'"),
    ('management_groups = ["mg-platform", "mg-prod."]', "management_groups[1]", "'mg-prod.'"),
    ('management_groups = ["' + "m" * 91 + '"]', "management_groups[0]", "'" + "m" * 79 + "... (91 characters)"),
    ('management_groups = ["Contoso Root"]', "management_groups[0]", "'Contoso Root'"),
    ('management_groups = ["mg/prod"]', "management_groups[0]", "'mg/prod'"),
    ('management_groups = ["mg-ünïcode"]', "management_groups[0]", "'mg-ünïcode'"),
    ('management_groups = ["mg\\u001b[31m\\n"]', "management_groups[0]", r"'mg\x1b[31m\n'"),
    ('management_groups = ["."]', "management_groups[0]", "'.'"),
    ('subscriptions = [42]', "subscriptions[0]", "42"),
    (f'subscriptions = "{GOOD_SUB}"', "subscriptions", f"'{GOOD_SUB}'"),
])
def test_bad_scope_value_names_the_file_the_key_and_the_value(tmp_path, scope, key, shown):
    path = write(tmp_path, f"[scope]\n{scope}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path, env={})
    message = exc.value.message
    assert message.startswith(f"config file {path}: [scope] {key}: ") and shown in message
    assert "\x1b" not in message and "\n" not in message
    assert len(message) < len(str(path)) + 200
    assert exc.value.exit_code == 2


def test_management_group_rule_matches_the_documented_limits():
    from reportgen.config import MANAGEMENT_GROUP
    ok = ["a", "A-1_(x).y", "m" * 90, "(root)"]
    bad = ["", "m" * 91, "ends.", "a b", "a#b", "a/b", "a:b", "é"]
    assert [bool(MANAGEMENT_GROUP.fullmatch(v)) for v in ok + bad] == [True] * len(ok) + [False] * len(bad)


def test_cli_bad_subscription_exit_2_before_any_request(tmp_path):
    path = write(tmp_path, '[scope]\nsubscriptions = ["oops"]\n')
    env = {**os.environ, "REPORTGEN_ARM_ENDPOINT": "http://127.0.0.1:9", "REPORTGEN_ACCESS_TOKEN": "unused-token-value"}
    proc = subprocess.run([sys.executable, "-m", "reportgen", "collect", "--config", str(path), "--out",
                           str(tmp_path / "snap")], capture_output=True, text=True, env=env)
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: config file {path}: [scope] subscriptions[0]: 'oops' is not a subscription id")
    assert not (tmp_path / "snap").exists()


def test_targets_and_environment_defaults_and_values(tmp_path):
    from reportgen.config import parse_config
    cfg = load_config(None, env={})
    assert (cfg.targets.overdue_critical_max, cfg.targets.sla_attainment_min_pct,
            cfg.targets.compliance_min_pct) == (0, 95.0, 90.0)
    assert cfg.environment.tag_keys == ("environment", "env")
    assert cfg.environment.production_values == ("prod", "production")
    cfg = parse_config({"targets": {"overdue_critical_max": 3, "compliance_min_pct": 80},
                        "environment": {"tag_keys": ["Stage"], "production_values": ["Live"]}}, base=tmp_path)
    assert cfg.targets.overdue_critical_max == 3 and cfg.targets.compliance_min_pct == 80.0
    assert cfg.environment.tag_keys == ("stage",) and cfg.environment.production_values == ("live",)


@pytest.mark.parametrize("data, message", [
    ({"targets": {"overdue_critical_max": -1}}, "[targets] overdue_critical_max"),
    ({"targets": {"sla_attainment_min_pct": 101}}, "[targets] sla_attainment_min_pct"),
    ({"targets": {"compliance_min_pct": "high"}}, "[targets] compliance_min_pct"),
    ({"targets": {"typo": 1}}, "unknown key 'typo'"),
    ({"environment": {"tag_keys": "env"}}, "[environment] tag_keys"),
    ({"environment": {"production_values": [""]}}, "[environment] production_values"),
])
def test_targets_and_environment_errors_name_the_key(tmp_path, data, message):
    from reportgen.config import parse_config
    with pytest.raises(ConfigError) as exc:
        parse_config(data, base=tmp_path)
    assert message in str(exc.value)
