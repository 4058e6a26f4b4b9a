"""/reports/: every page of the reports app, named in the "reports" namespace."""

from django.urls import path

from fleet.reports.views import charts, jobs, pages, schedules, vendor

app_name = "reports"
urlpatterns = [
    path("", pages.index, name="index"),
    path("charts/", charts.charts_page, name="charts"),
    path("charts/data.json", charts.chart_data, name="chart-data"),
    path("utilisation/", charts.utilisation_page, name="utilisation"),
    path("jobs/<int:pk>/", jobs.job_page, name="job"),
    path("jobs/<int:pk>.json", jobs.job_status, name="job-status"),
    path("jobs/<int:pk>/export.<str:fmt>", jobs.job_export, name="job-export"),
    path("vendor/", vendor.vendor, name="vendor"),
    path("scheduled/", schedules.schedule_list, name="scheduled"),
    path("scheduled/new/", schedules.schedule_edit, name="scheduled-new"),
    path("scheduled/<int:pk>/", schedules.schedule_edit, name="scheduled-edit"),
    path("scheduled/<int:pk>/delete/", schedules.schedule_delete, name="scheduled-delete"),
    path("scheduled/<int:pk>/send/", schedules.schedule_send, name="scheduled-send"),
    path("<report_kind:kind>/", pages.report, name="report"),
    path("<report_kind:kind>/export.<report_format:fmt>", pages.export, name="export"),
]
