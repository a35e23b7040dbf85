"""A loopback emulator of Azure Resource Graph and Log Analytics for the real SDK clients.

It implements the two REST contracts the SDKs use:

- ``POST /providers/Microsoft.ResourceGraph/resources?api-version=...`` (azure-mgmt-resourcegraph)
- ``POST /v1/workspaces/{workspaceId}/query`` (azure-monitor-query)

and serves the rows of a snapshot (the tenant) for the dataset named by the query's
``// dataset: <name>`` line. Rows are what the services return after the query's
``project``: dynamic values as JSON objects/arrays, datetimes as ISO text. For
``findings`` the rows are split between the legacy sub-assessments query and the
individual-recommendations query, each in its own Kubernetes-context shape.

Realistic behaviour: ``$top``/``$skipToken`` paging (a skip token is bound to the query
text and scope it was issued for), subscription and management-group scope, a per-user
quota with ``x-ms-user-quota-*`` headers on every response and HTTP 429 past it. Faults
are configured per test on ``emulator.faults``: injected 429s, 5xx bursts, dropped
connections, truncated results, subscriptions whose batch always fails, Log Analytics
partial results and failures.
"""

from __future__ import annotations

import base64
import multiprocessing
import urllib.request
import hashlib
import json
import math
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Mapping
from urllib.parse import parse_qs, urlsplit

import pandas as pd

from reportgen.snapshot import DATASETS

ARG_PATH = "/providers/Microsoft.ResourceGraph/resources"
STATS_PATH = "/_emulator/records"
LA_PATH = re.compile(r"^/v1/workspaces/([^/]+)/query$")
LEGACY, INDIVIDUAL = "findings.subassessments", "findings.recommendations"
_DATASET_LINE = re.compile(r"^// dataset: ([a-z_]+)\s*$", re.M)
_QUERY_LINE = re.compile(r"^// query: ([A-Za-z0-9_.]+)", re.M)
_KUSTO_TYPES = {"str": "string", "json": "dynamic", "ts": "datetime", "float": "real", "int": "long", "bool": "bool"}


@dataclass
class Faults:
    """What the emulator does wrong, per test. Counters are consumed as requests arrive."""

    quota_limit: int = 15
    quota_window: float = 5.0
    page_size: int = 1000                      # rows per page at most (ARG may return fewer than $top)
    throttle_requests: set[int] = field(default_factory=set)   # ARG request numbers (1-based) answered 429
    throttle_wait: float = 0.05                # seconds the injected 429s ask to wait
    server_errors: dict[str, int] = field(default_factory=dict)   # query or dataset -> 5xx responses first
    server_error_status: int = 503
    drop_connections: dict[str, int] = field(default_factory=dict)  # query or dataset -> dropped connections
    truncate: set[str] = field(default_factory=set)              # datasets answered truncated
    failing_subscriptions: set[str] = field(default_factory=set)  # a batch containing one always fails
    failing_status: int = 403
    la_partial: set[str] = field(default_factory=set)            # LA datasets answered with PartialError
    la_fail: dict[str, int] = field(default_factory=dict)        # LA dataset -> HTTP status
    la_values_as_strings: bool = True          # numbers/bools as strings, as in the REST example
    findings_split: Callable[[int, Mapping[str, Any]], str] | None = None  # (index, row) -> LEGACY | INDIVIDUAL


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
    time: float = 0.0
    quota_throttled: bool = False
    injected: str | None = None
    text: str | None = None


