"""The "azure" collection source: Resource Graph and Log Analytics through the official SDKs.

Opens a ``ResourceGraphSource`` for the configured scope and, when a workspace is
configured, a ``LogAnalyticsSource`` over the report period; without a workspace the Log
Analytics datasets are ``skipped`` with the reason. Credentials and endpoints come from
``azure_auth`` (``DefaultAzureCredential`` or a bearer token in the environment).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Mapping

from reportgen.collect.azure_auth import make_credentials, resolve_endpoints
from reportgen.collect.interface import Source, Sources
from reportgen.collect.log_analytics import LogAnalyticsSource
from reportgen.collect.resource_graph import QuotaPacer, ResourceGraphSource, RetrySettings
from reportgen.config import RunConfig
from reportgen.errors import ConfigError

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
NO_WORKSPACE = ("no Log Analytics workspace configured ([azure] log_analytics_workspace_id): "
                "continuous-export history is not included")


@dataclass(frozen=True)
class AzureOptions:
    """Knobs for tests and benchmarks; the defaults suit real Azure."""

    retry: RetrySettings = field(default_factory=RetrySettings)
    pacer: QuotaPacer | None = None
    la_retry_total: int = 3          # Log Analytics retries after 5xx and connection errors


# What `reportgen collect` uses (it passes no options); a test of the command line may swap it for
# faster retries.
DEFAULT_OPTIONS = AzureOptions()


def open_sources(config: RunConfig, period: tuple[date, date], options: Mapping[str, Any]) -> Sources:
    """``options``: ``env`` (the environment to read endpoints and tokens from), ``azure`` (AzureOptions)."""
    knobs: AzureOptions = options.get("azure") or DEFAULT_OPTIONS
    workspace = config.azure.log_analytics_workspace_id
    if workspace and not _GUID.match(workspace):
        raise ConfigError(f"config [azure] log_analytics_workspace_id: {workspace!r} is not a workspace id",
                          hint="use the Workspace ID (a GUID) from the workspace's Overview page")
    endpoints = resolve_endpoints(config.azure, options.get("env"))
    credentials = make_credentials(endpoints, config.scope.tenant_id, options.get("env"))
    by_service: dict[str, Source] = {"resource_graph": ResourceGraphSource(
        endpoints, credentials.arm, subscriptions=config.scope.subscriptions,
        management_groups=config.scope.management_groups, batch_size=config.azure.subscription_batch_size,
        pacer=knobs.pacer or QuotaPacer(), retry=knobs.retry)}
    unavailable = {}
    if workspace:
        by_service["log_analytics"] = LogAnalyticsSource(endpoints, credentials.logs, workspace, period,
                                                         retry_total=knobs.la_retry_total, retry=knobs.retry)
    else:
        unavailable["log_analytics"] = NO_WORKSPACE
    return Sources(
        source="azure", by_service=by_service, unavailable=unavailable, cloud=endpoints.cloud,
        scope={"tenant_id": config.scope.tenant_id, "subscriptions": list(config.scope.subscriptions),
               "management_groups": list(config.scope.management_groups)},
        subscriptions=tuple(config.scope.subscriptions),
        meta={"arm_endpoint": endpoints.arm, "logs_endpoint": endpoints.logs if workspace else None,
              "log_analytics_workspace_id": workspace, "credential": credentials.description},
        clock=time.monotonic, collector=credentials.arm.collector)
