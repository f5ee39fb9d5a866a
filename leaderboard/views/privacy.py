from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from leaderboard.access import audit, privacy_settings
from leaderboard.forms import PrivacySettingsForm


@staff_member_required
def privacy_edit(request: HttpRequest) -> HttpResponse:
    current = privacy_settings()
    before = {"board_names": current.board_names, "min_team_size": current.min_team_size}
    form = PrivacySettingsForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        saved = form.save(commit=False)
        saved.updated_by = request.user
        saved.save()
        audit(request.user, "privacy_update", "privacy", old=before, new=form.cleaned_data)
        messages.success(request, "Privacy settings saved.")
        return redirect("leaderboard:privacy")
    return render(request, "leaderboard/privacy.html", {"form": form})
