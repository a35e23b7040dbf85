"""Loopback emulator of Azure Resource Graph and Log Analytics (see ``server.py``), and tenants to serve."""

from tests.emulator.server import INDIVIDUAL, LEGACY, AzureEmulator, Faults, RequestRecord
from tests.emulator.tenant import tiny_tenant

__all__ = ["AzureEmulator", "Faults", "RequestRecord", "LEGACY", "INDIVIDUAL", "tiny_tenant"]
