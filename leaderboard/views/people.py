from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from billing.selectors import engineer_cap_lines
from leaderboard import charts
from leaderboard.access import Viewer, audit, can_view_team, viewer_for
from leaderboard.periods import PeriodForm
from leaderboard.selectors.people import EngineerUsage, engineer_usage
from usage.display import vendor_label

TEMPLATE = "leaderboard/engineer.html"


@login_required
def me(request: HttpRequest) -> HttpResponse:
    viewer = viewer_for(request.user)
    if viewer.engineer_id is None:
        # An admin or finance login that is nobody in the org chart: say what to do instead.
        return render(request, TEMPLATE, {"usage": None, "viewer": viewer})
    return engineer_page(request, viewer=viewer, engineer_id=viewer.engineer_id)


@login_required
def engineer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    viewer = viewer_for(request.user)
    # 404, not 403: a person outside the viewer's chain is not even confirmed to exist.
    if not viewer.can_view_engineer(pk):
        raise Http404("No such engineer.")
    return engineer_page(request, viewer=viewer, engineer_id=pk)


def engineer_page(request: HttpRequest, *, viewer: Viewer, engineer_id: int) -> HttpResponse:
    form = PeriodForm(request.GET)
    period = form.period_or_default("month")
    today = timezone.now().date()
    usage = engineer_usage(engineer_id=engineer_id, period=period, today=today)
    if usage is None:
        raise Http404("No such engineer.")
    if engineer_id != viewer.engineer_id:
        audit(request.user, "view_engineer", f"engineer:{engineer_id}", period=period.query())
    team_id = usage.person.team_id
    context = {
        "usage": usage,
        "viewer": viewer,
        "form": form,
        "own_page": engineer_id == viewer.engineer_id,
        "team_link": team_id is not None and can_view_team(viewer, team_id=team_id, today=today),
        "cap_lines": engineer_cap_lines(engineer_id=engineer_id, today=today),
        **engineer_figures(usage),
    }
    template = f"{TEMPLATE}#usage" if request.headers.get("HX-Request") else TEMPLATE
    return render(request, template, context)


def engineer_figures(usage: EngineerUsage) -> dict:
    days = [point.day for point in usage.days]
    return {
        "daily_fig": charts.daily_usage_figure(
            days=days,
            spend={vendor_label(vendor): spend for vendor, spend in usage.vendor_days.items()},
            tokens=[point.tokens for point in usage.days],
        ),
        "model_fig": charts.donut_figure(
            labels=[s.key for s in usage.by_model], values=[s.cost_usd for s in usage.by_model]
        ),
        "rank_fig": charts.rank_figure(
            weeks=[p.week for p in usage.ranks],
            ranks=[p.rank for p in usage.ranks],
            engineers=[p.engineers for p in usage.ranks],
        ),
    }
