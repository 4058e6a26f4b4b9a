from django.apps import AppConfig


class DispatchConfig(AppConfig):
    name = "fleet.dispatch"
    label = "dispatch"
