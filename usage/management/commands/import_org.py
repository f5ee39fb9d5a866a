"""Import the HRIS export: teams, people, managers, logins and dated team memberships."""

from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from usage.importers.base import ParseError
from usage.services.org import org_import


class Command(BaseCommand):
    help = (
        "Import the HRIS export (CSV: employee_id,email,name,title,team,parent_team,manager_email,cost_center,"
        "github_login,start_date,end_date). Re-running the same file changes nothing; a changed team starts a new "
        "membership on --today. A file that is not UTF-8 or lacks a column is refused whole (exit status 1, nothing "
        "changed). Bad rows are listed on stderr and skipped while the good rows are imported; the exit status is "
        "then 1 too."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--today",
            type=date.fromisoformat,
            default=None,
            help="YYYY-MM-DD: the day team changes take effect (default: today, UTC)",
        )

    def handle(self, *args, file, today, **options):
        if not file.is_file():
            raise CommandError(f"no such file: {file}")
        try:
            result = org_import(raw=file.read_bytes(), today=today)
        except ParseError as exc:
            raise CommandError(f"{file.name} refused, nothing imported: {exc}") from exc
        claimed = f", {result.usage_rows_moved} unmapped usage rows claimed" if result.usage_rows_moved else ""
        self.stdout.write(
            f"{file.name}: {result.people} people ({result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged), {result.teams_created} teams created, {result.team_changes} team changes"
            f"{claimed}"
        )
        for warning in result.warnings:
            self.stderr.write(f"  warning: {warning}")
        for error in result.errors:
            self.stderr.write(f"  {error}")
        if result.errors:
            raise CommandError(
                f"{file.name}: {result.skipped} {'row' if result.skipped == 1 else 'rows'} skipped (listed above); "
                "the other rows were imported"
            )
