"""The Azure Resource Graph subset of KQL (placeholder: replaced by the data-driven check)."""

from __future__ import annotations


def problems(result: dict, header_lines: int) -> list[str]:
    return list(result.get("subset", []))
