from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "fleet.live"
    label = "live"

    def ready(self) -> None:
        from fleet.live.access import connect_signals
        from fleet.live.broadcast import publish_positions
        from fleet.tracking import ingest

        ingest.subscribe(publish_positions)
        connect_signals()
