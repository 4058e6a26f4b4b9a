from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "fleet.events"
    label = "events"

    def ready(self) -> None:
        from fleet.events import notify, places, progress, run
        from fleet.tracking import ingest

        ingest.subscribe(run.on_positions, in_batch=True)  # evaluated with the positions or not at all
        run.listen(progress.on_events)
        run.listen(notify.deliver)
        places.connect_signals()
        notify.connect_signals()
