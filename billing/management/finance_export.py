"""What the finance export commands share: --month, OUT, the format from OUT's suffix."""

from django.core.management.base import BaseCommand, CommandError

from billing.exports import export_write, parse_month


class ExportCommand(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="YYYY-MM")
        parser.add_argument("out", help="the file to write; .xlsx for a workbook, anything else for CSV")

    def kind(self, options) -> str:
        raise NotImplementedError

    def handle(self, *args, month, out, **options):
        start = parse_month(month)
        if start is None:
            raise CommandError(f"--month must look like 2026-10 (1970-2999), not {month!r}")
        fmt = "xlsx" if out.lower().endswith(".xlsx") else "csv"
        kind = self.kind(options)
        text = {} if fmt == "xlsx" else {"newline": "", "encoding": "utf-8"}
        try:
            with open(out, "wb" if fmt == "xlsx" else "w", **text) as handle:
                rows = export_write(user=None, kind=kind, start=start, fmt=fmt, out=handle, source="command")
        except OSError as exc:
            raise CommandError(f"Cannot write {out}: {exc.strerror or exc}") from exc
        self.stdout.write(f"{out}: {kind} for {month}, {rows} rows ({fmt})")
