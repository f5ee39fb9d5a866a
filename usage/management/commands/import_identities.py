"""Import who owns which vendor identity (API key, account, user id) and move their usage."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from usage.importers.base import ParseError
from usage.services.org import identities_import


class Command(BaseCommand):
    help = (
        "Import vendor identities (CSV: vendor,kind,external_id,email), matched to engineers by email in any case; "
        "usage that arrived unmapped follows the mapping. Run import_org first. A file that is not UTF-8 or lacks a "
        "column is refused whole (exit status 1, nothing changed). Bad rows, such as an email nobody has, are listed "
        "on stderr and skipped while the good rows are imported; the exit status is then 1 too."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, file, **options):
        if not file.is_file():
            raise CommandError(f"no such file: {file}")
        try:
            result = identities_import(raw=file.read_bytes())
        except ParseError as exc:
            raise CommandError(f"{file.name} refused, nothing imported: {exc}") from exc
        self.stdout.write(
            f"{file.name}: {result.created} identities mapped, {result.repointed} re-pointed, "
            f"{result.unchanged} unchanged; {result.usage_rows_moved} usage rows moved to their owners"
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
