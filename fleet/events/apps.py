from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "fleet.events"
    label = "events"

    def ready(self) -> None:
        from fleet.events import notify, places, progress, run
        from fleet.tracking import ingest

        ingest.subscribe(run.on_positions, deferred=run.recover, enabled=run.enabled)  # after the push; never skipped
        run.listen(progress.on_events)
        run.listen(notify.deliver)
        places.connect_signals()
        notify.connect_signals()
