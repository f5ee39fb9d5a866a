"""A month of usage as FOCUS 1.2 rows (CSV, or XLSX when OUT ends with .xlsx)."""

from billing.management.finance_export import ExportCommand


class Command(ExportCommand):
    help = "Export a month (UTC) of usage as FOCUS 1.2: one row per rollup row. Audited."

    def kind(self, options) -> str:
        return "focus"
