"""Loopback emulator of Azure Resource Graph and Log Analytics that executes the query text it receives
over raw records (``server.py``), tenants of raw records with their expected snapshots (``tenant.py``), and
the row-for-row comparison (``compare.py``)."""

from tests.emulator.server import ANY, INDIVIDUAL, LEGACY, AzureEmulator, Faults, RequestRecord
from tests.emulator.tenant import Tenant, sample_tenant, tiny_tenant

__all__ = ["ANY", "AzureEmulator", "Faults", "RequestRecord", "LEGACY", "INDIVIDUAL", "Tenant", "sample_tenant",
           "tiny_tenant"]
