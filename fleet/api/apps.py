from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "fleet.api"
    label = "api"

    def ready(self) -> None:
        from fleet.api import schema  # noqa: F401  (registers the Bearer scheme with drf-spectacular)
