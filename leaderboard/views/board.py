"""The leaderboard at `/`: people or teams ranked over a period, shareable by its query string."""

import csv
from decimal import Decimal

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.validators import RegexValidator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import get_conditional_response

from leaderboard.access import audit, privacy_settings, viewer_for
from leaderboard.periods import PeriodForm
from leaderboard.selectors.board import (
    METRICS,
    TITLES,
    board_chart,
    board_filter_choices,
    board_snapshot,
    board_team_menu,
    leaderboard_page,
    team_board_page,
)

TABS = {"people": "People", "teams": "Teams"}
CSV_COLUMNS = "rank name team tokens cost_usd tokens_per_usd change_pct tier top_model top_tool titles".split()
CENTS = Decimal("0.01")
# Cells a spreadsheet would run as a formula (CSV injection) get a leading quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SLUG = RegexValidator(r"^[\w.-]+$", "Letters, digits, dots, dashes and underscores only.")


class BoardForm(forms.Form):
    """The board's filters; each invalid field falls back to its default, with its error shown."""

    tab = forms.ChoiceField(choices=list(TABS.items()), required=False)
    sort = forms.ChoiceField(choices=list(METRICS.items()), required=False)
    team = forms.IntegerField(required=False)
    vendor = forms.CharField(max_length=40, required=False, validators=[SLUG])
    product = forms.CharField(max_length=40, required=False, validators=[SLUG])
    page = forms.IntegerField(min_value=1, required=False)

    def __init__(self, *args, team_ids: frozenset[int], **kwargs):
        super().__init__(*args, **kwargs)
        self.team_ids = team_ids  # a set, not a choice list: a big org has thousands of teams

    def clean_team(self):
        team = self.cleaned_data["team"]
        if team is not None and team not in self.team_ids:
            raise forms.ValidationError("There is no such team.")
        return team

    def options(self) -> dict:
        self.is_valid()
        data = self.cleaned_data
        return {
            "tab": data.get("tab") or "people",
            "metric": data.get("sort") or "spend",
            "team_id": data.get("team"),
            "vendor": data.get("vendor") or "",
            "product": data.get("product") or "",
            "page": data.get("page") or 1,
        }


@login_required
def home(request: HttpRequest) -> HttpResponse:
    period_form = PeriodForm(request.GET)
    period = period_form.period_or_default()
    snapshot = board_snapshot(period=period)
    choices = board_filter_choices(period=period, snapshot=snapshot)
    form = BoardForm(request.GET, team_ids=choices.team_menu.ids)
    options = form.options()
    tab = options.pop("tab")
    viewer, privacy = viewer_for(request.user), privacy_settings()
    if request.GET.get("format") == "csv":
        return _csv_export(request, viewer=viewer, privacy=privacy, period=period, snapshot=snapshot, **options)
    if tab == "teams":
        board = team_board_page(viewer=viewer, privacy=privacy, period=period, snapshot=snapshot, **options)
        chart = None
    else:
        board = leaderboard_page(viewer=viewer, privacy=privacy, period=period, snapshot=snapshot, **options)
        chart = board_chart(board=board) if len(board.rows) > 1 else None
    context = {
        "board": board,
        "viewer": viewer,
        "privacy": privacy,
        "chart": chart,
        "tab": tab,
        "tabs": TABS,
        "metrics": METRICS,
        "metric_label": METRICS[options["metric"]],
        "titles": TITLES,
        "period": period,
        "period_form": period_form,
        "form": form,
        "choices": choices,
        "options": options,
        "filtered": bool(options["team_id"] or options["vendor"] or options["product"]),
        "snapshot": snapshot,
    }
    # htmx swaps only the board; a history restore needs the whole page.
    partial = request.headers.get("HX-Request") and not request.headers.get("HX-History-Restore-Request")
    return render(request, "leaderboard/home.html#board" if partial else "leaderboard/home.html", context)


@login_required
def team_menu(request: HttpRequest) -> HttpResponse:
    """Every team's `<option>`, for a board whose team menu was too big to come with the page.
    One query; the menu is rendered once per change of the team table."""
    menu = board_team_menu()
    # 7,500 teams are 500 KB of options, fetched on each page that uses the menu: the browser
    # keeps them and asks again with their ETag, which names the team table's version.
    etag = None if menu.version is None else f'"teams-{menu.version}"'
    unchanged = get_conditional_response(request, etag=etag) if etag else None
    if unchanged is not None:
        return unchanged
    selected = request.GET.get("team", "")
    team_id = int(selected) if selected.isdigit() and int(selected) in menu.ids else None
    response = HttpResponse('<option value="">All teams</option>' + menu.options(team_id, everything=True))
    if etag:
        response["ETag"] = etag
        response["Cache-Control"] = "private, no-cache"
    return response


def _csv_export(request: HttpRequest, **query) -> HttpResponse:
    """The whole board as CSV, under the same privacy rules as the page, and audited."""
    query.pop("page")
    board = leaderboard_page(everyone=True, **query)
    audit(request.user, "export_leaderboard_csv", target=request.GET.urlencode()[:255])
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = (
        f'attachment; filename="leaderboard-{board.period.start}-{board.period.last_day}.csv"'
    )
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for row in board.rows:
        change = "" if row.change_pct is None else round(row.change_pct, 1)
        cells = [row.position, row.name, row.team, row.tokens, row.cost_usd.quantize(CENTS), row.tokens_per_usd or ""]
        cells += [change, row.tier, row.top_model, row.top_tool, "; ".join(row.titles)]
        writer.writerow([_safe_cell(cell) for cell in cells])
    return response


def _safe_cell(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
