from django.urls import path

from fleet.web import imports, members, poireports, views

urlpatterns = [
    path("", views.home, name="home"),
    path("live/layers.json", views.live_layers, name="live-layers"),
    path("devices/", views.device_list, name="device-list"),
    path("devices/import/", imports.import_gpx_view, name="import-gpx"),
    path("devices/import/<int:pk>/", imports.import_job_page, name="import-job"),
    path("devices/import/<int:pk>.json", imports.import_job_status, name="import-job-status"),
    path("devices/<int:pk>/", views.device_detail, name="device-detail"),
    path("devices/<int:pk>/replay/", views.replay, name="device-replay"),
    path("devices/<int:pk>/track.json", views.device_track, name="device-track"),
    path("accounts/", views.account_list, name="account-list"),
    path("accounts/<int:pk>/", views.account_detail, name="account-detail"),
    path("accounts/<int:pk>/poi-report/", poireports.ask_poi_report, name="ask-poi-report"),
    path("members/", members.member_index, name="member-index"),
    path("members/<slug:slug>/", members.member_list, name="member-list"),
    path("members/<slug:slug>/invite/", members.member_invite, name="member-invite"),
    path("members/<slug:slug>/<int:pk>/role/", members.member_role, name="member-role"),
    path("members/<slug:slug>/<int:pk>/remove/", members.member_remove, name="member-remove"),
]
