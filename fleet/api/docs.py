"""The API's documentation pages, served from the vendored Swagger UI and ReDoc (no CDN): both read the live
OpenAPI document at /api/v1/schema/ with the signed-in user's session."""

from csp.constants import NONCE
from csp.decorators import csp_update
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def swagger(request: HttpRequest) -> HttpResponse:
    return render(request, "api/swagger.html")


@login_required
@csp_update({"style-src": [NONCE], "font-src": ["data:"]})  # ReDoc: <style> elements with the nonce, an icon font
def redoc(request: HttpRequest) -> HttpResponse:
    return render(request, "api/redoc.html")
