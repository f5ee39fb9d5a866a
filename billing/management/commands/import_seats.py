"""Seat assignments from a CSV: email,vendor,product,monthly_price_usd,start,end."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from billing.services.seats import SeatImportError, seats_import


class Command(BaseCommand):
    help = (
        "Import seat assignments (email,vendor,product,monthly_price_usd,start,end; end = last day paid, "
        "inclusive, empty = ongoing). The whole file is checked first; a re-import replaces the same "
        "(email, vendor, product, start)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, file: Path, **options):
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror or exc}") from exc
        try:
            result = seats_import(raw=raw, source="command")
        except SeatImportError as exc:
            raise CommandError(f"{file}: nothing imported:\n" + "\n".join(exc.problems)) from exc
        self.stdout.write(
            f"{file}: {result.rows} seats ({result.created} new, {result.updated} changed, {result.unchanged} unchanged)"
        )
        for email, lines in sorted(result.unknown_emails.items()):
            where = ", ".join(str(n) for n in lines)
            self.stderr.write(
                f"unknown email {email} (line {where}): kept as an unmapped seat until the person is imported"
            )
