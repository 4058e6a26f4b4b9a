from django.urls import path

from fleet.web import views

urlpatterns = [
    path("", views.home, name="home"),
    path("devices/<int:pk>/", views.device_detail, name="device-detail"),
    path("accounts/", views.account_list, name="account-list"),
]
