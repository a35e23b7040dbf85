"""Layered configuration: defaults < reportgen.toml < environment < command-line flags.

The result is one frozen ``RunConfig``. Unknown keys and bad values raise ``ConfigError``
naming the key (``[sla] critical``), so a typo never silently falls back to a default.
``[scope]`` values are checked against Azure's formats here, before any request is sent;
their errors also name the file and show the value (escaped and cut short).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from reportgen.errors import ConfigError

DEFAULT_POLICY_DEFINITION = (
    "/providers/Microsoft.Authorization/policyDefinitions/17f4b1cc-c55c-4d94-b1f9-2978f6ac2957"
)
DEFAULT_ASSESSMENT_KEY = "c609cf0f-71ab-41e9-a3c6-9a1f7fe1b8d5"
SEVERITIES = ("Critical", "High", "Medium", "Low")
DEFAULT_SLA = {"critical": 15, "high": 30, "medium": 90, "low": 180}
CLOUDS = ("AzureCloud", "AzureUSGovernment", "AzureChinaCloud")

GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
# A management group ID: 1-90 letters, digits, hyphens, underscores, periods and parentheses, not
# ending with a period ("Microsoft.Management / managementGroups" in
# https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/resource-name-rules#microsoftmanagement).
MANAGEMENT_GROUP = re.compile(r"[A-Za-z0-9_().-]{0,89}[A-Za-z0-9_()-]")
SHOWN_CHARS = 80


@dataclass(frozen=True)
class ScopeConfig:
    tenant_id: str | None = None
    subscriptions: tuple[str, ...] = ()
    management_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class AzureConfig:
    cloud: str = "AzureCloud"
    arm_endpoint: str | None = None
    logs_endpoint: str | None = None
    log_analytics_workspace_id: str | None = None
    subscription_batch_size: int = 200
    max_concurrency: int = 3


@dataclass(frozen=True)
class PolicyConfig:
    definition_ids: tuple[str, ...] = (DEFAULT_POLICY_DEFINITION,)
    assessment_keys: tuple[str, ...] = (DEFAULT_ASSESSMENT_KEY,)


@dataclass(frozen=True)
class OwnersConfig:
    tag_keys: tuple[str, ...] = ("owner",)
    mapping_file: Path | None = None
    fallback: str = "Unassigned"


@dataclass(frozen=True)
class ExceptionsConfig:
    file: Path | None = None


@dataclass(frozen=True)
class ReportConfig:
    organization: str = "Contoso Ltd"
    title: str = "Container Image Vulnerability Evidence Pack"
    pdf_detail_rows: int = 200


@dataclass(frozen=True)
class AuditSampleConfig:
    """The audit sample drawn from the period population (``reportgen.aggregate.audit_sample``)."""

    size: int = 25             # items asked for; 0 = no sample
    seed: int = 1              # the seed of every draw key: sha256("<seed>:<lineageId>")


@dataclass(frozen=True)
class KnownExploitedConfig:
    """``[known_exploited] source``: a CISA KEV JSON catalogue's https URL or file path (None: not checked)."""

    source: str | None = None


@dataclass(frozen=True)
class TargetsConfig:
    """Targets of the executive page: red/amber/green status of each figure against them."""

    overdue_critical_max: int = 0          # open critical findings past their due date, at most
    sla_attainment_min_pct: float = 95.0   # fixed within SLA, at least (percent)
    compliance_min_pct: float = 90.0       # each control's compliance, at least (percent)


@dataclass(frozen=True)
class EnvironmentConfig:
    """Production vs non-production: a tag read from the cluster, then resource group, then subscription."""

    tag_keys: tuple[str, ...] = ("environment", "env")
    production_values: tuple[str, ...] = ("prod", "production")


