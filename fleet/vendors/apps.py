from django.apps import AppConfig


class VendorsConfig(AppConfig):
    name = "fleet.vendors"
    label = "vendors"

    def ready(self) -> None:
        from fleet.vendors import signals  # noqa: F401  (connects the write-back receivers)
