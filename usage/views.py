"""Admin pages for imports and sources: upload exports, watch batches, open one, map unmapped
identities; connected sources and which of two overlapping sources counts."""

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from leaderboard.access import audit
from usage.forms import IdentityMapForm, UploadForm
from usage.models import ImportBatch, SourcePriority, UsageSource
from usage.selectors import (
    import_batch_detail,
    import_batch_not_counted,
    import_batch_page,
    unmapped_authors,
    unmapped_identities,
    usage_sources_page,
)
from usage.services.counting import source_priority_set
from usage.services.identities import identity_map
from usage.services.ingest import import_batch_create
from usage.services.sources import usage_source_queue
from usage.templatetags.usage_format import compact, usd


def staff_required(view):
    """Anonymous users go to the login page; for signed-in non-staff the page does not exist."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_staff:
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return login_required(wrapper)


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


@staff_required
def imports(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST, request.FILES) if request.method == "POST" else UploadForm()
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        # One transaction: every file becomes a batch, or none does; workers start on commit.
        with transaction.atomic():
            batches = [
                import_batch_create(
                    filename=upload.name,
                    raw=upload.read(),
                    format=data["format"],
                    engineer_email=data["engineer_email"],
                    created_by=request.user,
                )
                for upload in data["uploads"]
            ]
        _upload_messages(request, [batch.pk for batch in batches])
        return redirect("usage:imports")
    context = {
        "form": form,
        "listing": import_batch_page(page_number=request.GET.get("page")),
        "unmapped": unmapped_identities(),
        "authors": unmapped_authors(),
        "max_bytes": settings.IMPORT_MAX_UPLOAD_BYTES,
        "max_files": settings.DATA_UPLOAD_MAX_NUMBER_FILES,
    }
    return render(request, "usage/imports.html", context)


def _rows(count: int) -> str:
    return f"{count:,} row{'' if count == 1 else 's'}"


def _upload_messages(request: HttpRequest, batch_ids: list[int]) -> None:
    """What became of each upload. Without a broker the import ran on commit, so a failure is
    known now and shown as one; with workers the batches are queued and the list follows them."""
    Status = ImportBatch.Status
    queued = []
    for batch in ImportBatch.objects.filter(pk__in=batch_ids).order_by("pk"):
        if batch.status == Status.FAILED:
            messages.error(request, f"Not imported: {batch.error[:500]}")  # the error names the file
        elif batch.status == Status.DUPLICATE:
            messages.warning(request, f"{batch.filename}: the same bytes as an earlier upload; nothing to import.")
        elif batch.status == Status.DONE and batch.rows_rejected:
            messages.warning(
                request,
                f"{batch.filename}: imported {_rows(batch.rows_accepted)}; {batch.rows_rejected:,} "
                f"rejected, each with its reason on the batch's page.",
            )
        elif batch.status == Status.DONE and batch.rows_unmapped:
            messages.warning(
                request,
                f"{batch.filename}: imported {_rows(batch.rows_accepted)}; {batch.rows_unmapped:,} of them "
                f"(${batch.unmapped_cost_usd:,.2f}) belong to nobody yet: map their identities below.",
            )
        elif batch.status == Status.DONE:
            messages.success(request, f"{batch.filename}: imported {_rows(batch.rows_accepted)}.")
        else:
            queued.append(batch.filename)
    if queued:
        messages.success(request, f"Uploaded {', '.join(queued)}: importing; the list below follows it.")


@staff_required
def imports_batches(request: HttpRequest) -> HttpResponse:
    """The batch list alone: htmx polls it while some batch is pending or running."""
    listing = import_batch_page(page_number=request.GET.get("page"))
    response = render(request, "usage/imports.html#batch-list", {"listing": listing})
    if not listing.active:
        # Only a polling list asks, so this is the moment the last batch finished:
        # the page refreshes its unmapped identities too.
        response["HX-Trigger"] = "imports-settled"
    return response


@staff_required
def imports_unmapped(request: HttpRequest) -> HttpResponse:
    context = {"unmapped": unmapped_identities(), "authors": unmapped_authors()}
    return render(request, "usage/imports.html#unmapped", context)


@staff_required
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    detail = import_batch_detail(batch_id=pk, rejected_page=request.GET.get("page"))
    if detail is None:
        raise Http404("No such import batch.")
    template = "usage/batch.html#batch-body" if _is_htmx(request) else "usage/batch.html"
    return render(request, template, {"detail": detail, "not_counted": import_batch_not_counted(batch=detail.batch)})


@staff_required
def batch_raw(request: HttpRequest, pk: int) -> FileResponse:
    batch = get_object_or_404(ImportBatch, pk=pk)
    try:
        raw = batch.raw_file.open("rb")
    except (OSError, ValueError) as exc:
        raise Http404(f"The file kept for batch #{pk} cannot be read.") from exc
    audit(request.user, "download_import", f"batch:{pk}", filename=batch.filename)
    return FileResponse(raw, as_attachment=True, filename=batch.filename)


@staff_required
@require_POST
def map_identity(request: HttpRequest) -> HttpResponse:
    """Map one unmapped identity to an engineer. htmx swaps the form for the outcome;
    without htmx the outcome is a message on the page the form was on."""
    form = IdentityMapForm(request.POST)
    result = None
    if form.is_valid():
        try:
            result = identity_map(**form.cleaned_data, user=request.user)
        except ValidationError as exc:
            form.add_error("engineer_email", exc)
    next_url = request.POST.get("next", "")
    if _is_htmx(request):
        ident = {
            "vendor": form.data.get("vendor"),
            "kind": form.data.get("kind"),
            "value": form.data.get("external_id"),
        }
        context = {"ident": ident, "map_form": form, "result": result, "next_url": next_url}
        return render(request, "usage/imports.html#map-form", context)
    if result is not None:
        rows = f"{compact(result.rows_moved)} usage row{pluralize(result.rows_moved)} ({usd(result.cost_usd)})"
        if result.outcomes_moved:
            rows += f" and {compact(result.outcomes_moved)} outcome row{pluralize(result.outcomes_moved)}"
        messages.success(request, f"Moved {rows} to {result.engineer_name}.")
    else:
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, require_https=request.is_secure()):
        next_url = "usage:imports"
    return redirect(next_url)


@staff_required
def sources(request: HttpRequest) -> HttpResponse:
    """Connected sources (last run, next run, rows, errors, run now) and the primary-source settings."""
    page = usage_sources_page()
    template = "usage/sources.html#source-list" if _is_htmx(request) else "usage/sources.html"
    return render(
        request, template, {"page": page, **_watching(page, request.GET.get("watch"), request.GET.get("since"))}
    )


@staff_required
@require_POST
def source_run_now(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(UsageSource, pk=pk)
    since = timezone.now().isoformat()
    usage_source_queue(source_id=source.pk, user=request.user)
    if _is_htmx(request):
        # The row says "queued" and the list polls until that source has finished a run.
        page = usage_sources_page()
        return render(request, "usage/sources.html#source-list", {"page": page, **_watching(page, source.pk, since)})
    messages.success(request, f"{source.name}: a run was queued.")
    return redirect("usage:sources")


def _watching(page, source_id, since: str | None) -> dict:
    """The source a "run now" is waiting on, while it has not finished a run since `since`."""
    moment = parse_datetime(since or "")
    for source in page.sources:
        if moment and str(source.pk) == str(source_id):
            if source.last_finished_at is None or source.last_finished_at < moment:
                return {"watching": source, "since": since}
    return {}


@staff_required
@require_POST
def source_priority(request: HttpRequest, pk: int) -> HttpResponse:
    """Make one dataset of an overlapping pair the one that counts; the rollup follows."""
    priority = get_object_or_404(SourcePriority, pk=pk)
    try:
        flipped = source_priority_set(
            priority_id=priority.pk, primary_dataset=request.POST.get("primary", ""), user=request.user
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{priority.name}: {compact(flipped)} row{pluralize(flipped)} changed side.")
    return redirect(reverse("usage:sources") + "#priorities")
