"""Rendering: the report model to pack files (summary.json, workbook, PDF, charts)."""
