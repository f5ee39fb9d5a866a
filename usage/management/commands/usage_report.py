"""Tokens and spend for a month, grouped, as JSON, CSV or a table for people."""

import csv
import json
import re

from django.core.management.base import BaseCommand, CommandError

from usage.selectors import GROUPS, month_bounds, usage_report_rows
from usage.templatetags.usage_format import compact, usd


class Command(BaseCommand):
    help = "Usage for one month (UTC), grouped by engineer, team, vendor, product, model or cost_center."

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="YYYY-MM")
        parser.add_argument("--by", choices=sorted(GROUPS), default="engineer")
        parser.add_argument("--format", choices=["json", "csv", "table"], default="table")

    def handle(self, *args, month, by, format, **options):
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
            raise CommandError(f"--month must look like 2026-10, not {month!r}")
        start, end = month_bounds(month)
        rows = usage_report_rows(start=start, end=end, by=by)
        if format == "json":
            data = [{by: r.key, "tokens": r.tokens, "cost_usd": str(r.cost_usd)} for r in rows]
            self.stdout.write(json.dumps(data, indent=1))
        elif format == "csv":
            writer = csv.writer(self.stdout)
            writer.writerow([by, "tokens", "cost_usd"])
            for r in rows:
                writer.writerow([r.key or "", r.tokens, r.cost_usd])
        else:
            self._table(rows, by, month)

    def _table(self, rows, by, month):
        if not rows:
            self.stdout.write(f"No usage in {month}. Import exports with: manage.py import_usage FILE ...")
            return
        label = "(unmapped)" if by == "engineer" else "(none)"
        body = [(r.key or label, compact(r.tokens), usd(r.cost_usd)) for r in rows]
        total = ("TOTAL", compact(sum(r.tokens for r in rows)), usd(sum(r.cost_usd for r in rows)))
        widths = [max(len(str(x[i])) for x in [(by, "tokens", "cost"), *body, total]) for i in range(3)]
        line = f"{{:<{widths[0]}}}  {{:>{widths[1]}}}  {{:>{widths[2]}}}"
        self.stdout.write(line.format(by, "tokens", "cost"))
        self.stdout.write("-" * (sum(widths) + 4))
        for row in body:
            self.stdout.write(line.format(*row))
        self.stdout.write("-" * (sum(widths) + 4))
        self.stdout.write(line.format(*total))
