from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from fleet.api import commands, docs, reports, views, webhooks

router = DefaultRouter()
router.register("devices", views.DeviceViewSet, basename="device")
router.register("positions", views.PositionViewSet, basename="position")
router.register("events", views.EventViewSet, basename="event")
router.register("geofences", views.GeofenceViewSet, basename="geofence")
router.register("pois", views.PoiViewSet, basename="poi")
router.register("tasks", views.TaskViewSet, basename="task")
router.register("groups", views.GroupViewSet, basename="group")
router.register("drivers", views.DriverViewSet, basename="driver")
router.register("accounts", views.AccountViewSet, basename="account")
router.register("sync-runs", views.SyncRunViewSet, basename="syncrun")
router.register("notification-rules", views.RuleViewSet, basename="rule")
router.register("commands", commands.CommandViewSet, basename="command")
router.register("reports", reports.ReportViewSet, basename="report")
router.register("webhooks", webhooks.WebhookViewSet, basename="webhook")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", docs.swagger, name="api-docs"),
    path("redoc/", docs.redoc, name="api-redoc"),
    path("me/", views.MeView.as_view(), name="me"),
    path("", include(router.urls)),
]
