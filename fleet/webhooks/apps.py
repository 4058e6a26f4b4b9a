from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "fleet.webhooks"
    label = "webhooks"

    def ready(self) -> None:
        from fleet.dispatch import lifecycle
        from fleet.events import notify, run
        from fleet.vendors import sync
        from fleet.webhooks import hooks

        run.listen(hooks.on_events)
        notify.on_notice(hooks.on_rule_notices)
        lifecycle.on_steps(hooks.on_task_changes)
        sync.on_run_finished(hooks.on_sync_run)
