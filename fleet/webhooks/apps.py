from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "fleet.webhooks"
    label = "webhooks"

    def ready(self) -> None:
        from fleet.dispatch import lifecycle
        from fleet.events import run
        from fleet.vendors import sync
        from fleet.webhooks import hooks

        run.listen(hooks.on_events)
        lifecycle.on_steps(hooks.on_task_changes)
        sync.on_run_finished(hooks.on_sync_run)