def _iso(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        return None
    ts = ts.tz_convert("UTC") if ts.tzinfo else ts.tz_localize("UTC")
    if ts.microsecond:
        return ts.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"  # 7 fractional digits, as .NET writes them
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def wire_value(kind: str, value: Any) -> Any:
    """A snapshot value as the service would send it in JSON."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if kind == "json":
        return json.loads(value) if isinstance(value, str) else value
    if kind == "ts":
        return _iso(value)
    if kind == "float":
        return float(value)
    if kind == "int":
        return int(value)
    if kind == "bool":
        return bool(value)
    return value if isinstance(value, str) else str(value)


def wire_rows(dataset: str, frame: pd.DataFrame) -> list[dict]:
    columns = DATASETS[dataset]
    records = frame[list(columns)].astype(object).where(frame[list(columns)].notna(), None).to_dict("records")
    return [{c: wire_value(columns[c], r[c]) for c in columns} for r in records]


def legacy_workloads(flat: list[dict] | None) -> Any:
    """Flat workloads -> ``kubernetesContext.workloads`` (workloads with a ``containers`` list)."""
    if flat is None:
        return None
    out: list[dict] = []
    for w in flat:
        key = (w.get("namespace"), w.get("kind"), w.get("name"))
        if out and (out[-1]["namespace"], out[-1]["kind"], out[-1]["name"]) == key:
            out[-1]["containers"].append({"name": w.get("container")})
        else:
            out.append({"namespace": key[0], "kind": key[1], "name": key[2], "ownedResources": [],
                        "containers": [{"name": w.get("container")}]})
    return out


def details_workloads(flat: list[dict] | None, cluster_id: str | None) -> Any:
    """Flat workloads -> ``[kubernetesDetails]`` objects (the newer flat shape)."""
    if flat is None:
        return None
    return [{"namespace": w.get("namespace"), "clusterResourceId": cluster_id,
             "clusterName": (cluster_id or "").rsplit("/", 1)[-1], "controllerKind": w.get("kind"),
             "controllerName": w.get("name"), "containerName": w.get("container"), "clusterKind": "AKS",
             "cloud": "Azure"} for w in flat]


def _subscription_of(row: Mapping[str, Any]) -> str:
    sub = row.get("subscriptionId")
    if not sub:
        m = re.match(r"(?i)^/subscriptions/([^/]+)", str(row.get("id") or row.get("AssessedResourceId") or ""))
        sub = m.group(1) if m else ""
    return str(sub).lower()


def _alternate(index: int, row: Mapping[str, Any]) -> str:
    return LEGACY if index % 2 == 0 else INDIVIDUAL


class AzureEmulator:
    """Serves a tenant's datasets to the real SDK clients over loopback HTTP, in-process."""

    def __init__(self, frames: Mapping[str, pd.DataFrame], *, token: str = "emulator-token",
                 logs_token: str | None = None, workspace_id: str = "00000000-0000-0000-0000-00000000beef",
                 management_groups: Mapping[str, list[str]] | None = None, faults: Faults | None = None) -> None:
        self.frames = dict(frames)
        self.token = token
        self.logs_token = logs_token or token
        self.workspace_id = workspace_id
        self.management_groups = {k: [s.lower() for s in v] for k, v in (management_groups or {}).items()}
        self.faults = faults or Faults()
        self.records: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._arg_count = 0
        self._window_start: float | None = None
        self._window_used = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._rows: dict[str, list[tuple[str, dict]]] = {}
        self._prepare()

    # ------------------------------------------------------------------ data

    def _prepare(self) -> None:
        for dataset, frame in self.frames.items():
            if dataset == "findings":
                continue
            self._rows[dataset] = [(_subscription_of(r), r) for r in wire_rows(dataset, frame)]
        split = self.faults.findings_split or _alternate
        legacy, individual = [], []
        for index, row in enumerate(wire_rows("findings", self.frames["findings"])):
            flat = row["workloads"]
            if split(index, row) == LEGACY:
                legacy.append((_subscription_of(row), {**row, "workloads": legacy_workloads(flat)}))
            else:
                individual.append((_subscription_of(row), {**row, "workloads": details_workloads(flat, row["resourceId"])}))
        self._rows[LEGACY] = legacy
        self._rows[INDIVIDUAL] = individual

    def served(self, key: str) -> list[dict]:
        """Every row the emulator serves for a dataset or findings query (unscoped)."""
        return [r for _, r in self._rows[key]]

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

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
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

    # ------------------------------------------------------------------ HTTP

    def _send(self, handler: BaseHTTPRequestHandler, status: int, body: Any, headers: Mapping[str, str] = {}) -> None:
        payload = json.dumps(body).encode("utf-8")
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(payload)))
        for k, v in headers.items():
            handler.send_header(k, v)
        handler.end_headers()
        handler.wfile.write(payload)

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
            self._send(handler, 404, {"error": {"code": "NotFound", "message": f"no route {url.path}"}})

    def _authorised(self, handler: BaseHTTPRequestHandler, token: str) -> bool:
        return handler.headers.get("Authorization", "") == f"Bearer {token}"

    @staticmethod
    def _timespan(seconds: float) -> str:
        seconds = max(0.0, seconds)
        h, rem = divmod(seconds, 3600)
        m, s = divmod(rem, 60)
        return f"{int(h):02d}:{int(m):02d}:{s:010.7f}"

    def _quota(self) -> tuple[bool, int, float]:
        """Count one request against the per-user window: (allowed, remaining, resets_after)."""
        f = self.faults
        with self._lock:
            now = time.monotonic()
            if self._window_start is None or now >= self._window_start + f.quota_window:
                self._window_start, self._window_used = now, 0
            resets = self._window_start + f.quota_window - now
            if self._window_used >= f.quota_limit:
                return False, 0, resets
            self._window_used += 1
            return True, f.quota_limit - self._window_used, resets

    def _take(self, counters: dict[str, int], *keys: str | None) -> bool:
        with self._lock:
            for key in keys:
                if key and counters.get(key, 0) > 0:
                    counters[key] -= 1
                    return True
        return False

    def _handle_arg(self, handler: BaseHTTPRequestHandler, url: Any, raw: bytes) -> None:
        f = self.faults
        api_version = (parse_qs(url.query).get("api-version") or [None])[0]
        with self._lock:
            self._arg_count += 1
            number = self._arg_count
        base = dict(service="resource_graph", path=url.path, dataset=None, query=None, api_version=api_version,
                    time=time.monotonic())
        if not self._authorised(handler, self.token):
            self._record(RequestRecord(status=401, **base))
            return self._send(handler, 401, {"error": {"code": "AuthenticationFailed", "message": "bad token"}})
        if not handler.headers.get("Content-Type", "").startswith("application/json"):
            self._record(RequestRecord(status=500, **base))
            return self._send(handler, 500, {"error": {"code": "InternalServerError", "message": "content type"}})
        body = json.loads(raw or b"{}")
        text = body.get("query") or ""
        options = body.get("options") or {}
        m_ds, m_q = _DATASET_LINE.search(text), _QUERY_LINE.search(text)
        dataset = m_ds.group(1) if m_ds else None
        query = m_q.group(1) if m_q else dataset
        subs = tuple(body["subscriptions"]) if body.get("subscriptions") is not None else None
        mgs = tuple(body["managementGroups"]) if body.get("managementGroups") is not None else None
        base.update(dataset=dataset, query=query, text=text)
        detail = dict(subscriptions=subs, management_groups=mgs, skip_token=options.get("$skipToken"),
                      top=options.get("$top"), result_format=options.get("resultFormat"),
                      allow_partial_scopes=options.get("allowPartialScopes"))
        # Quota first: every request counts, a throttled one is refused.
        if number in f.throttle_requests:
            self._record(RequestRecord(status=429, injected="429", **base, **detail))
            return self._send(handler, 429, _rate_limit_body(), {
                "x-ms-user-quota-remaining": "0", "x-ms-user-quota-resets-after": self._timespan(f.throttle_wait)})
        allowed, remaining, resets = self._quota()
        quota_headers = {"x-ms-user-quota-remaining": str(remaining),
                         "x-ms-user-quota-resets-after": self._timespan(resets)}
        if not allowed:
            self._record(RequestRecord(status=429, quota_throttled=True, **base, **detail))
            return self._send(handler, 429, _rate_limit_body(), quota_headers)
        if self._take(f.drop_connections, query, dataset):
            self._record(RequestRecord(status=0, injected="drop", **base, **detail))
            handler.close_connection = True
            handler.connection.shutdown(2)
            return
        if self._take(f.server_errors, query, dataset):
            self._record(RequestRecord(status=f.server_error_status, injected="5xx", **base, **detail))
            return self._send(handler, f.server_error_status,
                              {"error": {"code": "ServiceUnavailable", "message": "try again later"}}, quota_headers)
        if dataset is None or (query not in self._rows and dataset not in self._rows):
            self._record(RequestRecord(status=400, **base, **detail))
            return self._send(handler, 400, {"error": {"code": "BadRequest",
                                                       "message": "query names no known dataset"}}, quota_headers)
        scope_subs = self._scope(subs, mgs)
        if subs and any(s.lower() in f.failing_subscriptions for s in subs):
            self._record(RequestRecord(status=f.failing_status, **base, **detail))
            return self._send(handler, f.failing_status, {"error": {
                "code": "AuthorizationFailed",
                "message": "The client does not have authorization to perform action "
                           "'Microsoft.ResourceGraph/resources/read' over one of the subscriptions"}}, quota_headers)
        rows = [r for sub, r in self._rows[query if query in self._rows else dataset]
                if scope_subs is None or sub in scope_subs]
        top = options.get("$top", 100)
        if not isinstance(top, int) or not 1 <= top <= 1000:
            self._record(RequestRecord(status=400, **base, **detail))
            return self._send(handler, 400, {"error": {"code": "BadRequest", "message": "$top must be 1..1000"}},
                              quota_headers)
        size = min(top, f.page_size)
        binding = hashlib.sha256(json.dumps([text, subs, mgs]).encode()).hexdigest()[:16]
        offset = 0
        token = options.get("$skipToken")
        if token:
            try:
                state = json.loads(base64.b64decode(token))
                assert state["b"] == binding
                offset = int(state["o"])
            except Exception:
                self._record(RequestRecord(status=400, **base, **detail))
                return self._send(handler, 400, {"error": {
                    "code": "InvalidSkipToken", "message": "skip token does not belong to this query and scope"}},
                    quota_headers)
        page = rows[offset:offset + size]
        response: dict[str, Any] = {"totalRecords": len(rows), "count": len(page), "facets": []}
        if dataset in f.truncate:
            response["resultTruncated"] = "true"
        else:
            response["resultTruncated"] = "false"
            if offset + size < len(rows):
                response["$skipToken"] = base64.b64encode(json.dumps({"b": binding, "o": offset + size}).encode()).decode()
        fmt = options.get("resultFormat", "objectArray")
        if str(fmt).lower() == "table":
            cols = list(page[0]) if page else []
            response["data"] = {"columns": [{"name": c, "type": "object"} for c in cols],
                                "rows": [[r[c] for c in cols] for r in page]}
        else:
            response["data"] = page
        self._record(RequestRecord(status=200, rows=len(page), **base, **detail))
        self._send(handler, 200, response, quota_headers)

    def _scope(self, subs: tuple[str, ...] | None, mgs: tuple[str, ...] | None) -> set[str] | None:
        if subs:
            return {s.lower() for s in subs}
        if mgs:
            return {s for mg in mgs for s in self.management_groups.get(mg, [])}
        return None

    def _handle_la(self, handler: BaseHTTPRequestHandler, url: Any, raw: bytes) -> None:
        f = self.faults
        workspace = LA_PATH.match(url.path).group(1)
        base = dict(service="log_analytics", path=url.path, query=None, time=time.monotonic())
        if not self._authorised(handler, self.logs_token):
            self._record(RequestRecord(status=401, dataset=None, **base))
            return self._send(handler, 401, {"error": {"code": "InvalidTokenError", "message": "bad token"}})
        body = json.loads(raw or b"{}")
        text = body.get("query") or ""
        m_ds = _DATASET_LINE.search(text)
        dataset = m_ds.group(1) if m_ds else None
        base.update(dataset=dataset, timespan=body.get("timespan"), text=text)
        if workspace != self.workspace_id:
            self._record(RequestRecord(status=404, **base))
            return self._send(handler, 404, {"error": {"code": "WorkspaceNotFoundError",
                                                       "message": f"workspace {workspace} not found"}})
        if dataset in f.la_fail:
            status = f.la_fail[dataset]
            self._record(RequestRecord(status=status, **base))
            return self._send(handler, status, {"error": {"code": "Forbidden" if status == 403 else "Failure",
                                                          "message": "The provided credentials have insufficient access"}})
        if dataset not in self._rows:
            self._record(RequestRecord(status=400, **base))
            return self._send(handler, 400, {"error": {"code": "BadArgumentError", "message": "unknown dataset"}})
        columns = DATASETS[dataset]
        rows = [r for _, r in self._rows[dataset]]
        partial = dataset in f.la_partial
        if partial:
            rows = rows[: len(rows) // 2]

        def cell(kind: str, v: Any) -> Any:
            if f.la_values_as_strings and v is not None and kind in ("bool", "int", "float"):
                return str(v).lower() if kind == "bool" else str(v)
            return v

        table = {"name": "PrimaryResult",
                 "columns": [{"name": c, "type": _KUSTO_TYPES[k]} for c, k in columns.items()],
                 "rows": [[cell(columns[c], r[c]) for c in columns] for r in rows]}
        response: dict[str, Any] = {"tables": [table]}
        if partial:
            response["error"] = {"code": "PartialError", "message": "There were some errors when processing your query.",
                                 "details": [{"code": "EngineError",
                                              "message": "Query result set has exceeded the internal data size limit"}]}
        self._record(RequestRecord(status=200, rows=len(rows), **base))
        self._send(handler, 200, response)


def _rate_limit_body() -> dict:
    message = ("Client application has been throttled and should not attempt to repeat the request until an amount "
               "of time has elapsed. Please see https://aka.ms/resourcegraph-throttling for help.")
    return {"error": {"code": "RateLimiting", "message": message, "details": [{"code": "RateLimiting", "message": message}]}}


class EmulatorProcess:
    """The emulator in a child process (forked), so that its JSON work does not share the client's GIL.

    For benchmarks. ``records()`` fetches the request log over HTTP.
    """

    def __init__(self, frames: Mapping[str, pd.DataFrame], **kwargs: Any) -> None:
        self._frames, self._kwargs = frames, kwargs
        self._ctx = multiprocessing.get_context("fork")
        self._parent, child = self._ctx.Pipe()
        self._child = child
        self._process: Any = None
        self.url = ""
        self.token = kwargs.get("token", "emulator-token")
        self.workspace_id = kwargs.get("workspace_id", "00000000-0000-0000-0000-00000000beef")

    def _serve(self) -> None:
        emulator = AzureEmulator(self._frames, **self._kwargs).start()
        self._child.send(emulator.url)
        self._child.recv()  # any message: stop
        emulator.stop()

    def __enter__(self) -> "EmulatorProcess":
        self._process = self._ctx.Process(target=self._serve, daemon=True)
        self._process.start()
        if not self._parent.poll(120):
            raise RuntimeError("the emulator process did not start")
        self.url = self._parent.recv()
        return self

    def records(self) -> list[RequestRecord]:
        with urllib.request.urlopen(self.url + STATS_PATH, timeout=30) as response:
            data = json.loads(response.read())
        out = []
        for r in data["records"]:
            for key in ("subscriptions", "management_groups"):
                if r[key] is not None:
                    r[key] = tuple(r[key])
            out.append(RequestRecord(**r))
        return out

    def __exit__(self, *exc: Any) -> None:
        self._parent.send("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
