"""Supervisor reports over a date range: each is a table (columns, rows) plus a summary; see docs/reports.md."""
