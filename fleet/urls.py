from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from fleet.core import maps
from fleet.core.admin.views import view_on_site

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Where an invitation's link leads: Django's password reset confirmation, which sets the first password.
    path("password/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("password/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    # Ahead of the admin's own "view on site" URL, which it replaces by a scoped one (same name, same path).
    path("admin/r/<int:content_type_id>/<path:object_id>/", admin.site.admin_view(view_on_site)),
    path("admin/", admin.site.urls),
    # The offline street map's archive: public, read by byte ranges (the shared-location page uses it too).
    path("map/basemap.pmtiles", maps.basemap, name="basemap"),
    path("reports/", include("fleet.reports.urls")),
    path("api/v1/", include("fleet.api.urls")),
    path("", include("fleet.web.urls")),
]
