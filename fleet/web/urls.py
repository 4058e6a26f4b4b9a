from django.urls import path

from fleet.web import imports, views

urlpatterns = [
    path("", views.home, name="home"),
    path("live/layers.json", views.live_layers, name="live-layers"),
    path("devices/", views.device_list, name="device-list"),
    path("devices/import/", imports.import_gpx_view, name="import-gpx"),
    path("devices/<int:pk>/", views.device_detail, name="device-detail"),
    path("devices/<int:pk>/replay/", views.replay, name="device-replay"),
    path("devices/<int:pk>/track.json", views.device_track, name="device-track"),
    path("accounts/", views.account_list, name="account-list"),
    path("accounts/<int:pk>/", views.account_detail, name="account-detail"),
]
