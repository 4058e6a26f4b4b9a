from django.urls import URLPattern, path

from fleet.web.places import views
from fleet.web.places.views import GEOFENCES, POIS, Kind


def patterns(kind: Kind) -> list[URLPattern]:
    """/geofences/… or /pois/…, named after the kind (``geofences``, ``geofences-edit``, …)."""
    on, name = {"kind": kind}, kind.name
    return [
        path(f"{name}/", views.index, on, name=name),
        path(f"{name}/new/", views.edit, on, name=f"{name}-new"),
        path(f"{name}/<int:pk>/", views.edit, on, name=f"{name}-edit"),
        path(f"{name}/<int:pk>/delete/", views.delete, on, name=f"{name}-delete"),
        path(f"{name}/import/", views.import_file, on, name=f"{name}-import"),
        path(f"{name}/export.geojson", views.export_file, {**on, "fmt": "geojson"}, name=f"{name}-geojson"),
        path(f"{name}/export.kml", views.export_file, {**on, "fmt": "kml"}, name=f"{name}-kml"),
    ]


urlpatterns = patterns(GEOFENCES) + patterns(POIS)
