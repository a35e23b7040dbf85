"""Aggregation: pure pandas from snapshots to the render-independent ``ReportModel``."""
