from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from fleet.core.scoping import for_user, get_for_user, organizations_for_user
from fleet.tracking.models import Device, Position
from fleet.vendors.models import VendorAccount


@login_required
def home(request: HttpRequest) -> HttpResponse:
    devices = for_user(Device.objects.select_related("account", "group"), request.user)
    context = {"devices": devices.order_by("name")[:500], "device_count": devices.count()}
    context["organizations"] = organizations_for_user(request.user)
    return render(request, "web/home.html", context)


@login_required
def device_detail(request: HttpRequest, pk: int) -> HttpResponse:
    device = get_for_user(Device.objects.select_related("account", "group", "driver"), request.user, pk=pk)
    positions = Position.objects.filter(device=device).order_by("-fix_time")[:100]
    return render(request, "web/device_detail.html", {"device": device, "positions": positions})


@login_required
def account_list(request: HttpRequest) -> HttpResponse:
    accounts = for_user(VendorAccount.objects.select_related("organization"), request.user)
    return render(request, "web/account_list.html", {"accounts": accounts})