@dataclass(frozen=True)
class CrosswalkConfig:
    """The frameworks the pack maps its evidence to (controls/crosswalk/<id>.yaml); empty: no crosswalk."""

    frameworks: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunConfig:
    scope: ScopeConfig = field(default_factory=ScopeConfig)
    azure: AzureConfig = field(default_factory=AzureConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    controls_file: Path | None = None  # None = the packaged controls/mcsb.yaml
    owners: OwnersConfig = field(default_factory=OwnersConfig)
    sla_days: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_SLA))
    exceptions: ExceptionsConfig = field(default_factory=ExceptionsConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    audit_sample: AuditSampleConfig = field(default_factory=AuditSampleConfig)
    known_exploited: KnownExploitedConfig = field(default_factory=KnownExploitedConfig)
    targets: TargetsConfig = field(default_factory=TargetsConfig)
    environment: EnvironmentConfig = field(default_factory=EnvironmentConfig)
    source_file: Path | None = None
    crosswalk: CrosswalkConfig = field(default_factory=CrosswalkConfig)

    def sla_for(self, severity: str) -> int | None:
        return self.sla_days.get(severity.lower())


def _str(section: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"config [{section}] {key}: expected a non-empty string, got {value!r}")
    return value.strip()


def _str_list(section: str, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"config [{section}] {key}: expected a list of non-empty strings, got {value!r}")
    return tuple(v.strip() for v in value)


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """A value for an error message: repr (control characters escaped), cut to ``limit`` characters."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return text[:limit] + (f"... ({len(value)} characters)" if isinstance(value, str) else "...")


def _scope_value(where: str, key: str, value: Any, pattern: re.Pattern, what: str, hint: str) -> str:
    """One [scope] value checked before any request is sent: a wrong one is a typo, not an empty scope."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}[scope] {key}: expected a non-empty string, got {shown(value)}")
    if not pattern.fullmatch(value.strip()):
        raise ConfigError(f"{where}[scope] {key}: {shown(value)} is not {what}", hint=hint)
    return value.strip()


def _scope(table: Mapping[str, Any], source_file: Path | None) -> ScopeConfig:
    where = f"config file {source_file}: " if source_file else "config "
    guid_hint = "expected a GUID such as 00000000-0000-0000-0000-000000000000"

    def values(key: str, pattern: re.Pattern, what: str, hint: str) -> tuple[str, ...]:
        items = table.get(key, [])
        if not isinstance(items, list):
            raise ConfigError(f"{where}[scope] {key}: expected a list of strings, got {shown(items)}")
        return tuple(_scope_value(where, f"{key}[{i}]", v, pattern, what, hint) for i, v in enumerate(items))

    tenant_id = table.get("tenant_id")
    return ScopeConfig(
        tenant_id=None if tenant_id is None else _scope_value(where, "tenant_id", tenant_id, GUID, "a tenant id",
                                                              guid_hint),
        # Subscriptions are sent to Resource Graph, and compared with the subscriptionId it returns, as they
        # are written here: only the bare GUID works (a "/subscriptions/<guid>" form never did).
        subscriptions=values("subscriptions", GUID, "a subscription id",
                             f"{guid_hint}, without a /subscriptions/ prefix"),
        management_groups=values("management_groups", MANAGEMENT_GROUP, "a management group ID",
                                 "use the group's ID, not its display name: 1 to 90 letters, digits, hyphens, "
                                 "underscores, periods and parentheses, not ending with a period"),
    )


