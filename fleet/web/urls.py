from django.urls import path

from fleet.web import alerts, imports, integrations, members, poireports, shares, tokens, views
from fleet.web.dispatch import urls as dispatch
from fleet.web.places import urls as places

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
    path("notifications/", alerts.rule_list, name="rule-list"),
    path("notifications/new/", alerts.rule_edit, name="rule-new"),
    path("notifications/<int:pk>/", alerts.rule_edit, name="rule-edit"),
    path("notifications/<int:pk>/delete/", alerts.rule_delete, name="rule-delete"),
    path("notifications/<int:pk>/test/", alerts.rule_test, name="rule-test"),
    path("events/recent.json", alerts.recent_events, name="events-recent"),
    path("events/<int:pk>/ack/", alerts.acknowledge, name="event-ack"),
    path("integrations/", integrations.integrations, name="integrations"),
    path("integrations/status.json", integrations.integrations_status, name="integrations-status"),
    path("integrations/<int:pk>/edit/", integrations.integration_edit, name="integration-edit"),
    path("integrations/<int:pk>/<slug:action>/", integrations.integration_action, name="integration-action"),
    path("shares/", shares.share_list, name="share-list"),
    path("shares/<int:pk>/revoke/", shares.share_revoke, name="share-revoke"),
    path("s/<str:key>/", shares.share_page, name="share-page"),
    path("s/<str:key>/position.json", shares.share_position, name="share-position"),
    path("api-tokens/", tokens.token_list, name="token-list"),
    path("api-tokens/<int:pk>/revoke/", tokens.token_revoke, name="token-revoke"),
    path("accounts/<int:pk>/poi-report/", poireports.ask_poi_report, name="ask-poi-report"),
    path("members/", members.member_index, name="member-index"),
    path("members/<slug:slug>/", members.member_list, name="member-list"),
    path("members/<slug:slug>/invite/", members.member_invite, name="member-invite"),
    path("members/<slug:slug>/<int:pk>/role/", members.member_role, name="member-role"),
    path("members/<slug:slug>/<int:pk>/remove/", members.member_remove, name="member-remove"),
    *dispatch.urlpatterns,
    *places.urlpatterns,
]
