from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "fleet.tracking"
    label = "tracking"

    def ready(self) -> None:
        from fleet.tracking import drivers, ingest

        ingest.subscribe(drivers.on_positions)
