"""The efficiency ranking at `/efficiency/`: merged PRs per $100 and accepted lines per $,
reached from the leaderboard's "Efficiency" tab and sharing its period query string."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from leaderboard.access import privacy_settings, viewer_for
from leaderboard.periods import PeriodForm
from leaderboard.selectors.board import board_snapshot
from leaderboard.selectors.efficiency import METRICS, efficiency_board


class EfficiencyForm(forms.Form):
    sort = forms.ChoiceField(choices=list(METRICS.items()), required=False)


@login_required
def efficiency(request: HttpRequest) -> HttpResponse:
    period_form = PeriodForm(request.GET)
    period = period_form.period_or_default()
    form = EfficiencyForm(request.GET)
    metric = (form.cleaned_data.get("sort") if form.is_valid() else "") or "prs_per_100usd"
    viewer, privacy = viewer_for(request.user), privacy_settings()
    board = efficiency_board(
        viewer=viewer,
        privacy=privacy,
        period=period,
        metric=metric,
        today=timezone.now().date(),
        snapshot=board_snapshot(period=period),  # a preset period's spend is summed ahead
    )
    context = {
        "board": board,
        "viewer": viewer,
        "period": period,
        "period_form": period_form,
        "metrics": METRICS,
        "metric": metric,
        "metric_label": METRICS[metric],
    }
    partial = request.headers.get("HX-Request") and not request.headers.get("HX-History-Restore-Request")
    return render(request, "leaderboard/efficiency.html#board" if partial else "leaderboard/efficiency.html", context)
