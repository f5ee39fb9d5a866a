"""The impact-vs-spend page at `/impact/`: spend against merged PRs, per team by month, and flags.

Who is in scope: finance and admins everyone, a manager their reporting chain and themself, an
engineer themself. `?engineer=ID` narrows to one person (404 outside the viewer's reach, as the
engineer page), `?team=ID` to a team's members in the period (403 for a team the viewer may not open).
"""

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from leaderboard.access import Viewer, audit, can_view_team, chain_is_everyone, privacy_settings, viewer_for
from leaderboard.impact_charts import impact_scatter_figure
from leaderboard.periods import Period, PeriodForm
from leaderboard.selectors.board import board_snapshot
from leaderboard.selectors.impact import TEAMS_PER_MONTH_SHOWN, impact_page
from usage.models import Team, TeamMembership


def flag_thresholds() -> dict:
    """The flag thresholds in the units the page states them in (read per request)."""
    return {
        "idle_days": settings.IMPACT_IDLE_DAYS,
        "idle_spend": settings.IMPACT_IDLE_MIN_SPEND_USD,
        "cache_share": round(settings.IMPACT_CACHE_READ_SHARE * 100, 1),
        "output_share": round(settings.IMPACT_CACHE_MAX_OUTPUT_SHARE * 100, 2),
        "cache_tokens": settings.IMPACT_CACHE_MIN_TOKENS,
        "parked_margin": round(settings.IMPACT_PARKED_MARGIN * 100, 1),
        "parked_peers": settings.IMPACT_PARKED_MIN_PEERS,
    }


class ImpactForm(forms.Form):
    engineer = forms.IntegerField(min_value=1, required=False)
    team = forms.IntegerField(min_value=1, required=False)


@login_required
def impact(request: HttpRequest) -> HttpResponse:
    period_form = PeriodForm(request.GET)
    period = period_form.period_or_default()
    form = ImpactForm(request.GET)
    filters = form.cleaned_data if form.is_valid() else {}
    viewer, privacy, today = viewer_for(request.user), privacy_settings(), timezone.now().date()
    scope, scope_ids, scope_name = _scope(viewer, period=period, today=today, **filters)
    if scope in ("engineer", "team") and scope_ids != {viewer.engineer_id}:
        audit(request.user, "view_impact", request.GET.urlencode()[:255], period=period.query())
    page = impact_page(
        viewer=viewer,
        privacy=privacy,
        period=period,
        today=today,
        scope_ids=scope_ids,
        scope=scope,
        snapshot=board_snapshot(period=period),  # a preset period's spend is summed ahead
    )
    context = {
        "page": page,
        "viewer": viewer,
        "privacy": privacy,
        "period": period,
        "form": period_form,
        "filters": filters,
        "scope_name": scope_name,
        # What the period picker keeps when it changes the period.
        "keep": {name: value for name, value in filters.items() if value},
        "team_links": viewer.sees_everyone or viewer.is_manager,
        "thresholds": flag_thresholds(),
        "teams_per_month": TEAMS_PER_MONTH_SHOWN,
        "scatter": impact_scatter_figure(
            points=page.points_shown, median_cost_usd=page.median_cost_usd, median_prs=page.median_prs
        ),
    }
    partial = request.headers.get("HX-Request") and not request.headers.get("HX-History-Restore-Request")
    return render(request, "leaderboard/impact.html#usage" if partial else "leaderboard/impact.html", context)


def _scope(
    viewer: Viewer, *, period: Period, today, engineer: int | None = None, team: int | None = None
) -> tuple[str, frozenset[int] | None, str]:
    """The scope's name, its engineers (None: everyone) and, for one team, the team's name,
    refusing what the viewer may not see."""
    if engineer is not None:
        # 404, not 403: a person outside the viewer's chain is not even confirmed to exist.
        if not viewer.can_view_engineer(engineer):
            raise Http404("No such engineer.")
        return "engineer", frozenset({engineer}), ""
    if team is not None:
        if not can_view_team(viewer, team_id=team, today=today):
            raise PermissionDenied("You may not open this team.")
        name = Team.objects.filter(pk=team).values_list("name", flat=True).first()
        if name is None:
            raise Http404("No such team.")
        members = TeamMembership.objects.filter(team_id=team, valid_from__lt=period.end).exclude(
            valid_to__lte=period.start
        )
        ids = frozenset(members.values_list("engineer_id", flat=True))
        return "team", ids if viewer.sees_everyone else ids & _reach(viewer), name
    if viewer.sees_everyone:
        return "everyone", None, ""
    if chain_is_everyone(viewer):  # the top manager: no filter, rather than 50,000 ids sent back
        return "chain", None, ""
    return ("chain" if viewer.is_manager else "self"), _reach(viewer), ""


def _reach(viewer: Viewer) -> frozenset[int]:
    own = frozenset() if viewer.engineer_id is None else frozenset({viewer.engineer_id})
    return viewer.chain_ids | own
