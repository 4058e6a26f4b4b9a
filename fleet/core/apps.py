from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "fleet.core"
    label = "core"

    def ready(self) -> None:
        from fleet.core import checks  # noqa: F401 (registers the system checks)
