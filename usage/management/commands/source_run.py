"""Run connected sources now, whatever their schedule, and say what each run did."""

from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import pluralize

from usage.models import UsageSource
from usage.services.sources import usage_source_run


class Command(BaseCommand):
    help = (
        "Pull connected sources (UsageSource) now: one by NAME, several, or --all enabled ones. "
        "A source already running elsewhere is skipped. Exits non-zero if any run failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", help="source names, as on /sources/")
        parser.add_argument("--all", action="store_true", help="every enabled source")

    def handle(self, *args, names, all, **options):
        if bool(names) == all:
            raise CommandError("give source names, or --all (not both)")
        sources = UsageSource.objects.filter(enabled=True) if all else UsageSource.objects.filter(name__in=names)
        found = {s.name: s.pk for s in sources.order_by("name")}
        missing = sorted(set(names) - set(found))
        if missing:
            known = ", ".join(UsageSource.objects.values_list("name", flat=True)) or "none yet"
            raise CommandError(f"no such source: {', '.join(missing)} (known: {known})")
        failed = 0
        for name, pk in found.items():
            result = usage_source_run(source_id=pk, force=True)
            if result.skipped:
                self.stdout.write(f"{name}: skipped, {result.skipped}.")
                continue
            days = f"{result.days[0]} to {result.days[-1]}" if result.days else "no day"
            line = (
                f"{name}: pulled {len(result.days)} day{pluralize(len(result.days))} ({days}), "
                f"{len(result.batches)} batch{pluralize(len(result.batches), 'es')}, {result.rows} new row{pluralize(result.rows)}"
            )
            if result.identities:
                line += f", {result.identities} identit{pluralize(result.identities, 'y,ies')} mapped"
            self.stdout.write(line + ".")
            if result.error:
                failed += 1
                self.stderr.write(f"  failed: {result.error}")
        if failed:
            raise CommandError(f"{failed} source{pluralize(failed)} failed")
