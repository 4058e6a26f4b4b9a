"""Shared live locations: made and revoked by dispatchers of the vehicle's organisation, public behind their key,
showing one vehicle's latest fix and nothing else, gone (410) once expired or revoked."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from fleet.core.models import Membership
from fleet.live.models import ShareLink, digest
from tests.conftest import make_account, make_device, make_org, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    org, other = make_org("a"), make_org("b")
    van = make_device(org, "Van 01", make_account(org, "A"))
    van.last_fix_time, van.last_latitude, van.last_longitude, van.last_speed = timezone.now(), 60.17, 24.94, 42.0
    van.save()
    theirs = make_device(other, "B van", make_account(other, "B"))
    alice = make_user(get_user_model(), "alice", org)
    viewer = make_user(get_user_model(), "vic", org, role=Membership.Role.VIEWER)
    bob = make_user(get_user_model(), "bob", other)
    return {"org": org, "van": van, "theirs": theirs, "alice": alice, "viewer": viewer, "bob": bob}


def make_link(client, device, hours=4, label=""):
    response = client.post(reverse("share-list"), {"device": device.pk, "hours": hours, "label": label})
    assert response.status_code == 200
    url = response.context["url"]
    assert url and "/s/" in url
    return url.split("/s/")[1].rstrip("/")


def test_a_dispatcher_makes_a_link_shown_once_and_stored_only_as_a_hash(client, world):
    client.force_login(world["alice"])
    key = make_link(client, world["van"], label="Your delivery")
    link = ShareLink.objects.get()
    assert (link.device, link.label, link.created_by, link.key_hash) == (
        world["van"],
        "Your delivery",
        world["alice"],
        digest(key),
    )
    assert key not in str(ShareLink.objects.values_list().get())
    assert timedelta(hours=3, minutes=59) < link.expires - timezone.now() <= timedelta(hours=4)
    page = client.get(reverse("share-list"))
    assert key not in page.content.decode()  # not shown again


def test_the_public_page_and_its_position_need_no_login_and_show_one_vehicle_only(client, world):
    client.force_login(world["alice"])
    key = make_link(client, world["van"], label="<b>Your delivery</b>")
    client.logout()
    page = client.get(reverse("share-page", args=[key]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "&lt;b&gt;Your delivery&lt;/b&gt;" in html and "<b>Your" not in html  # text, never HTML
    assert "Van 01" not in html and "B van" not in html and 'class="topbar"' not in html  # no nav, no names
    body = client.get(reverse("share-position", args=[key])).json()
    assert body["fix"]["lat"] == 60.17 and body["fix"]["lon"] == 24.94 and body["fix"]["speed_kmh"] == 42.0
    assert set(body) == {"title", "expires", "fix"} and set(body["fix"]) == {
        "lat",
        "lon",
        "time",
        "speed_kmh",
        "course",
    }
    link = ShareLink.objects.get()
    assert link.views == 1 and link.last_viewed is not None


def test_an_expired_or_revoked_link_is_gone_and_an_unknown_one_does_not_exist(client, world):
    client.force_login(world["alice"])
    key = make_link(client, world["van"])
    link = ShareLink.objects.get()
    ShareLink.objects.filter(pk=link.pk).update(expires=timezone.now() - timedelta(seconds=1))
    assert client.get(reverse("share-page", args=[key])).status_code == 410
    assert client.get(reverse("share-position", args=[key])).status_code == 410
    key2 = make_link(client, world["van"])
    link2 = ShareLink.objects.get(key_hash=digest(key2))
    assert client.post(reverse("share-revoke", args=[link2.pk])).status_code == 302
    link2.refresh_from_db()
    assert link2.revoked is not None
    gone = client.get(reverse("share-position", args=[key2]))
    assert gone.status_code == 410 and "fix" not in gone.json()
    assert client.get(reverse("share-page", args=["not-a-key"])).status_code == 404


def test_only_editors_of_the_vehicles_organisation_make_or_revoke_links(client, world):
    client.force_login(world["bob"])
    response = client.post(reverse("share-list"), {"device": world["van"].pk, "hours": 4})
    assert response.status_code == 200 and "device" in response.context["form"].errors  # not a choice for bob
    assert not ShareLink.objects.exists()
    link, _ = ShareLink.issue(world["van"], world["alice"], 4)
    assert client.post(reverse("share-revoke", args=[link.pk])).status_code == 404
    assert "Van 01" not in client.get(reverse("share-list")).content.decode()
    client.force_login(world["viewer"])
    assert client.get(reverse("share-list")).status_code == 404  # a viewer shares nothing
    assert client.post(reverse("share-revoke", args=[link.pk])).status_code == 404
    link.refresh_from_db()
    assert link.revoked is None


def test_bad_input_is_a_form_error(client, world):
    client.force_login(world["alice"])
    for data in ({"device": "x", "hours": 4}, {"device": world["van"].pk, "hours": 9999}, {"hours": "soon"}):
        response = client.post(reverse("share-list"), data)
        assert response.status_code == 200 and response.context["form"].errors
    assert not ShareLink.objects.exists()
