"""Seat assignments from a CSV (email,vendor,product,monthly_price_usd,start,end) or from the
GitHub Copilot seats API response (--format copilot_seats; a JSON file is recognised as such)."""

from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from billing.services.copilot_seats import copilot_seats_import, looks_like_copilot_seats
from billing.services.seats import SeatImportError, seats_import

FORMATS = ("csv", "copilot_seats")


class Command(BaseCommand):
    help = (
        "Import seat assignments (email,vendor,product,monthly_price_usd,start,end; end = last day paid, "
        "inclusive, empty = ongoing), or the JSON of GitHub's GET /orgs/{org}/copilot/billing/seats "
        "(--format copilot_seats; priced by COPILOT_SEAT_PRICES_USD). The whole file is checked first; "
        "a re-import replaces the same (email, vendor, product, start)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--format", choices=FORMATS, default="", help="csv or copilot_seats (default: JSON is copilot_seats)"
        )
        parser.add_argument(
            "--complete",
            action="store_true",
            help="copilot_seats only: the response is every page of the account; open Copilot seats of people "
            "it no longer lists end the day before --as-of",
        )
        parser.add_argument(
            "--as-of",
            type=date.fromisoformat,
            default=None,
            help="the day the response was fetched (default: today, UTC)",
        )

    def handle(self, *args, file: Path, format: str = "", complete: bool = False, as_of=None, **options):
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror or exc}") from exc
        format = format or ("copilot_seats" if looks_like_copilot_seats(raw) else "csv")
        if complete and format != "copilot_seats":
            raise CommandError("--complete reads the Copilot seats API response (a seat CSV says its own ends)")
        unknown_logins: dict[str, list[str]] = {}
        copilot = None
        try:
            if format == "copilot_seats":
                copilot = copilot_seats_import(raw=raw, source="command", complete=complete, as_of=as_of)
                result, unknown_logins = copilot.seats, copilot.unknown_logins
            else:
                result = seats_import(raw=raw, source="command")
        except SeatImportError as exc:
            raise CommandError(f"{file}: nothing imported:\n" + "\n".join(exc.problems)) from exc
        self.stdout.write(
            f"{file}: {result.rows} seat{'' if result.rows == 1 else 's'} ({result.created} new, {result.updated} changed, {result.unchanged} unchanged)"
        )
        for email, lines in sorted(result.unknown_emails.items()):
            if format == "copilot_seats":
                continue  # emails found through github_login belong to known people
            where = ", ".join(str(n) for n in lines)
            self.stderr.write(
                f"unknown email {email} (line {where}): kept as an unmapped seat until the person is imported"
            )
        for login, locations in sorted(unknown_logins.items()):
            self.stderr.write(
                f"unknown GitHub login {login} ({', '.join(locations)}): not imported; add it as github_login "
                "in the org chart and import again"
            )
        for seat in copilot.superseded if copilot is not None else ():
            self.stdout.write(
                f"ended {seat.email}'s Copilot seat (from {seat.start_on}) on {seat.end_on}: re-created the next day"
            )
        if copilot is not None and complete:
            for seat in copilot.ended:
                self.stdout.write(
                    f"ended {seat.email}'s Copilot seat (from {seat.start_on}): not listed, last day {seat.end_on}"
                )
            count = len(copilot.ended)
            self.stdout.write(f"{count} Copilot seat{'' if count == 1 else 's'} no longer listed: ended")
            for email in copilot.unchecked:
                self.stderr.write(
                    f"{email}: open Copilot seat left as it is; nobody with this email has a github_login to look for"
                )
