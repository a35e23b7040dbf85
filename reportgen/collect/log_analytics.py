"""Log Analytics source: continuous-export history over the report period.

Uses the official ``azure-monitor-query`` ``LogsQueryClient`` (``POST /v1/workspaces/{id}/
query``, through the client's own pipeline: credential, retries, headers) with the report
period as the query's timespan. A partial result (HTTP 200 with an ``error``, what the SDK
returns as ``LogsQueryPartialResult``) becomes a ``partial`` outcome carrying the
service's message; a workspace that cannot be read (not found, no permission) gives a
``skipped`` outcome with the reason, and the pack states the gap. Values come back as the
service sent them (numbers and booleans may be strings); the collector coerces them.

The response body is read here rather than by ``query_workspace``: the SDK converts every
cell of every row into ``LogsTableRow`` objects (about 13 s of CPU for 200,000 history
rows), which the collector would then take apart again. The request, the status handling
and the partial/complete rule are the SDK's; ``tests/test_collect_emulator.py`` checks that
both give the same rows, status and message.
"""

from __future__ import annotations

import logging
import time
from datetime import date, datetime, time as dtime, timedelta, timezone
from typing import Any, Mapping
from urllib.parse import quote

from azure.core.exceptions import (ClientAuthenticationError, HttpResponseError, ServiceRequestError,
                                   ServiceResponseError, map_error)
from azure.core.rest import HttpRequest
from azure.monitor.query import LogsQueryClient

from reportgen import __version__
from reportgen.collect.azure_auth import ENV_LOGS_TOKEN, SIGN_IN_HINT, Endpoints
from reportgen.collect.interface import COMPLETE, PARTIAL, SKIPPED, FailedBatch, QueryOutcome, RowSink, Source
from reportgen.errors import AuthError

log = logging.getLogger(__name__)

API_VERSION = "v1"


def period_timespan(period: tuple[date, date]) -> tuple[datetime, datetime]:
    """The report period as a UTC (start, end) pair; ``end`` is the day after the last day."""
    start = datetime.combine(period[0], dtime(0), tzinfo=timezone.utc)
    end = datetime.combine(period[1] + timedelta(days=1), dtime(0), tzinfo=timezone.utc)
    return start, end


def _first_line(text: Any, limit: int = 300) -> str:
    text = str(text or "").strip()
    return text.splitlines()[0][:limit] if text else ""


