from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse


@login_required
def team_detail(request: HttpRequest, pk: int) -> HttpResponse:
    raise Http404("not built yet")
