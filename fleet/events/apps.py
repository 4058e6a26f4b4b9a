from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "fleet.events"
    label = "events"

    def ready(self) -> None:
        from fleet.events import places, run
        from fleet.tracking import ingest

        ingest.subscribe(run.on_positions)
        places.connect_signals()
