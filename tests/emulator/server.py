"""A loopback emulator of Azure Resource Graph and Log Analytics for the real SDK clients.

It implements the two REST contracts the SDKs use:

- ``POST /providers/Microsoft.ResourceGraph/resources?api-version=...`` (azure-mgmt-resourcegraph)
- ``POST /v1/workspaces/{workspaceId}/query`` (azure-monitor-query)

and answers both the way the services do: it holds the raw records of a tenant (the rows of
Resource Graph's ``resources``, ``resourcecontainers``, ``policyresources`` and
``securityresources`` tables, and the workspace's continuous-export tables) in two
``reportgen.kql.engine.RecordStore``s and **executes the query text it receives** over the
records the request may see. Nothing is routed by comment lines: a wrong property path in a
query file gives the same empty values here as in Azure. (The ``// dataset:`` line only
labels a ``RequestRecord`` and lets a test aim a fault at one dataset.)

Resource Graph: scope is applied to the records (``subscriptions`` in the body; management
groups mapped to their subscriptions; neither = the tenant), subscriptions the identity
cannot read are dropped without an error, and HTTP 400 ``NoValidSubscriptionsInQueryRequest``
when none is left; the executed result is cached per (text, scope) so that paging does not
re-run it; ``$top``/``$skipToken`` paging with the token bound to the text and scope it was
issued for, and a skip token only when the result projects ``id`` (otherwise a longer result
is answered ``resultTruncated``); ``resultFormat`` table or objectArray; a per-user quota with
``x-ms-user-quota-*`` headers on every response and HTTP 429 past it; a query the engine
cannot run is HTTP 400 carrying the engine's message.

Log Analytics: the request's ``timespan`` (ISO 8601 ``start/end``, ``start/duration`` or a
duration ending now) is applied to ``TimeGenerated``; the answer is ``PrimaryResult`` with
Kusto column types taken from the result, values optionally as strings (as the REST example
sends them).

Faults are configured per test on ``emulator.faults`` (``Faults``): 429s in every style
Azure uses (quota headers, ``Retry-After`` in seconds or as an HTTP date, ``retry-after-ms``,
nothing at all), 5xx bursts, dropped connections, truncated results, unreadable
subscriptions, failing subscription batches, the tenant subscription limit, redirects, and
Log Analytics partial results and refusals.
"""

from __future__ import annotations

import base64
import hashlib
import json
import multiprocessing
import re
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa

from reportgen.kql.catalog import load_tables
from reportgen.kql.engine import EngineError, RecordStore, Result, Scope

ARG_PATH = "/providers/Microsoft.ResourceGraph/resources"

# The identity the emulator issues its token to: a service principal, as the claims of a Microsoft
# identity platform app-only access token name it (tid, oid, appid, idtyp; learn.microsoft.com
# entra/identity-platform/access-token-claims-reference). The emulator never checks a signature.
EMULATOR_CLAIMS = {
    "aud": "https://management.azure.com", "iss": "https://sts.windows.net/5f0e3c2a-8d4b-4e6f-9a1b-2c3d4e5f6a7b/",
    "tid": "5f0e3c2a-8d4b-4e6f-9a1b-2c3d4e5f6a7b", "oid": "9d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6",
    "appid": "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f", "idtyp": "app", "sub": "9d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6",
    "ver": "1.0",
}


