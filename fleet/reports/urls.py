"""/reports/: the pages and exports (views), charts, utilisation and long-report jobs (views_charts), the
vendor's own reports (views_extra) and GPX import (views_import). Each module owns its ``urlpatterns``;
names live in the "reports" namespace."""

from fleet.reports import views, views_charts, views_extra, views_import

app_name = "reports"
urlpatterns = [*views.urlpatterns, *views_charts.urlpatterns, *views_extra.urlpatterns, *views_import.urlpatterns]
