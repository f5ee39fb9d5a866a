"""The finance review (/finance/) and its downloads: finance and admins only, others 404."""

from __future__ import annotations

import io
from datetime import date

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from billing.charts import monthly_vendor_spend_figure
from billing.exports import EXPORT_KINDS, export_write, parse_month
from billing.finance import RECONCILED_PRODUCTS, finance_overview, month_shift
from billing.forms import SeatUploadForm
from billing.services.copilot_seats import copilot_seats_import, looks_like_copilot_seats
from billing.services.seats import SeatImportError, seats_import
from leaderboard.access import Viewer, viewer_for
from usage.display import vendor_label

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _finance_only(request: HttpRequest) -> Viewer:
    # 404 rather than 403: the page's existence is nobody else's business.
    viewer = viewer_for(request.user)
    if not viewer.sees_everyone:
        raise Http404
    return viewer


def _month(request: HttpRequest) -> tuple[date, date, bool]:
    """(first day of ?month=, today, whether ?month= was given but is not a month)."""
    today = timezone.localdate()
    asked = request.GET.get("month", "")
    start = parse_month(asked)
    return start or today.replace(day=1), today, bool(asked) and start is None


@login_required
def finance(request: HttpRequest) -> HttpResponse:
    viewer = _finance_only(request)
    start, today, bad_month = _month(request)
    if bad_month:
        messages.error(request, "A month looks like 2026-10: showing this month instead.")
    elif start > today.replace(day=1):  # a month to come would show its seats as "Total paid"
        messages.error(request, f"{start:%B %Y} has not begun: showing this month instead.")
        start = today.replace(day=1)
    overview = finance_overview(start=start, today=today)
    context = {
        "o": overview,
        "viewer": viewer,
        "month": f"{start:%Y-%m}",
        "previous_month": f"{month_shift(start, -1):%Y-%m}",
        "next_month": f"{month_shift(start, 1):%Y-%m}" if month_shift(start, 1) <= today else None,
        "reconciled_products": RECONCILED_PRODUCTS,
        "vendor_fig": monthly_vendor_spend_figure(
            months=overview.chart_months,
            spend={vendor_label(vendor): spend for vendor, spend in overview.chart_vendors.items()},
        ),
        "seat_form": SeatUploadForm(),
        "idle_days": settings.IDLE_SEAT_DAYS,
    }
    return render(request, "billing/finance.html", context)


@login_required
def finance_export(request: HttpRequest, kind: str, fmt: str) -> HttpResponse:
    """A download of one export for ?month= (default: this month); audited."""
    _finance_only(request)
    if kind not in EXPORT_KINDS or fmt not in CONTENT_TYPES:
        raise Http404
    start, _, bad_month = _month(request)
    if bad_month:
        raise Http404("A month looks like 2026-10.")
    out = io.BytesIO() if fmt == "xlsx" else io.StringIO()
    export_write(user=request.user, kind=kind, start=start, fmt=fmt, out=out, source="web")
    response = HttpResponse(out.getvalue(), content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="tokenboard-{kind}-{start:%Y-%m}.{fmt}"'
    return response


@login_required
@require_POST
def seats_upload(request: HttpRequest) -> HttpResponse:
    """A seats CSV (or the Copilot seats API JSON) from the page: imported whole or not at all."""
    _finance_only(request)
    form = SeatUploadForm(request.POST, request.FILES)
    start = parse_month(request.POST.get("month", "")) or timezone.localdate().replace(day=1)
    # Back to the seats card, which shows this upload's message (tagged "inline") where it was made.
    back = redirect(f"{reverse('billing:finance')}?month={start:%Y-%m}#seats")
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors), extra_tags="inline")
        return back
    upload = form.cleaned_data["file"]
    raw = upload.read()
    unknown_logins: dict[str, list[str]] = {}
    copilot = None
    try:
        if looks_like_copilot_seats(raw):  # GitHub's Copilot seats API response (JSON)
            copilot = copilot_seats_import(
                raw=raw, actor=request.user, source="web", complete=form.cleaned_data["complete"]
            )
            result, unknown_logins = copilot.seats, copilot.unknown_logins
        elif form.cleaned_data["complete"]:
            messages.error(
                request,
                f"{upload.name}: nothing imported. Only the Copilot seats JSON can end seats it no longer lists; a CSV says each seat's end.",
                extra_tags="inline",
            )
            return back
        else:
            result = seats_import(raw=raw, actor=request.user, source="web")
    except SeatImportError as exc:
        messages.error(
            request, f"{upload.name}: nothing imported. " + "; ".join(exc.problems[:20]), extra_tags="inline"
        )
        return back
    note = f"{upload.name}: {result.rows} seat{'' if result.rows == 1 else 's'} ({result.created} new, {result.updated} changed, {result.unchanged} unchanged)."
    if result.unknown_emails:
        note += f" Unknown emails, kept as unmapped seats: {', '.join(sorted(result.unknown_emails))}."
    if unknown_logins:
        note += f" Unknown GitHub logins, not imported: {', '.join(sorted(unknown_logins))}."
    if copilot is not None and copilot.superseded:
        note += (
            " Re-created Copilot seats: the earlier one ended the day before ("
            + ", ".join(s.email for s in copilot.superseded)
            + ")."
        )
    if form.cleaned_data["complete"]:
        ended = copilot.ended
        note += f" {len(ended)} Copilot seat{'' if len(ended) == 1 else 's'} no longer listed ended yesterday" + (
            f" ({', '.join(s.email for s in ended)})." if ended else "."
        )
        if copilot.unchecked:
            note += f" Left open, no GitHub login on record: {', '.join(copilot.unchecked)}."
    messages.success(request, note, extra_tags="inline")
    return back