def _pos_int(section: str, key: str, value: Any, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or (maximum and value > maximum):
        limit = f" at most {maximum}" if maximum else ""
        raise ConfigError(f"config [{section}] {key}: expected a positive integer{limit}, got {value!r}")
    return value


def _non_negative_int(section: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"config [{section}] {key}: expected an integer >= 0, got {value!r}")
    return value


def _path(section: str, key: str, value: Any, base: Path) -> Path:
    path = Path(_str(section, key, value))
    return path if path.is_absolute() else (base / path)


def _check_keys(section: str, table: Any, allowed: set[str]) -> dict:
    if not isinstance(table, dict):
        raise ConfigError(f"config [{section}]: expected a table, got {table!r}")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(
            f"config [{section}]: unknown key {unknown[0]!r}", hint=f"allowed keys: {', '.join(sorted(allowed))}"
        )
    return table


SECTIONS = {
    "scope": {"tenant_id", "subscriptions", "management_groups"},
    "azure": {"cloud", "arm_endpoint", "logs_endpoint", "log_analytics_workspace_id",
              "subscription_batch_size", "max_concurrency"},
    "policy": {"definition_ids", "assessment_keys"},
    "controls": {"framework"},
    "owners": {"tag_keys", "mapping_file", "fallback"},
    "sla": {"critical", "high", "medium", "low"},
    "exceptions": {"file"},
    "report": {"organization", "title", "pdf_detail_rows"},
    "audit_sample": {"size", "seed"},
    "known_exploited": {"source"},
    "targets": {"overdue_critical_max", "sla_attainment_min_pct", "compliance_min_pct"},
    "environment": {"tag_keys", "production_values"},
    "crosswalk": {"frameworks"},
}


def _pct_value(section: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise ConfigError(f"config [{section}] {key}: expected a percentage from 0 to 100, got {value!r}")
    return float(value)


def parse_config(data: Mapping[str, Any], base: Path, source_file: Path | None = None) -> RunConfig:
    """Build a RunConfig from a parsed TOML mapping; relative paths resolve against ``base``."""
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"config: unknown section [{unknown[0]}]", hint=f"sections: {', '.join(SECTIONS)}")
    cfg = RunConfig(source_file=source_file)
    if "scope" in data:
        t = _check_keys("scope", data["scope"], SECTIONS["scope"])
        cfg = replace(cfg, scope=_scope(t, source_file))
    if "azure" in data:
        t = _check_keys("azure", data["azure"], SECTIONS["azure"])
        cloud = _str("azure", "cloud", t.get("cloud", "AzureCloud"))
        if cloud not in CLOUDS:
            raise ConfigError(f"config [azure] cloud: {cloud!r} is not one of {', '.join(CLOUDS)}")
        cfg = replace(cfg, azure=AzureConfig(
            cloud=cloud,
            arm_endpoint=_str("azure", "arm_endpoint", t["arm_endpoint"]) if "arm_endpoint" in t else None,
            logs_endpoint=_str("azure", "logs_endpoint", t["logs_endpoint"]) if "logs_endpoint" in t else None,
            log_analytics_workspace_id=(_str("azure", "log_analytics_workspace_id", t["log_analytics_workspace_id"])
                                        if "log_analytics_workspace_id" in t else None),
            subscription_batch_size=_pos_int("azure", "subscription_batch_size",
                                             t.get("subscription_batch_size", 200), maximum=1000),
            max_concurrency=_pos_int("azure", "max_concurrency", t.get("max_concurrency", 3), maximum=16),
        ))
    if "policy" in data:
        t = _check_keys("policy", data["policy"], SECTIONS["policy"])
        cfg = replace(cfg, policy=PolicyConfig(
            definition_ids=_str_list("policy", "definition_ids", t.get("definition_ids", [DEFAULT_POLICY_DEFINITION])),
            assessment_keys=_str_list("policy", "assessment_keys", t.get("assessment_keys", [DEFAULT_ASSESSMENT_KEY])),
        ))
    if "controls" in data:
        t = _check_keys("controls", data["controls"], SECTIONS["controls"])
        if "framework" in t:
            cfg = replace(cfg, controls_file=_path("controls", "framework", t["framework"], base))
    if "owners" in data:
        t = _check_keys("owners", data["owners"], SECTIONS["owners"])
        cfg = replace(cfg, owners=OwnersConfig(
            tag_keys=_str_list("owners", "tag_keys", t.get("tag_keys", ["owner"])),
            mapping_file=_path("owners", "mapping_file", t["mapping_file"], base) if "mapping_file" in t else None,
            fallback=_str("owners", "fallback", t.get("fallback", "Unassigned")),
        ))
    if "sla" in data:
        t = _check_keys("sla", data["sla"], SECTIONS["sla"])
        sla = dict(DEFAULT_SLA)
        sla.update({k: _pos_int("sla", k, v) for k, v in t.items()})
        cfg = replace(cfg, sla_days=sla)
    if "exceptions" in data:
        t = _check_keys("exceptions", data["exceptions"], SECTIONS["exceptions"])
        cfg = replace(cfg, exceptions=ExceptionsConfig(
            file=_path("exceptions", "file", t["file"], base) if "file" in t else None))
    if "report" in data:
        t = _check_keys("report", data["report"], SECTIONS["report"])
        defaults = ReportConfig()
        cfg = replace(cfg, report=ReportConfig(
            organization=_str("report", "organization", t.get("organization", defaults.organization)),
            title=_str("report", "title", t.get("title", defaults.title)),
            pdf_detail_rows=_pos_int("report", "pdf_detail_rows", t.get("pdf_detail_rows", defaults.pdf_detail_rows)),
        ))
    if "audit_sample" in data:
        t = _check_keys("audit_sample", data["audit_sample"], SECTIONS["audit_sample"])
        defaults = AuditSampleConfig()
        cfg = replace(cfg, audit_sample=AuditSampleConfig(
            size=_non_negative_int("audit_sample", "size", t.get("size", defaults.size)),
            seed=_non_negative_int("audit_sample", "seed", t.get("seed", defaults.seed)),
        ))
    if "known_exploited" in data:
        t = _check_keys("known_exploited", data["known_exploited"], SECTIONS["known_exploited"])
        if "source" in t:
            cfg = replace(cfg, known_exploited=KnownExploitedConfig(source=_kev_source(t["source"], base)))
    if "targets" in data:
        t = _check_keys("targets", data["targets"], SECTIONS["targets"])
        d = TargetsConfig()
        cfg = replace(cfg, targets=TargetsConfig(
            overdue_critical_max=_non_negative_int("targets", "overdue_critical_max",
                                                   t.get("overdue_critical_max", d.overdue_critical_max)),
            sla_attainment_min_pct=_pct_value("targets", "sla_attainment_min_pct",
                                              t.get("sla_attainment_min_pct", d.sla_attainment_min_pct)),
            compliance_min_pct=_pct_value("targets", "compliance_min_pct",
                                          t.get("compliance_min_pct", d.compliance_min_pct)),
        ))
    if "environment" in data:
        t = _check_keys("environment", data["environment"], SECTIONS["environment"])
        d = EnvironmentConfig()
        cfg = replace(cfg, environment=EnvironmentConfig(
            tag_keys=tuple(v.lower() for v in _str_list("environment", "tag_keys", t.get("tag_keys", list(d.tag_keys)))),
            production_values=tuple(v.lower() for v in _str_list(
                "environment", "production_values", t.get("production_values", list(d.production_values)))),
        ))
    if "crosswalk" in data:
        t = _check_keys("crosswalk", data["crosswalk"], SECTIONS["crosswalk"])
        names = t.get("frameworks", [])
        if not isinstance(names, list) or not all(isinstance(v, str) and v.strip() for v in names):
            raise ConfigError(f"config [crosswalk] frameworks: expected a list of framework ids, got {names!r}")
        from reportgen.frameworks import check_selection
        names = tuple(dict.fromkeys(v.strip() for v in names))
        check_selection(names, "config [crosswalk] frameworks")
        cfg = replace(cfg, crosswalk=CrosswalkConfig(frameworks=names))
    return cfg


def with_frameworks(cfg: RunConfig, frameworks: tuple[str, ...] | None) -> RunConfig:
    """``cfg`` with the command line's ``--framework`` selection (None: keep the config's)."""
    return cfg if frameworks is None else replace(cfg, crosswalk=CrosswalkConfig(frameworks=tuple(frameworks)))


def _kev_source(value: Any, base: Path) -> str:
    """An https URL (http only to a loopback host, for tests) or a file path resolved against ``base``."""
    text = _str("known_exploited", "source", value)
    lowered = text.lower()
    if lowered.startswith("https://"):
        return text
    if lowered.startswith("http://"):
        from urllib.parse import urlsplit
        host = (urlsplit(text).hostname or "").lower()
        if host in ("127.0.0.1", "localhost", "::1"):
            return text
        raise ConfigError(f"config [known_exploited] source: {shown(text)} is plain http",
                          hint="use the https URL of the catalogue, or a file path")
    if "://" in text:
        raise ConfigError(f"config [known_exploited] source: {shown(text)} is not an https URL or a file path")
    return str(_path("known_exploited", "source", text, base))


def with_audit_sample(cfg: RunConfig, size: int | None = None, seed: int | None = None) -> RunConfig:
    """``cfg`` with the command line's ``--sample-size`` / ``--sample-seed`` (None: keep the config's)."""
    sample = cfg.audit_sample
    if size is not None:
        sample = replace(sample, size=_non_negative_option("--sample-size", size))
    if seed is not None:
        sample = replace(sample, seed=_non_negative_option("--sample-seed", seed))
    return replace(cfg, audit_sample=sample)


def _non_negative_option(option: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{option} {value!r}: expected an integer >= 0")
    return value


def load_config(path: Path | None, env: Mapping[str, str] | None = None) -> RunConfig:
    """Read ``path`` (if given), then apply environment overrides."""
    env = os.environ if env is None else env
    if path is None:
        cfg = RunConfig()
    else:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} not found", hint="pass --config with an existing reportgen.toml")
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: invalid TOML: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"config file {path}: not UTF-8 text") from exc
        cfg = parse_config(data, base=path.resolve().parent, source_file=path)
    overrides = {}
    if env.get("REPORTGEN_ARM_ENDPOINT"):
        overrides["arm_endpoint"] = env["REPORTGEN_ARM_ENDPOINT"]
    if env.get("REPORTGEN_LOGS_ENDPOINT"):
        overrides["logs_endpoint"] = env["REPORTGEN_LOGS_ENDPOINT"]
    if overrides:
        cfg = replace(cfg, azure=replace(cfg.azure, **overrides))
    return cfg
