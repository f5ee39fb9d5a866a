from django.urls import path

from . import views

app_name = "usage"
urlpatterns = [
    path("imports/", views.imports, name="imports"),
]