class LogAnalyticsSource(Source):
    """Runs query texts against one Log Analytics workspace over the report period."""

    service = "log_analytics"

    def __init__(self, endpoints: Endpoints, credential: Any, workspace_id: str, period: tuple[date, date], *,
                 retry_total: int = 3, server_timeout: int | None = None) -> None:
        self.endpoints = endpoints
        self.credential = credential
        self.workspace_id = workspace_id
        self.timespan = period_timespan(period)
        self.retry_total = retry_total
        self.server_timeout = server_timeout

    def _client(self) -> LogsQueryClient:
        return LogsQueryClient(self.credential, endpoint=self.endpoints.logs,
                               credential_scopes=[self.endpoints.logs_scope], retry_total=self.retry_total,
                               user_agent=f"reportgen/{__version__}")

    def run(self, query: str, text: str, sink: RowSink | None = None) -> QueryOutcome:
        started = time.monotonic()
        client = self._client()
        kwargs: dict[str, Any] = {}
        if self.endpoints.logs_is_plain_http:
            kwargs["enforce_https"] = False
        extra = {"api_version": API_VERSION, "workspace_id": self.workspace_id,
                 "timespan": timespan_text(self.timespan)}

        def outcome(**fields: Any) -> QueryOutcome:
            return QueryOutcome(query=query, text=text, requests=1, batches=1,
                                seconds=time.monotonic() - started, extra=extra, **fields)

        try:
            body = post_workspace_query(client, self.workspace_id, text, self.timespan, self.server_timeout, **kwargs)
        except ClientAuthenticationError as exc:
            raise AuthError(f"Log Analytics refused the credential (HTTP {exc.status_code})",
                            hint=f"{SIGN_IN_HINT}; a pipeline token for Log Analytics goes in {ENV_LOGS_TOKEN} "
                                 f"(audience {self.endpoints.logs_scope.removesuffix('/.default')})") from None
        except HttpResponseError as exc:
            code = getattr(getattr(exc, "error", None), "code", None)
            reason = f"HTTP {exc.status_code}{' ' + code if code else ''}: {_first_line(exc.message or exc)}"
            log.warning("%s: Log Analytics query failed: %s", query, reason)
            return outcome(status=SKIPPED, warnings=(f"{query}: Log Analytics workspace {self.workspace_id} "
                                                     f"could not be queried: {reason}",),
                           failed_batches=(FailedBatch("workspace", (self.workspace_id,), reason, exc.status_code),))
        except (ServiceRequestError, ServiceResponseError) as exc:
            reason = f"connection error: {_first_line(exc) or type(exc).__name__}"
            return outcome(status=SKIPPED, warnings=(f"{query}: Log Analytics could not be reached: {reason}",),
                           failed_batches=(FailedBatch("workspace", (self.workspace_id,), reason, None),))
        finally:
            client.close()
        rows = primary_rows(body)
        if sink is not None:
            sink(rows)
        kept = () if sink is not None else tuple(rows)
        error = body.get("error")
        if error:  # the SDK's rule: HTTP 200 with an error is a LogsQueryPartialResult
            return outcome(status=PARTIAL, rows=kept, row_count=len(rows), pages=1,
                           warnings=(f"{query}: Log Analytics returned partial results ({partial_reason(error)}); "
                                     f"{len(rows)} rows kept",))
        return outcome(status=COMPLETE, rows=kept, row_count=len(rows), pages=1)


def timespan_text(timespan: tuple[datetime, datetime]) -> str:
    """ISO 8601 ``start/end``, as the SDK writes a (start, end) timespan."""
    return "/".join(t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z") for t in timespan)


def post_workspace_query(client: LogsQueryClient, workspace_id: str, text: str, timespan: tuple[datetime, datetime],
                         server_timeout: int | None = None, **kwargs: Any) -> dict:
    """``POST /v1/workspaces/{id}/query`` through the client's pipeline; the JSON body of a 200 response."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if server_timeout:
        headers["Prefer"] = f"wait={server_timeout}"
    request = HttpRequest("POST", f"/workspaces/{quote(workspace_id, safe='')}/query", headers=headers,
                          json={"query": text, "timespan": timespan_text(timespan), "workspaces": None})
    response = client.send_request(request, **kwargs)
    if response.status_code != 200:
        map_error(status_code=response.status_code, response=response, error_map={401: ClientAuthenticationError})
        raise HttpResponseError(response=response)
    try:
        body = response.json()
    except ValueError as exc:
        raise HttpResponseError(message=f"Log Analytics returned a body that is not JSON ({exc})",
                                response=response) from None
    if not isinstance(body, dict):
        raise HttpResponseError(message="Log Analytics returned an unexpected body", response=response)
    return body


def partial_reason(error: Any) -> str:
    """The service's message for a partial result: code, message and the first detail."""
    if not isinstance(error, dict):
        return str(error)[:300]
    text = f"{error.get('code', 'PartialError')}: {_first_line(error.get('message'))}"
    details = error.get("details") or []
    if details and isinstance(details[0], dict) and details[0].get("message"):
        text += f" ({_first_line(details[0]['message'], 200)})"
    return text


def primary_rows(body: Mapping[str, Any]) -> list[dict]:
    """Rows of the primary result table as dicts keyed by column name."""
    tables = body.get("tables") or []
    if not tables:
        return []
    table = tables[0]
    columns = [c.get("name") for c in table.get("columns") or []]
    return [dict(zip(columns, row)) for row in table.get("rows") or []]
