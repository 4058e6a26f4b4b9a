from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "fleet.tracking"
    label = "tracking"
