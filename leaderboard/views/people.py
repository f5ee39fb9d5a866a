from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse


@login_required
def me(request: HttpRequest) -> HttpResponse:
    raise Http404("not built yet")


@login_required
def engineer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    raise Http404("not built yet")
