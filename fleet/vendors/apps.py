"""The vendors app: its ready() registers the geofence, POI, task and task file write-back with
``fleet.geo.services``, ``fleet.dispatch.services`` and ``fleet.dispatch.files``."""

from django.apps import AppConfig


class VendorsConfig(AppConfig):
    name = "fleet.vendors"
    label = "vendors"

    def ready(self) -> None:
        from fleet.dispatch import files
        from fleet.dispatch import services as dispatch
        from fleet.geo import services
        from fleet.vendors import writeback

        services.on_geofence_saved(writeback.schedule_geofence_push)
        services.on_geofence_deleted(writeback.schedule_geofence_delete)
        services.on_poi_saved(writeback.schedule_poi_push)
        dispatch.on_task_saved(writeback.schedule_task_push)
        files.on_task_file_added(writeback.schedule_task_file_push)
