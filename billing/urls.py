from django.urls import path

from . import views

app_name = "billing"
urlpatterns = [
    path("api/v1/caps/check", views.cap_check, name="cap-check"),
    path("approvals/", views.approvals, name="approvals"),
]
