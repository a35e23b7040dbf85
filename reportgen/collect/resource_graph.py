"""Azure Resource Graph source: every page of a query, over every scope batch, within quota.

Uses the official ``azure-mgmt-resourcegraph`` client (``POST /providers/Microsoft.ResourceGraph/
resources``). For each scope batch (at most 1,000 subscriptions per request, fewer by
default; or one management group with ``allowPartialScopes``; or the whole tenant) it
pages with ``$top`` 1000 and ``$skipToken``, resending the same query and scope, with
``resultFormat`` set explicitly. ``resultTruncated == "true"`` makes the dataset partial.

Throttling: every response carries ``x-ms-user-quota-remaining`` and
``x-ms-user-quota-resets-after``. ``QuotaPacer``, shared by every query of a run, keeps an
estimate of the remaining quota and holds requests back until the window resets, so a
run that honours the quota is not throttled. On HTTP 429 it waits as told (``Retry-After``
in seconds or as an HTTP date, ``retry-after-ms``, the quota reset, else a default) and
retries; 5xx and connection errors are retried a bounded number of times with backoff. A
batch that still fails is recorded (which members, why) and collection goes on; when every
batch failed the query's status is ``failed``. What the service said about a failure is
redacted (``reportgen.redact``) where it becomes text, before it is cut to one line.
Redirects are never followed: a token is sent only to the configured endpoint.
``x-ms-tenant-subscription-limit-hit: true`` (the identity sees more than 10,000
subscriptions) becomes a ``subscription-limit`` gap.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import urlsplit

from azure.core.exceptions import (ClientAuthenticationError, HttpResponseError, ServiceRequestError,
                                   ServiceResponseError, map_error)
from azure.core.rest import HttpRequest
from azure.mgmt.core.exceptions import ARMErrorFormat
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions, ResultFormat

from reportgen import __version__
from reportgen.collect.azure_auth import SIGN_IN_HINT, Endpoints
from reportgen.collect.interface import COMPLETE, FAILED, PARTIAL, FailedBatch, Gap, QueryOutcome, RowSink, Source
from reportgen.errors import AuthError
from reportgen.redact import redact

log = logging.getLogger(__name__)

API_VERSION = "2021-03-01"
RESOURCES_PATH = "/providers/Microsoft.ResourceGraph/resources"
PAGE_SIZE = 1000
MAX_SUBSCRIPTIONS_PER_REQUEST = 1000
QUOTA_REMAINING = "x-ms-user-quota-remaining"
QUOTA_RESETS_AFTER = "x-ms-user-quota-resets-after"
SUBSCRIPTION_LIMIT_HIT = "x-ms-tenant-subscription-limit-hit"
_REDIRECTS = {301, 302, 303, 307, 308}
_RETRYABLE = {408, 500, 502, 503, 504}
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$")


@dataclass(frozen=True)
class RetrySettings:
    """Bounds on retrying: transient errors with exponential backoff, 429s as the service says."""

    max_attempts: int = 5           # per request, for 5xx and connection errors
    max_throttled: int = 10         # per request, for HTTP 429
    backoff_base: float = 1.0       # seconds; doubles per attempt, with jitter
    backoff_max: float = 30.0
    default_throttle_wait: float = 5.0  # when a 429 says nothing about when to retry
    read_timeout: float = 120.0
    connection_timeout: float = 20.0
    max_throttle_wait: float = 300.0    # longest Retry-After honoured as such (Log Analytics)


def parse_resets_after(value: str | None) -> float | None:
    """``hh:mm:ss`` (optionally ``d.`` and fractional seconds) as seconds; None when absent or odd."""
    if not value:
        return None
    match = _TIMESPAN.match(value.strip())
    if not match:
        return None
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def retry_after_seconds(headers: Mapping[str, str], quota_reset: bool = True) -> float | None:
    """When a throttled or failed response says to retry: ms headers, Retry-After, then (if asked) the quota reset."""
    lower = {k.lower(): v for k, v in headers.items()}
    for key in ("retry-after-ms", "x-ms-retry-after-ms"):
        if key in lower:
            try:
                return max(0.0, float(lower[key]) / 1000.0)
            except ValueError:
                pass
    if "retry-after" in lower:
        value = lower["retry-after"].strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    return parse_resets_after(lower.get(QUOTA_RESETS_AFTER)) if quota_reset else None


def quota_from_headers(headers: Mapping[str, str]) -> tuple[int | None, float | None]:
    lower = {k.lower(): v for k, v in headers.items()}
    remaining = None
    if QUOTA_REMAINING in lower:
        try:
            remaining = int(str(lower[QUOTA_REMAINING]).strip())
        except ValueError:
            remaining = None
    return remaining, parse_resets_after(lower.get(QUOTA_RESETS_AFTER))


class QuotaPacer:
    """Shares one Resource Graph quota between every request of a run (all threads).

    Each response says how many requests are left (``remaining``) and when the window
    ends (``resets-after``); ``now + resets-after`` identifies the window (answers that
    arrive late still point at the same end, within latency). Requests reach the service
    in any order, so the estimate is the lowest ``remaining`` seen in the current window
    minus every request still in flight: it errs on the safe side and becomes exact as
    the answers come in. When nothing is left, requests wait until the window's end
    (plus a small margin). Until a response says how large the quota is, one request at
    a time probes it.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, margin: float = 0.05) -> None:
        self._clock = clock
        self._margin = margin
        self._cond = threading.Condition()
        self._in_flight = 0
        self._limit: int | None = None
        self._window = 0.0              # longest resets-after seen: the window length
        self._window_end: float | None = None
        self._previous_end: float | None = None
        self._server_low: int | None = None
        self._remaining: int | None = None
        self._blocked_until = 0.0
        self.waited = 0.0               # seconds spent holding requests back
        self.holds = 0                  # how many requests were held back

    def _wait(self, timeout: float | None) -> None:
        start = self._clock()
        self._cond.wait(timeout if timeout is None else max(0.0, timeout))
        self.waited += self._clock() - start

    def _reset_at(self) -> float | None:
        return None if self._window_end is None else self._window_end + self._margin

    def acquire(self) -> None:
        """Block until a request may be sent. Pair every call with ``release``."""
        with self._cond:
            held = False
            while True:
                now = self._clock()
                if now < self._blocked_until:
                    held = True
                    self._wait(self._blocked_until - now)
                    continue
                reset_at = self._reset_at()
                if reset_at is not None and now >= reset_at:
                    # A new window. Requests still in flight may be counted in it.
                    self._previous_end, self._window_end, self._server_low = self._window_end, None, None
                    self._remaining = None if self._limit is None else max(0, self._limit - self._in_flight)
                    reset_at = None
                if self._remaining is None:
                    if self._in_flight == 0:
                        break
                elif self._remaining > 0:
                    break
                elif reset_at is None and self._in_flight == 0:
                    break  # exhausted, no reset time known and nothing in flight to tell us: probe
                held = True
                self._wait(None if reset_at is None else reset_at - now)
            if held:
                self.holds += 1
            self._in_flight += 1
            if self._remaining is not None:
                self._remaining -= 1

    def release(self, headers: Mapping[str, str] | None, throttled: bool = False) -> None:
        """Record the answer to a request (``headers`` None when there was no response)."""
        with self._cond:
            self._in_flight -= 1
            now = self._clock()
            remaining, resets_after = quota_from_headers(headers or {})
            if remaining is not None and resets_after is not None and not throttled:
                self._limit = max(self._limit or 0, remaining + 1)
                self._window = max(self._window, resets_after)
                end = now + resets_after
                tolerance = max(0.5 * self._window, 0.01)
                if self._previous_end is not None and end < self._previous_end + tolerance \
                        and (self._window_end is None or end < self._window_end - tolerance):
                    pass  # an answer from a window that has already ended
                elif self._window_end is None or end > self._window_end + tolerance:
                    self._window_end, self._server_low = end, remaining  # the service started a new window
                else:
                    self._window_end = min(self._window_end, end)
                    self._server_low = remaining if self._server_low is None else min(self._server_low, remaining)
                if self._server_low is not None:
                    self._remaining = max(0, self._server_low - self._in_flight)
            if throttled:
                wait = retry_after_seconds(headers or {})
                self._remaining = 0
                if wait is not None:
                    self._previous_end = self._window_end
                    self._window_end = now + wait
                    self._server_low = 0
                    self._blocked_until = max(self._blocked_until, now + wait + self._margin)
            self._cond.notify_all()

    def block_for(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` (e.g. after a 429 without quota headers)."""
        with self._cond:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)
            self._remaining = 0
            self._window_end = max(self._window_end or 0.0, self._blocked_until - self._margin)
            self._cond.notify_all()


@dataclass(frozen=True)
class ScopeBatch:
    kind: str                       # subscriptions | management_groups | tenant
    members: tuple[str, ...]
    index: int
    total: int

    def describe(self) -> str:
        if self.kind == "tenant":
            return "tenant scope"
        shown = ", ".join(self.members[:5]) + (f" (+{len(self.members) - 5} more)" if len(self.members) > 5 else "")
        label = "subscriptions" if self.kind == "subscriptions" else "management group"
        return f"batch {self.index}/{self.total} ({label} {shown})"


def scope_batches(subscriptions: tuple[str, ...], management_groups: tuple[str, ...],
                  batch_size: int) -> list[ScopeBatch]:
    """Subscriptions in batches, else one batch per management group, else the tenant."""
    size = max(1, min(batch_size, MAX_SUBSCRIPTIONS_PER_REQUEST))
    parts: list[tuple[str, tuple[str, ...]]] = []
    subs = tuple(dict.fromkeys(s.strip() for s in subscriptions if s.strip()))
    for i in range(0, len(subs), size):
        parts.append(("subscriptions", subs[i:i + size]))
    for mg in dict.fromkeys(m.strip() for m in management_groups if m.strip()):
        parts.append(("management_groups", (mg,)))
    if not parts:
        parts.append(("tenant", ()))
    return [ScopeBatch(kind, members, i + 1, len(parts)) for i, (kind, members) in enumerate(parts)]


class _BatchFailed(Exception):
    def __init__(self, reason: str, status_code: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


def first_line(text: Any, limit: int = 300) -> str:
    """The first line of what a server or the SDK said, redacted, then cut to ``limit`` characters."""
    text = redact(text).strip()
    return text.splitlines()[0][:limit] if text else ""


def _error_text(exc: HttpResponseError) -> str:
    code = getattr(getattr(exc, "error", None), "code", None)
    message = getattr(getattr(exc, "error", None), "message", None) or exc.message or str(exc)
    status = exc.status_code
    return f"HTTP {status}{' ' + first_line(code, 100) if code else ''}: {first_line(message) or type(exc).__name__}"


def redirect_reason(status: int | None, headers: Mapping[str, str] | None) -> str:
    """Why a redirect ends the request: it names the status and where it pointed (scheme and host only:
    a Location's path or query may carry anything)."""
    location = {k.lower(): v for k, v in (headers or {}).items()}.get("location", "")
    where = ""
    if location:
        try:
            parts = urlsplit(location)
            where = f" to {parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}" if parts.netloc else " to a relative location"
        except ValueError:
            where = " to an unreadable location"
    return (f"HTTP {status}: the endpoint redirected the request{where}; redirects are not followed, so that the "
            "token is sent only to the configured endpoint")


SUBSCRIPTION_LIMIT_GAP = Gap(
    "subscription-limit",
    "Resource Graph reported that the identity can see more than 10,000 subscriptions "
    "(x-ms-tenant-subscription-limit-hit): queries at tenant or management-group scope cover only part of them. "
    "Name the subscriptions in [scope] subscriptions to read them all.")


def rows_of(data: Any) -> list[dict]:
    """Rows of a Resource Graph response in either result format."""
    if data is None:
        return []
    if isinstance(data, list):
        return [dict(r) for r in data]
    if isinstance(data, dict) and "columns" in data and "rows" in data:
        names = [c["name"] for c in data["columns"]]
        return [dict(zip(names, row)) for row in data["rows"]]
    raise ValueError(f"unexpected Resource Graph data of type {type(data).__name__}")


def total_records_of(batch_results: list[dict]) -> int | None:
    """Azure's totalRecords summed over the batches that reported it; None when none did."""
    known = [b["total_records"] for b in batch_results if b.get("total_records") is not None]
    return sum(int(t) for t in known) if known else None


@dataclass(frozen=True)
class Page:
    """One Resource Graph response (the fields of the SDK's QueryResponse that paging needs)."""

    total_records: int | None
    count: int | None
    result_truncated: str | None
    skip_token: str | None
    data: Any


def post_query(client: ResourceGraphClient, request: QueryRequest, **kwargs: Any) -> Page:
    """``client.resources(request)``, reading the response body without the SDK's generic model deserializer.

    The request goes through the client's own pipeline (credential, ARM policies, headers,
    hooks) with the body the SDK itself serialises from ``QueryRequest``; only the response
    is read here. The SDK deserialises every value under ``data`` one by one (typed
    ``object``), which costs about 0.2 s per 1,000-row page: enough to make a large tenant
    CPU-bound instead of quota-bound. ``tests/test_collect_emulator.py`` checks that this
    returns exactly what ``client.resources`` returns.
    """
    http_request = HttpRequest("POST", RESOURCES_PATH, params={"api-version": API_VERSION},
                               headers={"Content-Type": "application/json", "Accept": "application/json"},
                               json=request.serialize())
    response = client._send_request(http_request, **kwargs)  # noqa: SLF001 - the SDK's documented raw-request entry
    if response.status_code != 200:
        map_error(status_code=response.status_code, response=response, error_map={401: ClientAuthenticationError})
        raise HttpResponseError(response=response, error_format=ARMErrorFormat)
    try:
        body = response.json()
    except ValueError as exc:
        raise HttpResponseError(message=f"Resource Graph returned a body that is not JSON ({exc})",
                                response=response) from None
    if not isinstance(body, dict):
        raise HttpResponseError(message="Resource Graph returned an unexpected body", response=response)
    return Page(total_records=body.get("totalRecords"), count=body.get("count"),
                result_truncated=body.get("resultTruncated"), skip_token=body.get("$skipToken"),
                data=body.get("data"))


class ResourceGraphSource(Source):
    """Runs query texts against Resource Graph for the configured scope."""

    service = "resource_graph"

    def __init__(self, endpoints: Endpoints, credential: Any, *, subscriptions: tuple[str, ...] = (),
                 management_groups: tuple[str, ...] = (), batch_size: int = 200,
                 pacer: QuotaPacer | None = None, retry: RetrySettings = RetrySettings(),
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.endpoints = endpoints
        self.credential = credential
        self.batches = scope_batches(subscriptions, management_groups, batch_size)
        self.pacer = pacer or QuotaPacer()
        self.retry = retry
        self._sleep = sleep

    def _client(self) -> ResourceGraphClient:
        return ResourceGraphClient(
            self.credential, base_url=self.endpoints.arm, credential_scopes=[self.endpoints.arm_scope],
            api_version=API_VERSION, retry_total=0, permit_redirects=False, user_agent=f"reportgen/{__version__}",
            connection_timeout=self.retry.connection_timeout, read_timeout=self.retry.read_timeout)

    def _backoff(self, attempt: int) -> float:
        base = min(self.retry.backoff_max, self.retry.backoff_base * (2 ** (attempt - 1)))
        return base * (0.5 + random.random() / 2)

    def run(self, query: str, text: str, sink: RowSink | None = None) -> QueryOutcome:
        started = time.monotonic()
        client = self._client()
        rows: list[dict] = []
        count = 0
        stats = {"pages": 0, "requests": 0, "throttled": 0, "retries": 0, "limit_hit": False}
        warnings: list[str] = []
        failed: list[FailedBatch] = []
        truncated = False
        batch_totals = []
        try:
            for batch in self.batches:
                got = 0
                total_records = None
                try:
                    for page in self._pages(client, query, text, batch, stats):
                        page_rows = rows_of(page.data)
                        if sink is None:
                            rows.extend(page_rows)
                        else:
                            sink(page_rows)
                        got += len(page_rows)
                        count += len(page_rows)
                        total_records = page.total_records
                        if str(page.result_truncated).lower() == "true":
                            truncated = True
                            warnings.append(f"{query}: {batch.describe()}: Resource Graph truncated the result "
                                            f"({got} of {page.total_records} rows returned, no skip token); "
                                            "the dataset is incomplete")
                except _BatchFailed as exc:
                    failed.append(FailedBatch(batch.kind, batch.members, exc.reason, exc.status_code))
                    warnings.append(f"{query}: {batch.describe()} failed: {exc.reason}"
                                    + (f" ({got} rows were read before the failure)" if got else ""))
                    log.info("%s: %s failed: %s", query, batch.describe(), exc.reason)  # reported in the outcome
                    continue
                batch_totals.append({"batch": batch.index, "kind": batch.kind, "members": len(batch.members),
                                     "rows": got, "total_records": total_records})
                if total_records is not None and not truncated and total_records != got:
                    warnings.append(f"{query}: {batch.describe()}: {got} rows read but the service reported "
                                    f"{total_records} (data changed while paging?)")
        finally:
            client.close()
        if failed and len(failed) == len(self.batches) and not count:
            status = FAILED
        elif failed or truncated:
            status = PARTIAL
        else:
            status = COMPLETE
        gaps: tuple[Gap, ...] = ()
        if stats["limit_hit"]:
            gaps = (SUBSCRIPTION_LIMIT_GAP,)
            warnings.append(f"{query}: Resource Graph reported the tenant subscription limit "
                            f"({SUBSCRIPTION_LIMIT_HIT}: true); the result covers only part of the tenant")
        return QueryOutcome(
            query=query, text=text, rows=tuple(rows), row_count=count, status=status, pages=stats["pages"],
            requests=stats["requests"], throttled=stats["throttled"], retries=stats["retries"],
            seconds=time.monotonic() - started, warnings=tuple(warnings), failed_batches=tuple(failed),
            batches=len(self.batches), truncated=truncated, gaps=gaps,
            extra={"api_version": API_VERSION, "batch_results": batch_totals,
                   "total_records": total_records_of(batch_totals)})

    def _pages(self, client: ResourceGraphClient, query: str, text: str, batch: ScopeBatch,
               stats: dict) -> Iterator[Page]:
        skip_token: str | None = None
        seen_tokens: set[str] = set()
        while True:
            options = QueryRequestOptions(top=PAGE_SIZE, result_format=ResultFormat.OBJECT_ARRAY,
                                          skip_token=skip_token,
                                          allow_partial_scopes=True if batch.kind != "subscriptions" else None)
            request = QueryRequest(
                query=text,
                subscriptions=list(batch.members) if batch.kind == "subscriptions" else None,
                management_groups=list(batch.members) if batch.kind == "management_groups" else None,
                options=options)
            page, headers = self._request(client, query, request, stats)
            if str({k.lower(): v for k, v in headers.items()}.get(SUBSCRIPTION_LIMIT_HIT, "")).strip().lower() == "true":
                stats["limit_hit"] = True
            stats["pages"] += 1
            log.debug("%s: %s page %d: %d rows", query, batch.describe(), stats["pages"], page.count or 0)
            yield page
            skip_token = page.skip_token
            if not skip_token or str(page.result_truncated).lower() == "true":
                return
            if skip_token in seen_tokens:
                raise _BatchFailed("the service returned the same skip token twice; paging stopped", None)
            seen_tokens.add(skip_token)

    def _request(self, client: ResourceGraphClient, query: str, request: QueryRequest,
                 stats: dict) -> tuple[Page, dict[str, str]]:
        attempts = throttles = 0
        plain_http = self.endpoints.arm_is_plain_http
        while True:
            headers: dict[str, str] = {}

            def capture(response: Any) -> None:
                headers.update(response.http_response.headers)

            self.pacer.acquire()
            stats["requests"] += 1
            try:
                kwargs = {"raw_response_hook": capture}
                if plain_http:
                    kwargs["enforce_https"] = False
                page = post_query(client, request, **kwargs)
            except ClientAuthenticationError as exc:
                self.pacer.release(getattr(exc.response, "headers", None))
                raise AuthError(f"Azure Resource Graph refused the credential ({_error_text(exc)})",
                                hint=SIGN_IN_HINT) from None
            except HttpResponseError as exc:
                resp_headers = dict(exc.response.headers) if exc.response is not None else {}
                status = exc.status_code
                self.pacer.release(resp_headers, throttled=status == 429)
                if status == 429:
                    stats["throttled"] += 1
                    throttles += 1
                    if throttles > self.retry.max_throttled:
                        raise _BatchFailed(f"still throttled after {throttles} attempts: {_error_text(exc)}", 429)
                    if retry_after_seconds(resp_headers) is None:
                        self.pacer.block_for(self.retry.default_throttle_wait)
                    stats["retries"] += 1
                    log.info("%s: throttled (429); waiting as told, then retrying", query)
                    continue
                if status in _REDIRECTS:
                    raise _BatchFailed(redirect_reason(status, resp_headers), status)
                attempts += 1
                if status in _RETRYABLE or (status is not None and status >= 506):
                    if attempts >= self.retry.max_attempts:
                        raise _BatchFailed(f"{_error_text(exc)} (after {attempts} attempts)", status)
                    wait = retry_after_seconds(resp_headers, quota_reset=False)
                    stats["retries"] += 1
                    self._sleep(wait if wait is not None and wait <= self.retry.backoff_max else self._backoff(attempts))
                    continue
                raise _BatchFailed(_error_text(exc), status)
            except (ServiceRequestError, ServiceResponseError) as exc:
                self.pacer.release(None)
                attempts += 1
                reason = f"connection error: {first_line(exc, 200) or type(exc).__name__}"
                if attempts >= self.retry.max_attempts:
                    raise _BatchFailed(f"{reason} (after {attempts} attempts)", None)
                stats["retries"] += 1
                self._sleep(self._backoff(attempts))
                continue
            except BaseException:
                self.pacer.release(None)
                raise
            self.pacer.release(headers)
            return page, headers
