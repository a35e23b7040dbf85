"""Log Analytics source: continuous-export history over the report period.

Uses the official ``azure-monitor-query`` ``LogsQueryClient`` (``POST /v1/workspaces/{id}/
query``, through the client's own pipeline: credential, headers, logging) with the report
period as the query's timespan. HTTP 429 (waiting as ``Retry-After`` says), 5xx and dropped
connections are retried a bounded number of times (here, not by the SDK's retry policy, so
that the outcome counts them and the waits follow ``RetrySettings``). A partial result (HTTP
200 with an ``error``, what the SDK returns as ``LogsQueryPartialResult``) becomes a
``partial`` outcome carrying the service's message; a request that failed for good (the
workspace not found, no permission, errors past the retries) gives a ``failed`` outcome with
the reason, and the pack states the gap. Every text taken from a response is redacted
(``reportgen.redact``) before it is cut to one line. Redirects are not followed. Values come
back as the service sent them (numbers and booleans may be strings); the collector coerces
them.

The response body is read here rather than by ``query_workspace``: the SDK converts every
cell of every row into ``LogsTableRow`` objects (about 13 s of CPU for 200,000 history
rows), which the collector would then take apart again. The request, the status handling
and the partial/complete rule are the SDK's; ``tests/test_collect_emulator.py`` checks that
both give the same rows, status and message.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import date, datetime, time as dtime, timedelta, timezone
from typing import Any, Callable, Mapping
from urllib.parse import quote

from azure.core.exceptions import (ClientAuthenticationError, HttpResponseError, ServiceRequestError,
                                   ServiceResponseError, map_error)
from azure.core.rest import HttpRequest
from azure.monitor.query import LogsQueryClient

from reportgen import __version__
from reportgen.collect.azure_auth import ENV_LOGS_TOKEN, SIGN_IN_HINT, Endpoints
from reportgen.collect.interface import COMPLETE, FAILED, PARTIAL, FailedBatch, QueryOutcome, RowSink, Source
from reportgen.collect.resource_graph import RetrySettings, first_line, redirect_reason, retry_after_seconds
from reportgen.errors import AuthError

log = logging.getLogger(__name__)

API_VERSION = "v1"
_RETRYABLE = {408, 500, 502, 503, 504}
_REDIRECTS = {301, 302, 303, 307, 308}


def period_timespan(period: tuple[date, date]) -> tuple[datetime, datetime]:
    """The report period as a UTC (start, end) pair; ``end`` is the day after the last day."""
    start = datetime.combine(period[0], dtime(0), tzinfo=timezone.utc)
    end = datetime.combine(period[1] + timedelta(days=1), dtime(0), tzinfo=timezone.utc)
    return start, end


class LogAnalyticsSource(Source):
    """Runs query texts against one Log Analytics workspace over the report period."""

    service = "log_analytics"

    def __init__(self, endpoints: Endpoints, credential: Any, workspace_id: str, period: tuple[date, date], *,
                 retry_total: int = 3, server_timeout: int | None = None, retry: RetrySettings = RetrySettings(),
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.endpoints = endpoints
        self.credential = credential
        self.workspace_id = workspace_id
        self.timespan = period_timespan(period)
        self.retry_total = retry_total      # retries after 5xx and connection errors (429s: retry.max_throttled)
        self.server_timeout = server_timeout
        self.retry = retry
        self._sleep = sleep

    def _client(self) -> LogsQueryClient:
        return LogsQueryClient(self.credential, endpoint=self.endpoints.logs,
                               credential_scopes=[self.endpoints.logs_scope], retry_total=0, permit_redirects=False,
                               connection_timeout=self.retry.connection_timeout, read_timeout=self.retry.read_timeout,
                               user_agent=f"reportgen/{__version__}")

    def _backoff(self, attempt: int) -> float:
        base = min(self.retry.backoff_max, self.retry.backoff_base * (2 ** (attempt - 1)))
        return base * (0.5 + random.random() / 2)

    def run(self, query: str, text: str, sink: RowSink | None = None) -> QueryOutcome:
        started = time.monotonic()
        client = self._client()
        kwargs: dict[str, Any] = {}
        if self.endpoints.logs_is_plain_http:
            kwargs["enforce_https"] = False
        extra = {"api_version": API_VERSION, "workspace_id": self.workspace_id,
                 "timespan": timespan_text(self.timespan)}

        stats = {"requests": 0, "throttled": 0, "retries": 0}

        def outcome(**fields: Any) -> QueryOutcome:
            return QueryOutcome(query=query, text=text, batches=1, seconds=time.monotonic() - started, extra=extra,
                                **stats, **fields)

        try:
            body = self._request(client, query, text, stats, kwargs)
        except _Failed as exc:
            log.info("%s: Log Analytics query failed: %s", query, exc.reason)  # reported in the outcome
            return outcome(status=FAILED, warnings=(f"{query}: Log Analytics workspace {self.workspace_id} "
                                                    f"could not be queried: {exc.reason}",),
                           failed_batches=(FailedBatch("workspace", (self.workspace_id,), exc.reason,
                                                       exc.status_code),))
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

    def _request(self, client: LogsQueryClient, query: str, text: str, stats: dict, kwargs: Mapping[str, Any]) -> dict:
        """One query, retried after 429 (as long as the service asks), 5xx and dropped connections."""
        attempts = throttles = 0
        while True:
            stats["requests"] += 1
            try:
                return post_workspace_query(client, self.workspace_id, text, self.timespan, self.server_timeout,
                                            **kwargs)
            except ClientAuthenticationError as exc:
                raise AuthError(f"Log Analytics refused the credential (HTTP {exc.status_code})",
                                hint=f"{SIGN_IN_HINT}; a pipeline token for Log Analytics goes in {ENV_LOGS_TOKEN} "
                                     f"(audience {self.endpoints.logs_scope.removesuffix('/.default')})") from None
            except HttpResponseError as exc:
                status = exc.status_code
                headers = dict(exc.response.headers) if exc.response is not None else {}
                if status in _REDIRECTS:
                    raise _Failed(redirect_reason(status, headers), status) from None
                reason = _error_text(exc)
                if status == 429:
                    stats["throttled"] += 1
                    throttles += 1
                    if throttles > self.retry.max_throttled:
                        raise _Failed(f"still throttled after {throttles} attempts: {reason}", status) from None
                    wait = retry_after_seconds(headers)
                    wait = self._backoff(throttles) if wait is None else min(wait, self.retry.max_throttle_wait)
                elif status in _RETRYABLE or (status is not None and status >= 506):
                    attempts += 1
                    if attempts > self.retry_total:
                        raise _Failed(f"{reason} (after {attempts} attempts)", status) from None
                    wait = retry_after_seconds(headers, quota_reset=False)
                    wait = wait if wait is not None and wait <= self.retry.backoff_max else self._backoff(attempts)
                else:
                    raise _Failed(reason, status) from None
            except (ServiceRequestError, ServiceResponseError) as exc:
                attempts += 1
                reason = f"connection error: {first_line(exc) or type(exc).__name__}"
                if attempts > self.retry_total:
                    raise _Failed(f"{reason} (after {attempts} attempts)", None) from None
                wait = self._backoff(attempts)
            stats["retries"] += 1
            log.info("%s: Log Analytics request failed; retrying in %.2f s", query, wait)
            self._sleep(wait)


class _Failed(Exception):
    def __init__(self, reason: str, status_code: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


def _error_text(exc: HttpResponseError) -> str:
    """The status, the service's error code and the first line of its message (nothing more: a
    message may go on with details that do not belong in a pack)."""
    code = getattr(getattr(exc, "error", None), "code", None)
    return f"HTTP {exc.status_code}{' ' + first_line(code, 100) if code else ''}: {first_line(exc.message or exc)}"


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
        return first_line(error)
    text = f"{first_line(error.get('code', 'PartialError'), 100)}: {first_line(error.get('message'))}"
    details = error.get("details") or []
    if details and isinstance(details[0], dict) and details[0].get("message"):
        text += f" ({first_line(details[0]['message'], 200)})"
    return text


def primary_rows(body: Mapping[str, Any]) -> list[dict]:
    """Rows of the primary result table as dicts keyed by column name."""
    tables = body.get("tables") or []
    if not tables:
        return []
    table = tables[0]
    columns = [c.get("name") for c in table.get("columns") or []]
    return [dict(zip(columns, row)) for row in table.get("rows") or []]
