"""The one registry of collection sources: a name -> the factory that opens its ``Sources``.

``reportgen collect`` opens "azure" (Resource Graph and Log Analytics through the official
SDKs); ``reportgen sample`` opens "sample" (the built-in tenant's raw records, run through
the embedded KQL engine). A test, or a new source, registers its own factory here and
runs the same collection (``live.collect``) without touching it.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Callable, Mapping

from reportgen.collect.interface import Sources
from reportgen.config import RunConfig
from reportgen.errors import UsageError

SourceFactory = Callable[[RunConfig, tuple[date, date], Mapping[str, Any]], Sources]

_FACTORIES: dict[str, SourceFactory] = {}


def register(name: str, factory: SourceFactory) -> None:
    """Add (or replace) the factory for ``name``."""
    _FACTORIES[name] = factory


def unregister(name: str) -> None:
    _FACTORIES.pop(name, None)


def open_sources(name: str, config: RunConfig, period: tuple[date, date], options: Mapping[str, Any]) -> Sources:
    _load_builtins()
    if name not in _FACTORIES:
        raise UsageError(f"unknown collection source {name!r}", hint=f"sources: {', '.join(sorted(_FACTORIES))}")
    return _FACTORIES[name](config, period, options)


def names() -> list[str]:
    _load_builtins()
    return sorted(_FACTORIES)


def _load_builtins() -> None:
    # Imported here, not at module level: the Azure SDKs and DuckDB load only when used.
    if "azure" not in _FACTORIES:
        from reportgen.collect import azure
        register("azure", azure.open_sources)
    if "sample" not in _FACTORIES:
        from reportgen.collect.sample import source
        register("sample", source.open_sources)
