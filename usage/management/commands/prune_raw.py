"""python manage.py prune_raw --older-than-months N [--dry-run]"""

from django.core.management.base import BaseCommand, CommandError

from usage.services.partitions import usage_partitions_ensure, usage_raw_prune


class Command(BaseCommand):
    help = (
        "Drop raw usage rows (whole monthly partitions) of months that ended more than N months ago. "
        "Rollups, reports and caps keep every total; a later export restating those days is refused."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than-months", type=int, required=True, metavar="N")
        parser.add_argument("--dry-run", action="store_true", help="say what would be dropped, drop nothing")

    def handle(self, *args, older_than_months, dry_run, **options):
        try:
            usage_partitions_ensure()  # rows waiting in the default partition go to their month first
            result = usage_raw_prune(older_than_months=older_than_months, dry_run=dry_run)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        verb = "would drop" if dry_run else "dropped"
        months = ", ".join(result.partitions_dropped) or "no monthly partitions"
        self.stdout.write(
            f"Raw usage before {result.cutoff}: {verb} {result.rows_dropped:,} rows ({months}). "
            "Daily totals, reports and caps are unchanged."
        )
