"""Pulling connected sources (UsageSource): claim, pull day by day, ingest, move the watermark.

Each pulled day becomes an ImportBatch through the ordinary pipeline, so a re-pull is harmless
(identical bytes: a duplicate batch; restated rows: replaced by their natural key). The
watermark moves only past days whose batch was stored, so a failed run resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from usage.connectors import CONNECTORS
from usage.connectors.base import Connector, Pull, day_bounds
from usage.connectors.client import ConnectorError, HttpClient
from usage.models import Engineer, ImportBatch, UsageSource, VendorIdentity

from .ingest import import_batch_create, import_batch_process
from .reattribute import usage_reattribute

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    source: str
    days: list[date] = field(default_factory=list)  # windows pulled and stored
    batches: list[int] = field(default_factory=list)
    rows: int = 0  # rows the batches accepted (duplicates of earlier pulls: 0)
    identities: int = 0  # VendorIdentity rows created (openai_users)
    error: str = ""
    skipped: str = ""  # why the run did not happen (already running, not due)

    @property
    def ok(self) -> bool:
        return not self.error and not self.skipped


def usage_source_run(
    *, source_id: int, force: bool = False, now: datetime | None = None, sleep: Callable[[float], None] = time.sleep
) -> RunResult:
    """Run one source if it is due (or `force`) and nobody is running it: claim its row, pull
    the days from its watermark (and the last `repull_days` again) up to today, ingest each.
    Idempotent; a failure is recorded on the source and the watermark stays where it was."""
    now = now or timezone.now()
    source = _claim(source_id, force=force, now=now)
    if isinstance(source, str):
        return RunResult(source=str(source_id), skipped=source)
    result = RunResult(source=source.name)
    try:
        connector = CONNECTORS[source.kind]
        client = HttpClient(
            base_url=source.base_url or connector.base_url,
            headers=connector.headers(source_credential(source)),
            timeout=settings.SOURCE_HTTP_TIMEOUT,
            sleep=sleep,
        )
        if connector.windowed:
            _pull_days(source, connector, client, now=now, result=result)
        else:
            _store(source, connector.pull(client, source.account, now.date()), now=now, result=result)
            UsageSource.objects.filter(pk=source.pk).update(watermark_at=now)
    except ConnectorError as exc:
        result.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - a run must end explained on the source, never stuck running
        logger.exception("source %s failed", source.name)
        result.error = f"{type(exc).__name__}: {exc}"
    _release(source, result, now=now)
    return result


def _claim(source_id: int, *, force: bool, now: datetime) -> UsageSource | str:
    stale = now - timedelta(minutes=settings.SOURCE_STALE_AFTER_MINUTES)
    with transaction.atomic():
        # SKIP LOCKED: a second worker claiming the same source at this moment gets nothing.
        source = (
            UsageSource.objects.select_for_update(skip_locked=True)
            .filter(pk=source_id)
            .filter(Q(running_since__isnull=True) | Q(running_since__lt=stale))
            .first()
        )
        if source is None:
            return "already running" if UsageSource.objects.filter(pk=source_id).exists() else "no such source"
        if not force and not (source.enabled and (source.next_run_at is None or source.next_run_at <= now)):
            return "not due"
        source.running_since = source.last_started_at = now
        source.save(update_fields=["running_since", "last_started_at"])
    return source


def _release(source: UsageSource, result: RunResult, *, now: datetime) -> None:
    failures = source.failures + 1 if result.error else 0
    # A failing source is tried again sooner than its interval at first, then less often.
    retry = min(source.interval_minutes, 5 * 2 ** min(failures - 1, 10)) if failures else source.interval_minutes
    UsageSource.objects.filter(pk=source.pk).update(
        running_since=None,
        last_finished_at=timezone.now(),
        last_status=UsageSource.Status.FAILED if result.error else UsageSource.Status.OK,
        last_error=result.error,
        last_rows=result.rows,
        last_batches=len(result.batches),
        failures=failures,
        next_run_at=now + timedelta(minutes=retry),
    )


def source_days(source: UsageSource, *, today: date, lag_days: int = 0) -> list[date]:
    """The days a run pulls, oldest first: from the watermark (or start_on) and at least the
    last `repull_days` before today, through today (or `lag_days` before it, for a vendor whose
    daily report exists only once the day is over), at most SOURCE_MAX_DAYS_PER_RUN of them."""
    today -= timedelta(days=lag_days)
    repull_from = today - timedelta(days=source.repull_days)
    if source.watermark_at is not None:
        first = min(source.watermark_at.date(), repull_from)
    else:
        first = source.start_on or repull_from
    count = min((today - first).days + 1, settings.SOURCE_MAX_DAYS_PER_RUN)
    return [first + timedelta(days=i) for i in range(max(count, 0))]


def _pull_days(source: UsageSource, connector: Connector, client: HttpClient, *, now: datetime, result: RunResult):
    for day in source_days(source, today=now.date(), lag_days=connector.lag_days):
        pull = connector.pull(client, source.account, day)
        _store(source, pull, now=now, result=result, day=day)
        # Today is not over: the watermark stops at its start, the next run pulls it again.
        mark = min(day_bounds(day)[1], day_bounds(now.date())[0])
        UsageSource.objects.filter(pk=source.pk).filter(Q(watermark_at__isnull=True) | Q(watermark_at__lt=mark)).update(
            watermark_at=mark
        )
        result.days.append(day)


def _store(source: UsageSource, pull: Pull, *, now: datetime, result: RunResult, day: date | None = None) -> None:
    if not pull.records:
        return
    if pull.format == "openai_users":
        result.identities += vendor_identities_sync(vendor="openai", kind="user_id", users=json.loads(pull.raw))
        return
    suffix = "ndjson" if pull.format == "copilot_metrics" else "json"
    name = f"{source.name}-{day.isoformat() if day else now.strftime('%Y%m%dT%H%M')}.{suffix}"
    batch = import_batch_create(filename=name, raw=pull.raw, format=pull.format)
    batch = import_batch_process(batch_id=batch.pk) if batch.status == ImportBatch.Status.PENDING else batch
    result.batches.append(batch.pk)
    if batch.status == ImportBatch.Status.FAILED:
        raise ConnectorError(f"batch #{batch.pk} ({name}) failed: {batch.error}")
    result.rows += batch.rows_accepted if batch.status == ImportBatch.Status.DONE else 0


def vendor_identities_sync(*, vendor: str, kind: str, users: list[dict]) -> int:
    """Map vendor user ids to the engineers with their emails (unknown emails are left for the
    identity page), and move the usage those ids already have. Returns identities created."""
    by_email = {u["email"].strip().lower(): str(u["id"]) for u in users if u.get("email")}
    engineers = dict(
        Engineer.objects.annotate(email_ci=Lower("email")).filter(email_ci__in=by_email).values_list("email_ci", "pk")
    )
    known = set(
        VendorIdentity.objects.filter(vendor=vendor, kind=kind, external_id__in=by_email.values()).values_list(
            "external_id", flat=True
        )
    )
    new = [
        VendorIdentity(vendor=vendor, kind=kind, external_id=external_id, engineer_id=engineers[email])
        for email, external_id in sorted(by_email.items())
        if email in engineers and external_id not in known
    ]
    with transaction.atomic():
        VendorIdentity.objects.bulk_create(new, ignore_conflicts=True)
        usage_reattribute(identities=[(vendor, kind, i.external_id) for i in new])
    return len(new)


def source_credential(source: UsageSource) -> str:
    """The secret from the environment variable or the file the source names; never stored.
    Only variables with SOURCE_CREDENTIAL_ENV_PREFIX and files under SOURCE_SECRETS_DIR: the
    secret is sent to the source's URL, which an admin chooses."""
    prefix, folder = settings.SOURCE_CREDENTIAL_ENV_PREFIX, Path(settings.SOURCE_SECRETS_DIR).resolve()
    if source.credential_env:
        if not source.credential_env.startswith(prefix):
            raise ConnectorError(
                f"the key's environment variable must start with {prefix} (SOURCE_CREDENTIAL_ENV_PREFIX)"
            )
        secret = os.environ.get(source.credential_env, "")
        if not secret:
            raise ConnectorError(f"the environment variable {source.credential_env} is not set (the API key)")
        return secret.strip()
    path = Path(source.credential_file).resolve()
    if not path.is_relative_to(folder):
        raise ConnectorError(f"the key file must be under {folder} (SOURCE_SECRETS_DIR)")
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ConnectorError(f"cannot read the key file {source.credential_file}: {exc.strerror}") from exc


def usage_sources_due(*, now: datetime | None = None) -> list[int]:
    """Ring the doorbell of every enabled source whose next run has come (beat, every few minutes)."""
    from usage.tasks import usage_source_run_task

    now = now or timezone.now()
    stale = now - timedelta(minutes=settings.SOURCE_STALE_AFTER_MINUTES)
    ids = list(
        UsageSource.objects.filter(enabled=True)
        .filter(Q(next_run_at__isnull=True) | Q(next_run_at__lte=now))
        .filter(Q(running_since__isnull=True) | Q(running_since__lt=stale))
        .values_list("pk", flat=True)
    )
    for source_id in ids:
        usage_source_run_task.delay_on_commit(source_id=source_id)
    return ids


def usage_source_queue(*, source_id: int, user=None) -> None:
    """Run now: queue a forced run (the claim still keeps it to one at a time)."""
    from leaderboard.access import audit
    from usage.tasks import usage_source_run_task

    source = UsageSource.objects.get(pk=source_id)
    audit(user, "source_run_now", source.name)
    usage_source_run_task.delay_on_commit(source_id=source_id, force=True)
