from django.apps import AppConfig


class GeoConfig(AppConfig):
    name = "fleet.geo"
    label = "geo"
