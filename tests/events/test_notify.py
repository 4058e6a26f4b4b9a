"""Notification rules: matching, one notice per interval (claimed in the shared cache), e-mail through the Celery
task into the outbox, history, the test button; the offline check; the rule pages' roles and scoping; the map
feed's recent events and acknowledgement."""

import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from fleet.celery import app
from fleet.core.models import Membership
from fleet.events import notify, offline, places
from fleet.events.models import EngineState, EventAck, Notification, NotificationRule
from fleet.tracking import ingest
from fleet.tracking.models import Event
from tests.conftest import make_device, make_user
from tests.events.test_run import records, square

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def eager_and_clean(settings):
    """E-mail tasks run at once; a cache key prefix of this test's own (the Redis is shared: never flushed)."""
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}"}}
    app.conf.task_always_eager = True
    places.forget()
    notify.forget()
    yield
    app.conf.task_always_eager = False
    notify.forget()


def rule(org, name="Yard alerts", **kw) -> NotificationRule:
    devices = kw.pop("devices", [])
    recipients = kw.pop("recipients", [])
    r = NotificationRule.objects.create(organization=org, name=name, **kw)
    r.devices.set(devices)
    r.recipients.set(recipients)
    return r


def drive(org, van, xs, first=0):
    ingest.positions(org.pk, None, records(van, xs, first=first))


def test_a_matching_rule_sends_a_dashboard_alert_and_an_email(
    org_a, django_user_model, django_capture_on_commit_callbacks
):
    van = make_device(org_a)
    square(org_a)
    boss = make_user(django_user_model, "boss", org_a)
    boss.email = "boss@example.com"
    boss.save()
    yard = rule(org_a, event_types=["geofenceEnter"], email=True, recipients=[boss])
    rule(org_a, name="Other types", event_types=["ignitionOn"])
    alerts = []

    def feed(org, events, ids):
        alerts.append((org, [e.type for e in events], ids))

    notify.on_feed(feed)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            drive(org_a, van, [-100, 50, 150])
    finally:
        notify._feeds.remove(feed)
    enter = Event.objects.get(device=van, type="geofenceEnter")
    assert alerts == [(org_a.pk, ["geofenceEnter", "geofenceExit"], {enter.pk})]
    sent = Notification.objects.filter(rule=yard)
    assert sorted(sent.values_list("channel", "recipient", "status")) == [
        ("email", "boss@example.com", "sent"),
        ("web", "dashboard", "sent"),
    ]
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["boss@example.com"]
    assert "Entered geofence: Van 1 — Yard" in mail.outbox[0].body


def test_a_rate_limited_rule_sends_once_per_device_and_type(org_a, django_capture_on_commit_callbacks):
    van = make_device(org_a)
    square(org_a)
    flapping = rule(org_a, event_types=["geofenceEnter", "geofenceExit"], min_interval_s=600)
    with django_capture_on_commit_callbacks(execute=True):
        drive(org_a, van, [-100, 50, 150, 50, 150, 50, 150])
    assert Event.objects.filter(device=van).count() == 6  # every crossing is an event...
    assert sorted(Notification.objects.filter(rule=flapping).values_list("event__type", flat=True)) == [
        "geofenceEnter",
        "geofenceExit",
    ]  # ...one notice per type


def test_notices_go_out_while_the_shared_cache_is_down(org_a, monkeypatch, django_capture_on_commit_callbacks):
    """A Redis restart: the rules' version and the interval's slot cannot be read; the events' notices are sent
    all the same (a rule's interval is not kept then: a notice twice rather than none), and once the cache answers
    again the interval holds."""
    from fleet.events import kept

    van = make_device(org_a)
    square(org_a)
    flapping = rule(org_a, event_types=["geofenceEnter", "geofenceExit"], min_interval_s=600)
    notify.rules_of(org_a.pk)  # built while the cache answered

    def down(*args, **kwargs):
        raise ConnectionError("Redis is restarting")

    with monkeypatch.context() as outage:
        outage.setattr(kept.cache, "get", down)
        outage.setattr(notify.cache, "add", down)
        with django_capture_on_commit_callbacks(execute=True):
            drive(org_a, van, [-100, 50, 150, 50])
    sent = Notification.objects.filter(rule=flapping).order_by("event__time")
    assert list(sent.values_list("event__type", flat=True)) == ["geofenceEnter", "geofenceExit", "geofenceEnter"]
    with django_capture_on_commit_callbacks(execute=True):
        drive(org_a, van, [150, 50, 150], first=4)
    assert sent.count() == 5  # the first exit and enter after the outage claim their slots, the next exit does not


def test_rules_filter_by_device_and_never_reach_another_organisation(org_a, org_b, django_capture_on_commit_callbacks):
    van, truck = make_device(org_a, "Van"), make_device(org_a, "Truck")
    square(org_a)
    only_truck = rule(org_a, devices=[truck])
    b_rule = rule(org_b, name="B")
    with django_capture_on_commit_callbacks(execute=True):
        drive(org_a, van, [-100, 50])
        drive(org_a, truck, [-100, 50])
    assert list(Notification.objects.filter(rule=only_truck).values_list("event__device", flat=True)) == [truck.pk]
    assert not Notification.objects.filter(rule=b_rule).exists()


