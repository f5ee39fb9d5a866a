from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from leaderboard.selectors.board import org_month_summary


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "leaderboard/home.html", {"summary": org_month_summary()})
