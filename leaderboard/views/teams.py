from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from billing.selectors import team_budget_lines
from leaderboard import charts
from leaderboard.access import can_view_team, viewer_for
from leaderboard.periods import PeriodForm
from leaderboard.selectors.teams import team_usage

TEMPLATE = "leaderboard/team.html"


@login_required
def team_detail(request: HttpRequest, pk: int) -> HttpResponse:
    viewer, today = viewer_for(request.user), timezone.now().date()
    # 404, not 403, for a team the viewer does not manage: its existence is not confirmed.
    if not can_view_team(viewer, team_id=pk, today=today):
        raise Http404("No such team.")
    form = PeriodForm(request.GET)
    usage = team_usage(team_id=pk, period=form.period_or_default("month"))
    if usage is None:
        raise Http404("No such team.")
    daily_fig = charts.daily_usage_figure(
        days=[point.day for point in usage.days],
        spend=usage.branch_days,
        tokens=[point.tokens for point in usage.days],
    )
    members = [
        (member, viewer.can_view_engineer(member.engineer_id), charts.sparkline_points(member.daily_cost_usd))
        for member in usage.members
    ]
    context = {
        "usage": usage,
        "viewer": viewer,
        "form": form,
        "daily_fig": daily_fig,
        "members": members,
        "budget_lines": team_budget_lines(team_id=pk, today=today),
    }
    template = f"{TEMPLATE}#usage" if request.headers.get("HX-Request") else TEMPLATE
    return render(request, template, context)
