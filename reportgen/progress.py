"""Progress for long steps, shown only on a terminal (never in logs or CI output)."""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Iterator

from rich.console import Console


class Progress:
    def __init__(self, enabled: bool | None = None) -> None:
        self.console = Console(stderr=True)
        self.enabled = sys.stderr.isatty() if enabled is None else enabled

    @contextlib.contextmanager
    def step(self, label: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        start = time.perf_counter()
        with self.console.status(f"{label}..."):
            yield
        self.console.print(f"[green]✓[/green] {label} [dim]({time.perf_counter() - start:.1f}s)[/dim]")


QUIET = Progress(enabled=False)
