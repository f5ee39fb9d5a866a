from django.urls import path

from . import views

app_name = "usage"
urlpatterns = [
    path("imports/", views.imports, name="imports"),
    path("imports/batches/", views.imports_batches, name="imports-batches"),
    path("imports/unmapped/", views.imports_unmapped, name="imports-unmapped"),
    path("imports/identities/map/", views.map_identity, name="identity-map"),
    path("imports/<int:pk>/", views.batch_detail, name="batch"),
    path("imports/<int:pk>/raw/", views.batch_raw, name="batch-raw"),
]
