from django.apps import AppConfig


class VendorsConfig(AppConfig):
    name = "fleet.vendors"
    label = "vendors"
