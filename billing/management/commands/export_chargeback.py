"""A month's chargeback per cost center or per team (CSV, or XLSX when OUT ends with .xlsx)."""

from billing.exports import CHARGEBACK_GROUPS
from billing.management.finance_export import ExportCommand


class Command(ExportCommand):
    help = "Export a month's (UTC) tokens and spend per cost center or team; unmapped usage is its own row. Audited."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--by", choices=sorted(CHARGEBACK_GROUPS), default="cost_center")

    def kind(self, options) -> str:
        return f"chargeback-{options['by']}"
