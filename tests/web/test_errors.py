"""Error pages: a missing page, a refused one and a server error are told in plain words, in the site's layout,
never with Django's debug page (its URL list) or a traceback."""

import pytest
from django.http import HttpRequest
from django.test import override_settings
from django.urls import include, path, reverse

from fleet.core.models import Membership
from tests.conftest import make_user


def broken_view(request: HttpRequest):
    raise RuntimeError("secret detail of a failure")


urlpatterns = [path("broken/", broken_view), path("", include("fleet.urls"))]

DEBUG_PAGE_SIGNS = ["URLconf", "urlpatterns", "Traceback", "secret detail", "SECRET_KEY", "Django"]


def assert_plain(body: str) -> None:
    assert 'class="topbar"' in body and "css/fleet.css" in body  # the site's layout
    assert not [sign for sign in DEBUG_PAGE_SIGNS if sign in body]


@override_settings(DEBUG=False)
def test_a_missing_page_is_a_friendly_404(client, user_a):
    client.force_login(user_a)
    response = client.get("/no-such-page/")
    body = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in body and f'href="{reverse("home")}"' in body
    assert_plain(body)
    assert reverse("device-list") in body  # the signed-in user keeps the top bar's links


@override_settings(DEBUG=False)
def test_a_missing_page_is_friendly_when_signed_out_too(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and "Page not found" in response.content.decode()


@pytest.mark.urls("tests.web.test_errors")
@override_settings(DEBUG=False)
def test_a_server_error_is_a_friendly_500_without_a_traceback(client, user_a):
    client.force_login(user_a)
    client.raise_request_exception = False
    response = client.get("/broken/")
    body = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in body
    assert_plain(body)


@override_settings(DEBUG=False)
def test_a_refused_page_is_a_friendly_403_saying_why(client, django_user_model, org_a):
    viewer = make_user(django_user_model, "viewer", org_a, role=Membership.Role.VIEWER, staff=False)
    client.force_login(viewer)
    response = client.get(reverse("member-list", args=[org_a.slug]))
    body = response.content.decode()
    assert response.status_code == 403
    assert "Not allowed" in body and "Only the organisation&#x27;s admins manage its members." in body
    assert_plain(body)


@override_settings(DEBUG=False)
def test_a_stale_form_is_a_friendly_403(db):
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post(reverse("login"), {"username": "x", "password": "y"})
    body = response.content.decode()
    assert response.status_code == 403
    assert "Please try again" in body and "expired" in body
    assert_plain(body)
