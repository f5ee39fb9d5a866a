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
    path("sources/", views.sources, name="sources"),
    path("sources/<int:pk>/run/", views.source_run_now, name="source-run"),
    path("sources/priorities/<int:pk>/", views.source_priority, name="source-priority"),
]
