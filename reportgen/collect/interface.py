"""The collection stage's interface: what a source returns for one query, and its base class.

A source (Azure Resource Graph, Log Analytics, the sample tenant, a test fake) runs the
text of one query and returns a ``QueryOutcome``: the rows as the service returned them
(after the query's ``project``), how many pages and requests it took, and every warning.
Given a ``sink``, a source hands over each page's rows as it arrives instead of keeping
them, so that the caller can convert pages while the source waits for its quota.
Something that could not be collected is still an outcome, with status ``partial`` or
``skipped`` and the reason: the pack shows its own gaps.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

COMPLETE, PARTIAL, SKIPPED = "complete", "partial", "skipped"


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
    extra: Mapping[str, Any] = field(default_factory=dict)

    def provenance(self) -> dict:
        out = {"query": self.query, "status": self.status, "rows": self.row_count, "pages": self.pages,
               "requests": self.requests, "throttled": self.throttled, "retries": self.retries,
               "batches": self.batches, "seconds": round(self.seconds, 3), "truncated": self.truncated,
               "failed_batches": [b.to_json() for b in self.failed_batches]}
        out.update(self.extra)
        return out


RowSink = Callable[[Sequence[Mapping[str, Any]]], None]


class Source(ABC):
    """A place queries run against."""

    service: str

    @abstractmethod
    def run(self, query: str, text: str, sink: RowSink | None = None) -> QueryOutcome:
        """Run one query text: every row (all pages) in the outcome, or page by page to ``sink``.

        Failures of part of the scope are recorded in the outcome; only a failure that makes
        the whole run pointless (a refused credential) raises, as ``AuthError``."""
