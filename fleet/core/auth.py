"""The page of a login that django-axes locked out (settings: ``AXES_LOCKOUT_CALLABLE``)."""

from axes.helpers import get_client_username, get_cool_off
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def lockout(request: HttpRequest, original_response: HttpResponse | None = None, credentials=None) -> HttpResponse:
    """HTTP 429: the login page's place, saying the username is locked from this address and for how long."""
    cool_off = get_cool_off(request)
    minutes = max(1, round(cool_off.total_seconds() / 60)) if cool_off else None
    username = get_client_username(request, credentials if isinstance(credentials, dict) else None) or ""
    context = {"username": username, "minutes": minutes}
    response = render(request, "registration/locked_out.html", context, status=429)
    if cool_off:
        response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response
