from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "fleet.live"
    label = "live"

    def ready(self) -> None:
        from fleet.events import notify
        from fleet.live.access import connect_signals
        from fleet.live.broadcast import publish_events, publish_positions
        from fleet.tracking import ingest

        ingest.subscribe(publish_positions)
        notify.on_feed(publish_events)
        connect_signals()
