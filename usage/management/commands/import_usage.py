"""Import vendor export files: one ImportBatch per file, processed by the ingest task."""

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from usage.importers.registry import IMPORTERS
from usage.models import ImportBatch
from usage.services.ingest import import_batch_create
from usage.templatetags.usage_format import usd

FINISHED = {ImportBatch.Status.DONE, ImportBatch.Status.FAILED, ImportBatch.Status.DUPLICATE}


class Command(BaseCommand):
    help = (
        "Import usage and cost exports. The format is detected from the content; --format forces one. "
        "Exits non-zero if any file failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument("--format", choices=sorted(IMPORTERS), default="")
        parser.add_argument("--engineer", default="", help="whose usage this is, for logs that carry no identity")
        parser.add_argument("--timeout", type=int, default=3600, help="seconds to wait for a worker per file")

    def handle(self, *args, files, format, engineer, timeout, **options):
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise CommandError(f"no such file: {', '.join(missing)}")
        failed = 0
        for path in files:
            with path.open("rb") as fh:  # copied into storage in blocks, never read whole
                batch = import_batch_create(filename=path.name, file=fh, format=format, engineer_email=engineer)
            batch = self._wait(batch, timeout)
            self.stdout.write(self._summary(path, batch))
            if batch.status == ImportBatch.Status.FAILED:
                failed += 1
                self.stderr.write(f"  {batch.error}")
            for rejected in batch.rejected_rows.all()[:10]:
                self.stderr.write(f"  rejected {rejected.location}: {rejected.reason}")
            if batch.rows_rejected > 10:
                self.stderr.write(f"  ... and {batch.rows_rejected - 10} more rejected rows (see /imports/{batch.pk}/)")
        if failed:
            raise CommandError(f"{failed} of {len(files)} files failed")

    def _wait(self, batch: ImportBatch, timeout: int) -> ImportBatch:
        """Eager mode has already processed it; with real workers, poll the batch row."""
        deadline = time.monotonic() + timeout
        batch.refresh_from_db()
        while batch.status not in FINISHED:
            if time.monotonic() > deadline:
                raise CommandError(f"batch #{batch.pk} is still {batch.status} after {timeout}s: is a worker running?")
            time.sleep(0.2)
            batch.refresh_from_db()
        return batch

    def _summary(self, path: Path, batch: ImportBatch) -> str:
        if batch.status == ImportBatch.Status.DUPLICATE:
            return f"{path.name}: already imported as batch #{batch.duplicate_of_id}; nothing changed"
        if batch.status == ImportBatch.Status.FAILED:
            return f"{path.name}: FAILED, nothing stored"
        unmapped = (
            f", {batch.rows_unmapped} unmapped ({usd(batch.unmapped_cost_usd)})"
            if batch.rows_unmapped
            else ", 0 unmapped"
        )
        unpriced = f", {batch.unpriced_rows} with no known price" if batch.unpriced_rows else ""
        return (
            f"{path.name}: {batch.format}, {batch.rows_accepted} rows accepted, {batch.rows_rejected} rejected"
            f"{unmapped}{unpriced}, cost {usd(batch.cost_usd)}"
        )
