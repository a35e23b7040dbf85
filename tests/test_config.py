"""Layered configuration: TOML < environment, with errors that name the key."""

from __future__ import annotations

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
])
def test_bad_config_names_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), env={})


def test_cli_bad_config_exit_2(tmp_path):
    path = write(tmp_path, "[sla]\ncritcal = 7\n")
    proc = subprocess.run([sys.executable, "-m", "reportgen", "render", str(tmp_path), "--out", str(tmp_path / "o"),
                           "--config", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: config [sla]: unknown key 'critcal' (allowed keys: critical, high, low, medium)"]
