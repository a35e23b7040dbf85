"""The collection stage's interface: what a source returns for one query, and its base class.

A source (Azure Resource Graph, Log Analytics, the sample tenant's embedded engine, a test
fake) runs the text of one query and returns a ``QueryOutcome``: the rows as the service
returned them (after the query's ``project``), how many pages and requests it took, and
every warning. Given a ``sink``, a source hands over each page as it arrives instead of
keeping it, so that the caller can convert pages while the source waits for its quota; a
page is a list of row dicts, or an Arrow table when the source has one.

Something that could not be collected is still an outcome, with a status and the reason:
``partial`` (some of it is missing), ``skipped`` (the source is not configured) or
``failed`` (every request failed). What the evidence lacks is a ``Gap``: it is written into
the snapshot and the pack states it.

A collection runs against ``Sources``: one ``Source`` per service, or the reason a service
is not there. ``registry.py`` maps a name ("azure", "sample", a test's fake) to the factory
that opens them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, Union

if TYPE_CHECKING:
    import pyarrow as pa

COMPLETE, PARTIAL, SKIPPED, FAILED = "complete", "partial", "skipped", "failed"


@dataclass(frozen=True)
class FailedBatch:
    """One scope batch whose request failed for good."""

    scope: str                         # "subscriptions" | "management_groups" | "tenant" | "workspace"
    members: tuple[str, ...]
    reason: str
    status_code: int | None = None

    def to_json(self) -> dict:
        return {"scope": self.scope, "members": list(self.members), "reason": self.reason,
                "status_code": self.status_code}


@dataclass(frozen=True)
class Gap:
    """Something the evidence lacks, in one plain sentence for the pack (``kind`` for machines)."""

    kind: str                          # unreadable-subscriptions | subscription-limit | dataset-failed | ...
    message: str
    dataset: str | None = None
    members: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"kind": self.kind, "message": self.message, "dataset": self.dataset, "members": list(self.members)}


@dataclass(frozen=True)
class QueryOutcome:
    """What one query returned. ``rows`` are dicts keyed by the query's result columns (empty when
    the rows went to a sink); ``row_count`` counts them either way."""

    query: str                         # the query name (file stem)
    text: str                          # the exact text sent
    rows: tuple[Mapping[str, Any], ...] = ()
    row_count: int = 0
    status: str = COMPLETE
    pages: int = 0
    requests: int = 0
    throttled: int = 0                 # HTTP 429 responses
    retries: int = 0                   # requests repeated after 429, 5xx or a connection error
    seconds: float = 0.0
    warnings: tuple[str, ...] = ()
    failed_batches: tuple[FailedBatch, ...] = ()
    batches: int = 0
    truncated: bool = False
    gaps: tuple[Gap, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def provenance(self) -> dict:
        out = {"query": self.query, "status": self.status, "rows": self.row_count, "pages": self.pages,
               "requests": self.requests, "throttled": self.throttled, "retries": self.retries,
               "batches": self.batches, "seconds": round(self.seconds, 3), "truncated": self.truncated,
               "failed_batches": [b.to_json() for b in self.failed_batches]}
        out.update(self.extra)
        return out


Page = Union[Sequence[Mapping[str, Any]], "pa.Table"]
RowSink = Callable[[Page], None]


class Source(ABC):
    """A place queries of one service (``resource_graph`` or ``log_analytics``) run against."""

    service: str

    @abstractmethod
    def run(self, query: str, text: str, sink: RowSink | None = None) -> QueryOutcome:
        """Run one query text: every row (all pages) in the outcome, or page by page to ``sink``.

        Failures of part of the scope are recorded in the outcome; only a failure that makes
        the whole run pointless (a refused credential) raises, as ``AuthError``."""

    def close(self) -> None:
        """Release what the source holds (connections); called once the collection is done."""


@dataclass
class Sources:
    """What one collection runs against.

    ``by_service``: a ``Source`` per service; ``unavailable``: service -> why it is not there
    (its datasets are written ``skipped`` with that reason). ``meta`` is recorded in
    snapshot.json under ``collection``; ``source`` is snapshot.json's ``source`` ("azure",
    "sample", ...). ``subscriptions`` are the subscriptions asked for, to be compared with
    those Resource Graph returned (an unreadable subscription is dropped without an error).
    ``clock`` times the run; a source whose snapshots must be byte-identical passes a
    constant one. ``collector`` gives, after the run, who collected (snapshot.json
    ``collector``: the identity claims of the access token used, never the token); None for a
    source that signs in as nobody.
    """

    source: str
    by_service: Mapping[str, Source]
    unavailable: Mapping[str, str] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)
    cloud: str = "AzureCloud"
    scope: Mapping[str, Any] = field(default_factory=dict)
    subscriptions: tuple[str, ...] = ()
    clock: Callable[[], float] | None = None
    collector: Callable[[], Mapping[str, Any]] | None = None

    def close(self) -> None:
        for source in self.by_service.values():
            source.close()
