"""The app's URLs plus an empty page behind login: what Django itself costs per request
(middleware, session, user), the floor under every page's Python time."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import include, path


@login_required
def empty(request):
    return HttpResponse("")


urlpatterns = [path("bench/empty/", empty), path("", include("config.urls"))]
