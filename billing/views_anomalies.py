"""Spend anomalies (/anomalies/): everyone logged in; each sees what their role allows."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from billing.anomalies import spend_anomaly_page
from leaderboard.access import viewer_for


@login_required
def anomalies(request: HttpRequest) -> HttpResponse:
    viewer = viewer_for(request.user)
    page = spend_anomaly_page(viewer=viewer, today=timezone.localdate())
    rules = {
        "zscore": settings.ANOMALY_ZSCORE,
        "multiple": settings.ANOMALY_MULTIPLE,
        "min_usd": settings.ANOMALY_MIN_DAY_USD,
        "alert_days": settings.ANOMALY_ALERT_DAYS,
    }
    return render(request, "billing/anomalies.html", {"page": page, "viewer": viewer, **rules})
