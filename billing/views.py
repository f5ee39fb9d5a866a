"""Billing endpoints. The cap check is for machines: bearer token, JSON in and out."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from billing.caps_selectors import caps_page
from billing.forms import (
    CapCheckForm,
    CapDecisionForm,
    CapPolicyChangeForm,
    CapPolicyForm,
    CapRaiseRequestForm,
    DeleteForm,
    TeamBudgetForm,
    ToolPolicyForm,
)
from billing.models import CapPolicy
from billing.selectors import approvals_page, engineer_tools
from billing.services.caps import (
    cap_policy_delete,
    cap_policy_set,
    cap_policy_update,
    team_budget_delete,
    team_budget_set,
)
from billing.services.check import cap_check as cap_check_answer
from billing.services.exceptions import cap_exception_decide, cap_exception_request
from billing.services.tokens import api_token_authenticate
from billing.services.tools import tool_policy_delete, tool_policy_set
from billing.services.validation import authorise
from leaderboard.access import Viewer, manages_caps, viewer_for
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
    tools = engineer_tools(engineer_id=viewer.engineer_id, today=timezone.localdate()) if viewer.engineer_id else []
    context = {
        "page": page,
        "form": form,
        "viewer": viewer,
        "raise_vendors": sorted({vendor for vendor, _ in tools}),
        "raise_products": sorted({product for _, product in tools}),
    }
    return render(request, "billing/approvals.html", context)


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


# ---------------------------------------------------------------------------------------------
# The caps page: every write goes through a service, which validates, authorises and audits.


def _policy_create(actor, data: dict) -> str:
    policy, _ = cap_policy_set(actor=actor, **data)
    return f"Cap set: {policy.describe()}."


def _budget_set(actor, data: dict) -> str:
    budget, created = team_budget_set(actor=actor, **data)
    return f"Budget {'set' if created else 'changed'}: {data['team_name']}, ${budget.amount_usd} per {budget.period}."


def _tool_policy_set(actor, data: dict) -> str:
    policy, created = tool_policy_set(actor=actor, **data)
    return f"Tool policy {'set' if created else 'changed'}: {policy.team.name} may not use {policy.vendor}/{policy.product or '*'}."


CAP_FORMS = {
    "policy": (CapPolicyForm, _policy_create),
    "budget": (TeamBudgetForm, _budget_set),
    "tool": (ToolPolicyForm, _tool_policy_set),
}
CAP_DELETES = {
    "policy": (cap_policy_delete, "policy_id"),
    "budget": (team_budget_delete, "budget_id"),
    "tool": (tool_policy_delete, "policy_id"),
}


def _cap_manager(request: HttpRequest) -> Viewer:
    viewer = viewer_for(request.user)
    # 404, as on people pages: the page is not even confirmed to exist for engineers.
    if not manages_caps(viewer):
        raise Http404("No such page.")
    return viewer


@login_required
def caps(request: HttpRequest) -> HttpResponse:
    """Policies, overrides, team budgets and tool policies: list them, and add one from a form."""
    viewer = _cap_manager(request)
    action = request.POST.get("action") if request.method == "POST" else None
    forms = {name: cls(request.POST if name == action else None, prefix=name) for name, (cls, _) in CAP_FORMS.items()}
    if action in forms and forms[action].is_valid():
        try:
            message = CAP_FORMS[action][1](request.user, forms[action].cleaned_data)
        except ValidationError as exc:
            forms[action].add_error(None, exc)
        else:
            messages.success(request, message)
            return redirect("billing:caps")
    page = caps_page(viewer=viewer, today=timezone.localdate())
    context = {"page": page, "viewer": viewer, "action": action, **{f"{name}_form": f for name, f in forms.items()}}
    return render(request, "billing/caps.html", context)


@login_required
def cap_policy_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a policy's amount, period, expiry or reason (its scope and tool are its identity)."""
    viewer = _cap_manager(request)
    policy = CapPolicy.objects.select_related("team", "engineer").filter(pk=pk).first()
    if policy is None or not _may_change(request.user, policy):
        raise Http404("No such policy.")
    initial = {f: getattr(policy, f) for f in ("amount_usd", "period", "valid_until", "reason")}
    form = CapPolicyChangeForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            policy = cap_policy_update(actor=request.user, policy_id=pk, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Cap changed: {policy.describe()}.")
            return redirect("billing:caps")
    return render(request, "billing/cap_policy_edit.html", {"policy": policy, "form": form, "viewer": viewer})


def _may_change(user, policy: CapPolicy) -> bool:
    try:
        authorise(user, team=policy.team, engineer=policy.engineer, today=timezone.localdate())
    except ValidationError:
        return False
    return True


@login_required
@require_POST
def cap_delete(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    """Delete a cap policy, team budget or tool policy (kind), with an optional reason."""
    _cap_manager(request)
    form = DeleteForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    service, key = CAP_DELETES[kind]
    try:
        service(actor=request.user, reason=reason, **{key: pk})
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Deleted.")
    return redirect("billing:caps")
