"""Shared fixtures: the hand-built emulator tenant and a loopback emulator serving it.

The tenant is built once per test process (its records and record stores are read-only);
every test gets its own emulator, so faults and request logs never leak between tests.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny():
    """The hand-built tenant (``tests/emulator/tenant.py``): raw records and the expected snapshot."""
    from tests.emulator.tenant import tiny_tenant
    return tiny_tenant()


@pytest.fixture
def emulator(tiny):
    """An emulator serving ``tiny`` with a generous quota and small pages (so that paging happens)."""
    from tests.emulator.server import Faults
    with tiny.emulator(faults=Faults(quota_limit=50, quota_window=0.5, page_size=50)) as emu:
        yield emu