def test_a_rule_outside_its_calendar_sends_nothing(org_a, django_capture_on_commit_callbacks):
    van = make_device(org_a)
    square(org_a)
    start = (timezone.now() + timedelta(days=2)).strftime("%Y%m%dT%H%M%SZ")
    rule(org_a, calendar=f"DTSTART:{start}\nDURATION:PT1H")
    with django_capture_on_commit_callbacks(execute=True):
        drive(org_a, van, [-100, 50])
    assert Event.objects.filter(device=van).exists() and not Notification.objects.exists()


def test_the_test_button_sends_without_an_event(org_a, django_user_model, django_capture_on_commit_callbacks):
    boss = make_user(django_user_model, "boss", org_a)
    boss.email = "boss@example.com"
    boss.save()
    r = rule(org_a, email=True, recipients=[boss])
    with django_capture_on_commit_callbacks(execute=True):
        notify.test_rule(r)
    assert set(Notification.objects.values_list("channel", "test")) == {("web", True), ("email", True)}
    assert "Test notice" in mail.outbox[0].body


def test_a_silent_device_is_reported_offline_once_and_online_with_its_next_fix(org_a):
    van = make_device(org_a)
    drive(org_a, van, [0])  # an hour ago (records start an hour back); stale after 15 min
    assert offline.report_offline() == 1
    assert offline.report_offline() == 0  # once per silence
    gone = Event.objects.get(device=van, type="deviceOffline")
    assert gone.time == van.positions.get().fix_time + timedelta(minutes=15)
    assert EngineState.objects.get(device=van).state["off"] is True
    drive(org_a, van, [10], first=300)  # 50 min later: back
    assert list(Event.objects.filter(device=van).order_by("time").values_list("type", flat=True)) == [
        "deviceOffline",
        "deviceOnline",
    ]


# ---- pages ----


def test_viewers_see_rules_but_only_editors_change_them(client, org_a, django_user_model):
    r = rule(org_a)
    viewer = make_user(django_user_model, "viewer", org_a, role=Membership.Role.VIEWER, staff=False)
    client.force_login(viewer)
    page = client.get("/notifications/")
    text = page.content.decode()
    assert page.status_code == 200 and "Yard alerts" in text and "New rule" not in text
    assert client.get("/notifications/new/").status_code == 403
    assert client.post(f"/notifications/{r.pk}/delete/").status_code == 403
    assert client.post(f"/notifications/{r.pk}/test/").status_code == 403


def test_a_dispatcher_creates_a_rule_and_choices_stay_in_the_organisation(client, org_a, org_b, django_user_model):
    dispatcher = make_user(django_user_model, "disp", org_a, role=Membership.Role.DISPATCHER, staff=False)
    client.force_login(dispatcher)
    other = make_device(org_b, "Not yours")
    form = {"organization": org_a.pk, "name": "Overspeed", "enabled": "on", "event_types": ["deviceOverspeed"]}
    form |= {"web": "on", "min_interval_s": "60", "calendar": ""}
    bad = client.post("/notifications/new/", form | {"devices": [other.pk]})
    assert bad.status_code == 200 and "Select a valid choice" in bad.content.decode()
    bad = client.post("/notifications/new/", form | {"email": "on"})
    assert "E-mail needs at least one recipient" in bad.content.decode()
    bad = client.post("/notifications/new/", form | {"calendar": "RRULE:FREQ=DAILY"})
    assert "The calendar cannot be used: an event has no DTSTART" in bad.content.decode()
    assert client.post("/notifications/new/", form).status_code == 302
    assert NotificationRule.objects.get(name="Overspeed").event_types == ["deviceOverspeed"]


def test_another_organisations_rule_and_event_are_404(client, org_a, org_b, django_user_model):
    r = rule(org_b, name="B rule")
    van_b = make_device(org_b, "B van")
    event = Event.objects.create(organization=org_b, device=van_b, type="alarm", time=timezone.now())
    client.force_login(make_user(django_user_model, "alice", org_a))
    assert client.get(f"/notifications/{r.pk}/").status_code == 404
    assert client.post(f"/notifications/{r.pk}/delete/").status_code == 404
    assert client.post(f"/events/{event.pk}/ack/").status_code == 404
    assert client.get("/events/recent.json").json() == {"events": []}


def test_the_feed_lists_recent_events_and_records_who_acknowledged(client, org_a, django_user_model):
    van = make_device(org_a, "<b>Van</b>")
    event = Event.objects.create(organization=org_a, device=van, type="deviceOverspeed", time=timezone.now())
    alice = make_user(django_user_model, "alice", org_a)
    client.force_login(alice)
    rows = client.get("/events/recent.json").json()["events"]
    assert [(r["id"], r["label"], r["ack"]) for r in rows] == [(event.pk, "Overspeed", None)]
    assert client.post(f"/events/{event.pk}/ack/").json() == {"id": event.pk, "ack": "alice"}
    assert EventAck.objects.get(event=event).user == alice
    assert client.get("/events/recent.json").json()["events"][0]["ack"] == "alice"