def jwt_token(claims: Mapping[str, Any], signature: str = "emulator-signature-not-checked") -> str:
    """A JWT-shaped bearer token (header.payload.signature, base64url without padding) with ``claims``."""
    def part(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode().rstrip("=")
    return ".".join((part({"typ": "JWT", "alg": "RS256", "kid": "emulator"}), part(dict(claims)),
                     base64.urlsafe_b64encode(signature.encode()).decode().rstrip("=")))


EMULATOR_TOKEN = jwt_token(EMULATOR_CLAIMS)
STATS_PATH = "/_emulator/records"
LA_PATH = re.compile(r"^/v1/workspaces/([^/]+)/query$")
LEGACY, INDIVIDUAL = "findings.subassessments", "findings.recommendations"
ANY = "*"   # a fault counter under this key applies to every request of the service
_DATASET_LINE = re.compile(r"^// dataset: ([a-z_]+)\s*$", re.M)
_QUERY_LINE = re.compile(r"^// query: ([A-Za-z0-9_.]+)", re.M)
_DURATION = re.compile(r"^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
THROTTLE_STYLES = ("quota", "retry-after", "http-date", "retry-after-ms", "bare")

Records = Mapping[str, "pa.Table | Sequence[Mapping[str, Any]]"]


@dataclass
class Faults:
    """What the emulator does wrong, per test. Counters are consumed as requests arrive; a counter
    is keyed by query name (``findings.recommendations``), dataset name, or ``ANY``."""

    quota_limit: int = 15
    quota_window: float = 5.0
    page_size: int = 1000                      # rows per page at most (ARG may return fewer than $top)
    # HTTP 429: by Resource Graph request number (1-based) or by query/dataset, in one of THROTTLE_STYLES
    throttle_requests: set[int] = field(default_factory=set)
    throttle: dict[str, int] = field(default_factory=dict)
    throttle_style: str = "quota"
    throttle_wait: float = 0.05                # seconds asked for (quota and retry-after-ms styles)
    retry_after: int = 1                       # seconds asked for by the retry-after and http-date styles
    server_errors: dict[str, int] = field(default_factory=dict)   # 5xx responses first (both services)
    server_error_status: int = 503
    drop_connections: dict[str, int] = field(default_factory=dict)  # connections closed without an answer
    redirect: dict[str, str] = field(default_factory=dict)  # query/dataset/ANY -> Location of a 307
    truncate: set[str] = field(default_factory=set)              # datasets answered truncated
    unreadable_subscriptions: set[str] = field(default_factory=set)  # dropped silently, as ARG does
    failing_subscriptions: set[str] = field(default_factory=set)  # a batch containing one always fails
    failing_status: int = 403
    error_detail: str = ""                     # a second line in every error message (tests keep it out)
    echo_authorization: bool = False           # every error message quotes the request's Authorization header
    subscription_limit_hit: bool = False       # x-ms-tenant-subscription-limit-hit: true on every answer
    la_partial: set[str] = field(default_factory=set)            # LA datasets answered with PartialError
    la_fail: dict[str, int] = field(default_factory=dict)        # LA dataset -> HTTP status, for good
    la_values_as_strings: bool = True          # numbers/bools as strings, as in the REST example


@dataclass(frozen=True)
class RequestRecord:
    service: str
    path: str
    dataset: str | None
    query: str | None
    status: int
    subscriptions: tuple[str, ...] | None = None
    management_groups: tuple[str, ...] | None = None
    skip_token: str | None = None
    top: int | None = None
    result_format: str | None = None
    allow_partial_scopes: bool | None = None
    api_version: str | None = None
    rows: int = 0
    timespan: str | None = None
    time: float = 0.0                   # time.monotonic() on arrival
    wall: float = 0.0                   # time.time() on arrival
    quota_throttled: bool = False
    injected: str | None = None         # 429 | 5xx | drop | redirect | partial | fail
    text: str | None = None
    scope: tuple[str, ...] | None = None  # the subscriptions whose records the request saw (None = all)
    seconds: float = 0.0                # time to answer (executing the text, unless already executed)


def _timespan_text(seconds: float) -> str:
    seconds = max(0.0, seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:010.7f}"


def _duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if not match or not any(match.groups()):
        raise ValueError(f"{text!r} is not an ISO 8601 duration")
    d, h, m, s = (float(g) if g else 0.0 for g in match.groups())
    return timedelta(days=d, hours=h, minutes=m, seconds=s)


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def parse_timespan(text: str | None, now: datetime | None = None) -> tuple[datetime, datetime] | None:
    """A Log Analytics ``timespan``: ``start/end``, ``start/duration``, ``duration/end`` or a duration
    ending now (what ``azure-monitor-query`` sends for a ``timedelta``). None = no time range."""
    if not text:
        return None
    now = now or datetime.now(timezone.utc)
    if "/" in text:
        first, second = text.split("/", 1)
        if first.startswith("P"):
            end = _instant(second)
            return end - _duration(first), end
        start = _instant(first)
        return (start, start + _duration(second)) if second.startswith("P") else (start, _instant(second))
    return now - _duration(text), now


class SharedResults:
    """A ``RecordStore`` whose results are kept per (text, scope), for every emulator serving one tenant.

    Every text an emulator receives is still executed by the engine over the records its scope
    allows; a tenant shared by many tests only runs the same text over the same scope once."""

    def __init__(self, store: RecordStore) -> None:
        self.store = store
        self.tables = store.tables
        self._results: dict[tuple[str, str], Result] = {}
        self._lock = threading.Lock()

    def run(self, text: str, scope: Scope = Scope()) -> Result:
        key = (hashlib.sha256(text.encode()).hexdigest(), scope.key())
        with self._lock:
            cached = self._results.get(key)
        if cached is None:
            cached = self.store.run(text, scope)
            with self._lock:
                cached = self._results.setdefault(key, cached)
        return cached


def _store(records: "RecordStore | SharedResults | Records",
           schemas: Mapping[str, Mapping[str, str]]) -> "RecordStore | SharedResults":
    if isinstance(records, (RecordStore, SharedResults)):
        return records
    tables = {name: rows if isinstance(rows, pa.Table) else
              RecordStore.from_records({name: rows}, {name: schemas[name]}).tables[name]
              for name, rows in records.items()}
    return RecordStore(tables, schemas)


_ARG_TYPES = {"string": "string", "int64": "integer", "int32": "integer", "double": "number", "bool": "boolean"}
_KUSTO_TYPES = {"string": "string", "int64": "long", "int32": "int", "double": "real", "bool": "bool"}


def _column_type(result: Result, name: str, types: Mapping[str, str], dynamic: str, datetime_: str) -> str:
    if name in result.dynamic:
        return dynamic
    arrow = result.table.schema.field(name).type
    if pa.types.is_timestamp(arrow):
        return datetime_
    return types.get(str(arrow), "string")


class AzureEmulator:
    """Executes the query texts the real SDK clients send over a tenant's raw records, in-process.

    ``resource_graph`` / ``log_analytics``: a ``RecordStore``, or table name -> raw records
    (Arrow tables or lists of dicts, as ``reportgen.collect.sample.records`` makes them).
    ``management_groups``: group name -> its subscriptions.
    """

    def __init__(self, resource_graph: "RecordStore | Records", log_analytics: "RecordStore | Records | None" = None,
                 *, token: str = EMULATOR_TOKEN, logs_token: str | None = None,
                 workspace_id: str = "00000000-0000-0000-0000-00000000beef",
                 management_groups: Mapping[str, Sequence[str]] | None = None, faults: Faults | None = None,
                 host: str = "127.0.0.1") -> None:
        schemas = load_tables()
        self.resource_graph = _store(resource_graph, schemas["resource_graph"])
        self.log_analytics = _store(log_analytics or {}, schemas["log_analytics"])
        self.token = token
        self.logs_token = logs_token or token
        self.workspace_id = workspace_id
        self.management_groups = {k: [s.lower() for s in v] for k, v in (management_groups or {}).items()}
        self.faults = faults or Faults()
        self.host = host
        self.records: list[RequestRecord] = []
        self.executions = 0               # texts run for this emulator (each (text, scope) once, whatever the pages)
        self._lock = threading.Lock()
        self._arg_count = 0
        self._window_start: float | None = None
        self._window_used = 0
        self._results: dict[tuple[str, str, str], Result] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._all_subscriptions = self._subscriptions_of(self.resource_graph)

    @staticmethod
    def _subscriptions_of(store: RecordStore) -> frozenset[str]:
        subs: set[str] = set()
        for table in store.tables.values():
            if "subscriptionId" in table.column_names:
                subs.update(s.lower() for s in table["subscriptionId"].to_pylist() if s)
        return frozenset(subs)

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        assert self._server is not None, "emulator not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "AzureEmulator":
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                emulator._handle(self)

            def do_GET(self) -> None:  # noqa: N802
                if urlsplit(self.path).path == STATS_PATH:  # for an emulator running in another process
                    with emulator._lock:
                        records = [asdict(r) for r in emulator.records]
                    return emulator._send(self, 200, {"records": records})
                emulator._send(self, 404, {"error": {"code": "NotFound", "message": "no such path"}})

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="azure-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "AzureEmulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ stats

    def arg_records(self) -> list[RequestRecord]:
        return [r for r in self.records if r.service == "resource_graph"]

    def la_records(self) -> list[RequestRecord]:
        return [r for r in self.records if r.service == "log_analytics"]

    def quota_throttled(self) -> int:
        return sum(1 for r in self.records if r.quota_throttled)

    # ------------------------------------------------------------------ executing

    def execute(self, service: str, text: str, scope: Scope) -> Result:
        """Run ``text`` over the records ``scope`` allows, once per (text, scope); ``EngineError`` if it cannot."""
        key = (service, hashlib.sha256(text.encode()).hexdigest(), scope.key())
        with self._lock:
            cached = self._results.get(key)
        if cached is not None:
            return cached
        store = self.resource_graph if service == "resource_graph" else self.log_analytics
        result = store.run(text, scope)
        with self._lock:
            self.executions += 1
            return self._results.setdefault(key, result)

    # ------------------------------------------------------------------ HTTP

    def _send(self, handler: BaseHTTPRequestHandler, status: int, body: Any,
              headers: Mapping[str, str] | Callable[[], Mapping[str, str]] = {}) -> None:
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        if callable(headers):
            headers = headers()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(payload)))
        for k, v in headers.items():
            handler.send_header(k, v)
        handler.end_headers()
        handler.wfile.write(payload)

    def _error(self, handler: BaseHTTPRequestHandler, status: int, code: str, message: str,
               headers: Mapping[str, str] | Callable[[], Mapping[str, str]] = {}, details: list | None = None) -> None:
        if self.faults.echo_authorization:  # as a careless front end does, on the line a client keeps
            auth = handler.headers.get("Authorization", "")
            message = f"{message} (request had Authorization: {auth}; credential {auth.removeprefix('Bearer ')})"
        if self.faults.error_detail:
            message = f"{message}\n{self.faults.error_detail}"
        error: dict[str, Any] = {"code": code, "message": message}
        if details:
            error["details"] = details
        self._send(handler, status, {"error": error}, headers)

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self.records.append(record)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        url = urlsplit(handler.path)
        if url.path == ARG_PATH:
            self._handle_arg(handler, url, raw)
        elif LA_PATH.match(url.path):
            self._handle_la(handler, url, raw)
        else:
            self._error(handler, 404, "NotFound", f"no route {url.path}")

    def _authorised(self, handler: BaseHTTPRequestHandler, token: str) -> bool:
        return handler.headers.get("Authorization", "") == f"Bearer {token}"

    def _quota(self) -> tuple[bool, Callable[[], dict[str, str]]]:
        """Count one request against the per-user window (on arrival): whether it is allowed, and its
        quota headers, made when the answer is sent (``resets-after`` then says how long the window the
        request was counted in still lasts, however long the query took)."""
        f = self.faults
        with self._lock:
            now = time.monotonic()
            if self._window_start is None or now >= self._window_start + f.quota_window:
                self._window_start, self._window_used = now, 0
            end = self._window_start + f.quota_window
            allowed = self._window_used < f.quota_limit
            if allowed:
                self._window_used += 1
            remaining = f.quota_limit - self._window_used if allowed else 0

        def headers() -> dict[str, str]:
            out = {"x-ms-user-quota-remaining": str(remaining),
                   "x-ms-user-quota-resets-after": _timespan_text(end - time.monotonic())}
            if f.subscription_limit_hit:
                out["x-ms-tenant-subscription-limit-hit"] = "true"
            return out
        return allowed, headers

    def _take(self, counters: dict[str, int], *keys: str | None) -> bool:
        with self._lock:
            for key in (*keys, ANY):
                if key and counters.get(key, 0) > 0:
                    counters[key] -= 1
                    return True
        return False

    def _throttle_headers(self) -> dict[str, str]:
        f = self.faults
        if f.throttle_style == "quota":
            return {"x-ms-user-quota-remaining": "0", "x-ms-user-quota-resets-after": _timespan_text(f.throttle_wait)}
        if f.throttle_style == "retry-after":
            return {"Retry-After": str(f.retry_after)}
        if f.throttle_style == "http-date":  # whole seconds: the next second boundary, plus retry_after - 1
            return {"Retry-After": formatdate(int(time.time()) + f.retry_after, usegmt=True)}
        if f.throttle_style == "retry-after-ms":
            return {"retry-after-ms": str(int(f.throttle_wait * 1000))}
        assert f.throttle_style == "bare", f.throttle_style
        return {}

    def _redirect_to(self, *keys: str | None) -> str | None:
        for key in (*keys, ANY):
            if key and key in self.faults.redirect:
                return self.faults.redirect[key]
        return None

    @staticmethod
    def _labels(text: str) -> tuple[str | None, str | None]:
        m_ds, m_q = _DATASET_LINE.search(text), _QUERY_LINE.search(text)
        dataset = m_ds.group(1) if m_ds else None
        return dataset, (m_q.group(1) if m_q else dataset)

    @staticmethod
    def _drop(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        handler.connection.shutdown(2)

    def _scope(self, subs: tuple[str, ...] | None, mgs: tuple[str, ...] | None) -> tuple[frozenset[str] | None, str | None]:
        """The subscriptions a request may read (None = every record), or the error code when none."""
        unreadable = {s.lower() for s in self.faults.unreadable_subscriptions}
        if subs:
            readable = frozenset(s.lower() for s in subs) - unreadable
            return (readable, None) if readable else (None, "NoValidSubscriptionsInQueryRequest")
        if mgs:
            unknown = [mg for mg in mgs if mg not in self.management_groups]
            if unknown:
                return None, "ManagementGroupNotFound"
            return frozenset(s for mg in mgs for s in self.management_groups[mg]) - unreadable, None
        if unreadable:
            return self._all_subscriptions - unreadable, None
        return None, None

    def _handle_arg(self, handler: BaseHTTPRequestHandler, url: Any, raw: bytes) -> None:
        f = self.faults
        api_version = (parse_qs(url.query).get("api-version") or [None])[0]
        with self._lock:
            self._arg_count += 1
            number = self._arg_count
        base = dict(service="resource_graph", path=url.path, dataset=None, query=None, api_version=api_version,
                    time=time.monotonic(), wall=time.time())
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        text = body.get("query") or "" if isinstance(body, dict) else ""
        options = (body.get("options") or {}) if isinstance(body, dict) else {}
        dataset, query = self._labels(text)
        subs = tuple(body["subscriptions"]) if body.get("subscriptions") is not None else None
        mgs = tuple(body["managementGroups"]) if body.get("managementGroups") is not None else None
        base.update(dataset=dataset, query=query, text=text)
        detail = dict(subscriptions=subs, management_groups=mgs, skip_token=options.get("$skipToken"),
                      top=options.get("$top"), result_format=options.get("resultFormat"),
                      allow_partial_scopes=options.get("allowPartialScopes"))
        location = self._redirect_to(query, dataset)
        if location:  # a front end that moved: it answers before looking at the token
            self._record(RequestRecord(status=307, injected="redirect", **base, **detail))
            return self._error(handler, 307, "Moved", "the endpoint has moved", {"Location": location})
        if not self._authorised(handler, self.token):
            self._record(RequestRecord(status=401, **base, **detail))
            return self._error(handler, 401, "AuthenticationFailed", "Authentication failed. The 'Authorization' "
                               "header is missing or the token is invalid.")
        if not handler.headers.get("Content-Type", "").startswith("application/json"):
            self._record(RequestRecord(status=500, **base, **detail))
            return self._error(handler, 500, "InternalServerError", "Encountered an internal server error.")
        # Quota first: every request counts, a throttled one is refused.
        if number in f.throttle_requests or self._take(f.throttle, query, dataset):
            self._record(RequestRecord(status=429, injected="429", **base, **detail))
            return self._error(handler, 429, "RateLimiting", _RATE_LIMIT_MESSAGE, self._throttle_headers(),
                               [{"code": "RateLimiting", "message": _RATE_LIMIT_MESSAGE}])
        allowed, headers = self._quota()
        if not allowed:
            self._record(RequestRecord(status=429, quota_throttled=True, **base, **detail))
            return self._error(handler, 429, "RateLimiting", _RATE_LIMIT_MESSAGE, headers,
                               [{"code": "RateLimiting", "message": _RATE_LIMIT_MESSAGE}])
        if self._take(f.drop_connections, query, dataset):
            self._record(RequestRecord(status=0, injected="drop", **base, **detail))
            return self._drop(handler)
        if self._take(f.server_errors, query, dataset):
            self._record(RequestRecord(status=f.server_error_status, injected="5xx", **base, **detail))
            return self._error(handler, f.server_error_status, "ServiceUnavailable", "try again later", headers)
        scope_subs, scope_error = self._scope(subs, mgs)
        if scope_error:
            self._record(RequestRecord(status=400, **base, **detail))
            message = ("None of the provided subscriptions can be read by the caller, or they do not exist."
                       if scope_error == "NoValidSubscriptionsInQueryRequest" else "management group not found")
            return self._error(handler, 400, scope_error, message, headers)
        scoped = tuple(sorted(scope_subs)) if scope_subs is not None else None
        detail["scope"] = scoped
        if subs and any(s.lower() in f.failing_subscriptions for s in subs):
            self._record(RequestRecord(status=f.failing_status, **base, **detail))
            return self._error(handler, f.failing_status, "AuthorizationFailed",
                               "The client does not have authorization to perform action "
                               "'Microsoft.ResourceGraph/resources/read' over one of the subscriptions", headers)
        top = options.get("$top", 100)
        if not isinstance(top, int) or not 1 <= top <= 1000:
            self._record(RequestRecord(status=400, **base, **detail))
            return self._error(handler, 400, "BadRequest", "$top must be 1..1000", headers)
        try:
            result = self.execute("resource_graph", text, Scope(subscriptions=scope_subs))
        except EngineError as exc:
            self._record(RequestRecord(status=400, **base, **detail))
            return self._error(handler, 400, "BadRequest", f"Query is invalid: {exc.message}", headers,
                               [{"code": "InvalidQuery", "message": exc.message}])
        total = result.table.num_rows
        size = min(top, f.page_size)
        binding = hashlib.sha256(json.dumps([text, subs, mgs]).encode()).hexdigest()[:16]
        offset = int(options.get("$skip") or 0)
        token = options.get("$skipToken")
        if token:
            try:
                state = json.loads(base64.b64decode(token))
                assert state["b"] == binding
                offset = int(state["o"])
            except Exception:
                self._record(RequestRecord(status=400, **base, **detail))
                return self._error(handler, 400, "InvalidSkipToken",
                                   "skip token does not belong to this query and scope", headers)
        page = result.wire_rows(offset, offset + size)
        response: dict[str, Any] = {"totalRecords": total, "count": len(page), "facets": []}
        more = offset + size < total
        # Resource Graph pages only a result that projects id; otherwise, or when asked to, it truncates.
        if dataset in f.truncate or (more and "id" not in result.table.column_names):
            response["resultTruncated"] = "true"
        else:
            response["resultTruncated"] = "false"
            if more:
                response["$skipToken"] = base64.b64encode(json.dumps({"b": binding, "o": offset + size}).encode()).decode()
        if str(options.get("resultFormat", "objectArray")).lower() == "table":
            names = result.table.column_names
            response["data"] = {"columns": [{"name": n, "type": _column_type(result, n, _ARG_TYPES, "object", "datetime")}
                                            for n in names],
                                "rows": [[row[n] for n in names] for row in page]}
        else:
            response["data"] = page
        self._record(RequestRecord(status=200, rows=len(page), seconds=time.monotonic() - base["time"], **base, **detail))
        self._send(handler, 200, response, headers)

    def _handle_la(self, handler: BaseHTTPRequestHandler, url: Any, raw: bytes) -> None:
        f = self.faults
        workspace = LA_PATH.match(url.path).group(1)
        base = dict(service="log_analytics", path=url.path, time=time.monotonic(), wall=time.time())
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        text = (body.get("query") or "") if isinstance(body, dict) else ""
        dataset, query = self._labels(text)
        base.update(dataset=dataset, query=query, timespan=body.get("timespan"), text=text)
        location = self._redirect_to(query, dataset)
        if location:
            self._record(RequestRecord(status=307, injected="redirect", **base))
            return self._error(handler, 307, "Moved", "the endpoint has moved", {"Location": location})
        if not self._authorised(handler, self.logs_token):
            self._record(RequestRecord(status=401, **base))
            return self._error(handler, 401, "InvalidTokenError", "The provided authentication is not valid "
                               "for this resource")
        if workspace != self.workspace_id:
            self._record(RequestRecord(status=404, **base))
            return self._error(handler, 404, "WorkspaceNotFoundError", f"workspace {workspace} not found")
        if self._take(f.throttle, query, dataset):
            self._record(RequestRecord(status=429, injected="429", **base))
            return self._error(handler, 429, "ThrottledError", "Your request has been throttled", self._throttle_headers())
        if self._take(f.drop_connections, query, dataset):
            self._record(RequestRecord(status=0, injected="drop", **base))
            return self._drop(handler)
        if self._take(f.server_errors, query, dataset):
            self._record(RequestRecord(status=f.server_error_status, injected="5xx", **base))
            return self._error(handler, f.server_error_status, "ServiceUnavailableError", "try again later")
        status = f.la_fail.get(dataset or "", f.la_fail.get(ANY))
        if status:
            self._record(RequestRecord(status=status, injected="fail", **base))
            return self._error(handler, status, "InsufficientAccessError" if status == 403 else "Failure",
                               "The provided credentials have insufficient access to perform the requested operation")
        try:
            span = parse_timespan(body.get("timespan"))
        except ValueError as exc:
            self._record(RequestRecord(status=400, **base))
            return self._error(handler, 400, "BadArgumentError", f"invalid timespan: {exc}")
        try:
            result = self.execute("log_analytics", text, Scope(time_range=span))
        except EngineError as exc:
            self._record(RequestRecord(status=400, **base))
            return self._error(handler, 400, "BadArgumentError", f"The request had some invalid properties: "
                               f"{exc.message}")
        rows = result.wire_rows()
        partial = dataset in f.la_partial
        if partial:
            rows = rows[: len(rows) // 2]
        names = result.table.column_names
        types = [_column_type(result, n, _KUSTO_TYPES, "dynamic", "datetime") for n in names]

        def cell(kind: str, value: Any) -> Any:
            if f.la_values_as_strings and value is not None and kind in ("bool", "int", "long", "real"):
                return str(value).lower() if kind == "bool" else str(value)
            return value

        table = {"name": "PrimaryResult", "columns": [{"name": n, "type": t} for n, t in zip(names, types)],
                 "rows": [[cell(t, row[n]) for n, t in zip(names, types)] for row in rows]}
        response: dict[str, Any] = {"tables": [table]}
        if partial:
            response["error"] = {"code": "PartialError", "message": "There were some errors when processing your query.",
                                 "details": [{"code": "EngineError",
                                              "message": "Query result set has exceeded the internal data size limit",
                                              "innererror": {"code": "E_QUERY_RESULT_SET_TOO_LARGE"}}]}
        self._record(RequestRecord(status=200, rows=len(rows), injected="partial" if partial else None,
                                   seconds=time.monotonic() - base["time"], **base))
        self._send(handler, 200, response)


_RATE_LIMIT_MESSAGE = ("Client application has been throttled and should not attempt to repeat the request until an "
                       "amount of time has elapsed. Please see https://aka.ms/resourcegraph-throttling for help.")


# ---------------------------------------------------------------------------- in another process

def _serve_in_child(factory: Callable[[], dict], kwargs: Mapping[str, Any], conn: Any) -> None:
    tenant = factory()
    emulator = AzureEmulator(tenant["resource_graph"], tenant.get("log_analytics"),
                             management_groups=tenant.get("management_groups"), **kwargs).start()
    conn.send({"url": emulator.url, "subscriptions": tenant.get("subscriptions", [])})
    conn.recv()  # any message: stop
    emulator.stop()


class EmulatorProcess:
    """The emulator in a child process, so that its engine and JSON work do not share the client's GIL.

    For benchmarks. ``factory`` is an importable function returning ``{"resource_graph": ...,
    "log_analytics": ..., "management_groups": ..., "subscriptions": [...]}``; it runs in the
    child (a fresh interpreter: nothing of the parent's DuckDB or threads is inherited), so the
    records never cross the pipe. ``records()`` fetches the request log over HTTP.
    """

    def __init__(self, factory: Callable[[], dict], **kwargs: Any) -> None:
        self._factory, self._kwargs = factory, kwargs
        self._ctx = multiprocessing.get_context("spawn")
        self._parent, self._child = self._ctx.Pipe()
        self._process: Any = None
        self.url = ""
        self.subscriptions: list[str] = []
        self.token = kwargs.get("token", EMULATOR_TOKEN)
        self.workspace_id = kwargs.get("workspace_id", "00000000-0000-0000-0000-00000000beef")

    def __enter__(self) -> "EmulatorProcess":
        self._process = self._ctx.Process(target=_serve_in_child, args=(self._factory, self._kwargs, self._child),
                                          daemon=True)
        self._process.start()
        if not self._parent.poll(600):
            raise RuntimeError("the emulator process did not start")
        info = self._parent.recv()
        self.url, self.subscriptions = info["url"], list(info["subscriptions"])
        return self

    def records(self) -> list[RequestRecord]:
        with urllib.request.urlopen(self.url + STATS_PATH, timeout=30) as response:
            data = json.loads(response.read())
        out = []
        for r in data["records"]:
            for key in ("subscriptions", "management_groups", "scope"):
                if r[key] is not None:
                    r[key] = tuple(r[key])
            out.append(RequestRecord(**r))
        return out

    def __exit__(self, *exc: Any) -> None:
        self._parent.send("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
