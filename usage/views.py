from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from usage.models import ImportBatch


@staff_member_required
def imports(request: HttpRequest) -> HttpResponse:
    return render(request, "usage/imports.html", {"batches": ImportBatch.objects.all()[:50]})
