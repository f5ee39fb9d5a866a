from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from . import selectors


@login_required
def home(request: HttpRequest) -> HttpResponse:
    summary = selectors.org_month_summary()
    return render(request, "leaderboard/home.html", {"summary": summary})
