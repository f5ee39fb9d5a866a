"""Billing endpoints. The cap check is for machines: bearer token, JSON in and out."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from billing.forms import CapCheckForm, CapDecisionForm, CapRaiseRequestForm
from billing.selectors import approvals_page
from billing.services.check import cap_check as cap_check_answer
from billing.services.exceptions import cap_exception_decide, cap_exception_request
from billing.services.tokens import api_token_authenticate
from leaderboard.access import viewer_for
from usage.models import Engineer


@require_GET
def cap_check(request: HttpRequest) -> JsonResponse:
    """GET /api/v1/caps/check?email=&vendor=&product= with `Authorization: Bearer <token>`."""
    if api_token_authenticate(authorization=request.headers.get("Authorization", "")) is None:
        response = JsonResponse({"error": "A valid API token is required (Authorization: Bearer <token>)."}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="tokenboard"'
        return response
    form = CapCheckForm(request.GET)
    if not form.is_valid():
        errors = {name: [str(e) for e in errs] for name, errs in form.errors.items()}
        return JsonResponse({"error": "Bad query: email and vendor are required.", "fields": errors}, status=400)
    data = form.cleaned_data
    answer = cap_check_answer(
        email=data["email"], vendor=data["vendor"], product=data["product"], today=timezone.localdate()
    )
    if answer is None:
        return JsonResponse({"error": f"No engineer with the email {data['email']!r}."}, status=404)
    return JsonResponse(answer.as_json())


@login_required
def approvals(request: HttpRequest) -> HttpResponse:
    """Ask to go over a cap; managers (finance, admins) approve or deny their chain's requests."""
    viewer = viewer_for(request.user)
    action = request.POST.get("action") if request.method == "POST" else None
    if action == "decide":
        _decide(request)
        return redirect("billing:approvals")
    form = CapRaiseRequestForm(request.POST if action == "request" else None)
    if action == "request" and form.is_valid() and viewer.engineer_id is not None:
        email = Engineer.objects.filter(pk=viewer.engineer_id).values_list("email", flat=True).get()
        try:
            cap_exception_request(actor=request.user, engineer_email=email, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Your request was sent to your manager.")
            return redirect("billing:approvals")
    page = approvals_page(viewer=viewer)
    return render(request, "billing/approvals.html", {"page": page, "form": form, "viewer": viewer})


def _decide(request: HttpRequest) -> None:
    form = CapDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose approve or deny.")
        return
    data = form.cleaned_data
    try:
        decided = cap_exception_decide(
            actor=request.user,
            exception_id=data["exception_id"],
            approve=data["decision"] == "approve",
            note=data["note"],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Request #{decided.pk} {decided.status}.")
