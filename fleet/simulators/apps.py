from django.apps import AppConfig


class SimulatorsConfig(AppConfig):
    name = "fleet.simulators"
    verbose_name = "Vendor simulators"
    default_auto_field = "django.db.models.BigAutoField"
