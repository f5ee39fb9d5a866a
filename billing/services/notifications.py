"""Alert delivery: email to the engineer and their manager, and a Slack-compatible webhook.

Each delivery is its own Celery task (queued on commit, retried on transient failures), so a
slow mail server or a dead webhook never holds up ingest or evaluation. A delivered channel
is stamped on the alert row and not sent again.
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.error
import urllib.request
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from billing.models import CapAlert, CapAlertKind, TeamWebhook
from usage.display import tool_label
from usage.models import Engineer, Team, TeamMembership

logger = logging.getLogger(__name__)
CHANNELS = ("email", "webhook")


class DeliveryError(Exception):
    """A transient failure (connection refused, timeout, 5xx, 429): worth retrying."""


def cap_alerts_notify_queue(*, alert_ids: list[int]) -> None:
    """Queue one delivery task per alert and channel once the alert rows are committed."""
    from billing.tasks import cap_alert_deliver_task

    for alert_id in alert_ids:
        for channel in CHANNELS:
            transaction.on_commit(
                partial(cap_alert_deliver_task.delay, alert_id=alert_id, channel=channel), robust=True
            )


def _tool(alert: CapAlert) -> str:
    return tool_label(alert.vendor, alert.product) or "all tools"


def cap_alert_message(alert: CapAlert) -> tuple[str, str]:
    """Subject and text of an alert, for people (email) and chat (webhook)."""
    if alert.engineer is not None:
        who = f"{alert.engineer.name}'s {_tool(alert)} cap"
    else:
        who = f"team {alert.team.name if alert.team else '?'}'s budget"
    last_day = alert.period_end - timedelta(days=1)
    span = f"{alert.period_start:%b %-d} – {last_day:%b %-d, %Y}"
    if alert.kind == CapAlertKind.FORECAST:
        subject = f"Forecast: {who} will be reached on {alert.crosses_on:%b %-d}"
        text = (
            f"{who[0].upper()}{who[1:]} of ${alert.cap_usd:,} ({span}) is projected to be reached on "
            f"{alert.crosses_on:%b %-d}: ${alert.spent_usd:,} spent so far, ${alert.projected_usd:,} projected "
            "by the end of the period."
        )
    else:
        subject = f"{alert.threshold_pct}% of {who} used"
        text = f"{alert.threshold_pct}% of {who} is used: ${alert.spent_usd:,} of ${alert.cap_usd:,} ({span})."
    return subject, text


def _recipients(alert: CapAlert) -> list[str]:
    if alert.engineer is not None:
        people = [alert.engineer, alert.engineer.manager]
        return sorted({p.email for p in people if p is not None and p.email})
    # A team budget: the managers of the team's current members.
    member_ids = TeamMembership.objects.on(timezone.localdate()).filter(team_id=alert.team_id).values("engineer_id")
    managers = Engineer.objects.filter(reports__in=member_ids).values_list("email", flat=True).distinct()
    return sorted(set(managers))


def team_webhook_url(*, team_id: int | None) -> str:
    """The webhook of the team or of the nearest team above it that has one ("" = none)."""
    return team_webhook_urls(team_ids=[team_id])[team_id]


def team_webhook_urls(*, team_ids: list[int | None]) -> dict[int | None, str]:
    """team_webhook_url for many teams in two queries at most (one when no team has a hook)."""
    hooks = dict(TeamWebhook.objects.values_list("team_id", "url"))
    parents = dict(Team.objects.values_list("pk", "parent_id")) if hooks else {}
    found: dict[int | None, str] = {}
    for start in team_ids:
        team_id, seen = start, set()
        while team_id is not None and team_id not in seen and team_id not in hooks:
            seen.add(team_id)
            team_id = parents.get(team_id)
        found[start] = hooks.get(team_id, "") if team_id is not None else ""
    return found


def cap_alert_deliver(*, alert_id: int, channel: str, final_attempt: bool = False) -> bool:
    """Send one alert on one channel unless already sent. True when sent (now or before).
    A transient failure raises DeliveryError for the task to retry, except on the final
    attempt, when it is recorded on the alert and False returned."""
    alert = CapAlert.objects.select_related("engineer__manager", "team").get(pk=alert_id)
    stamp = "emailed_at" if channel == "email" else "webhook_at"
    if getattr(alert, stamp) is not None:
        return True
    try:
        sent = _send_email(alert) if channel == "email" else _send_webhook(alert)
    except DeliveryError as exc:
        CapAlert.objects.filter(pk=alert_id).update(delivery_error=f"{channel}: {exc}"[:1000])
        if not final_attempt:
            raise
        logger.warning("alert %s: %s delivery failed for good: %s", alert_id, channel, exc)
        return False
    if sent:
        CapAlert.objects.filter(pk=alert_id).update(**{stamp: timezone.now()}, delivery_error="")
    return sent


def _send_email(alert: CapAlert) -> bool:
    recipients = _recipients(alert)
    if not recipients:
        return False
    subject, text = cap_alert_message(alert)
    try:
        send_mail(f"[Tokenboard] {subject}", text, settings.DEFAULT_FROM_EMAIL, recipients)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(str(exc)) from exc
    return True


def _alert_team_id(alert: CapAlert) -> int | None:
    if alert.team_id:
        return alert.team_id
    membership = TeamMembership.objects.on(timezone.localdate()).filter(engineer_id=alert.engineer_id).first()
    return membership.team_id if membership else None


def _send_webhook(alert: CapAlert) -> bool:
    url = team_webhook_url(team_id=_alert_team_id(alert))
    if not url:
        return False
    return webhook_post(url=url, payload={"text": cap_alert_message(alert)[1]})


def webhook_post(*, url: str, payload: dict) -> bool:
    """POST JSON; DeliveryError on a transient failure, False on a refusal (4xx) that a retry
    would not change."""
    if not url.startswith(("http://", "https://")):
        logger.warning("webhook %s is not http(s): not sent", url)
        return False
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.CAP_WEBHOOK_TIMEOUT_SECONDS) as response:  # noqa: S310
            response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 429 or exc.code >= 500:
            raise DeliveryError(f"HTTP {exc.code} from {url}") from exc
        logger.warning("webhook %s refused the alert: HTTP %s", url, exc.code)
        return False
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise DeliveryError(f"{url}: {exc}") from exc
    return True
