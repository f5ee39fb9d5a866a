from django.urls import path

from . import views, views_anomalies, views_finance

app_name = "billing"
urlpatterns = [
    path("api/v1/caps/check", views.cap_check, name="cap-check"),
    path("anomalies/", views_anomalies.anomalies, name="anomalies"),
    path("approvals/", views.approvals, name="approvals"),
    path("caps/", views.caps, name="caps"),
    path("caps/policies/<int:pk>/", views.cap_policy_edit, name="cap-policy-edit"),
    path("caps/policies/<int:pk>/delete/", views.cap_delete, {"kind": "policy"}, name="cap-policy-delete"),
    path("caps/budgets/<int:pk>/delete/", views.cap_delete, {"kind": "budget"}, name="team-budget-delete"),
    path("caps/tools/<int:pk>/delete/", views.cap_delete, {"kind": "tool"}, name="tool-policy-delete"),
    path("finance/", views_finance.finance, name="finance"),
    path("finance/seats/", views_finance.seats_upload, name="finance-seats"),
    path("finance/export/<str:kind>.<str:fmt>", views_finance.finance_export, name="finance-export"),
]
