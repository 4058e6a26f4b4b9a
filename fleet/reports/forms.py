"""The report form: which organisation, which devices, which range (and a few per-kind options).

Every choice is limited to what the user may see (``fleet.core.scoping``): another organisation's device,
group or geofence id is an invalid choice, never data.
"""

from __future__ import annotations

from datetime import date, datetime
from html import escape

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.forms.models import ModelChoiceIterator
from django.forms.utils import flatatt
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from fleet.core.models import Organization
from fleet.core.scoping import for_user, organizations_for_user
from fleet.events import engine
from fleet.events.labels import label
from fleet.geo.models import POI, Geofence
from fleet.reports import periods
from fleet.tracking.models import Device, DeviceGroup

MAX_DAYS = 92
EARLIEST = date(2000, 1, 1)  # no positions before 2000 (ingest rejects them)
SPLITS = [("range", "Whole range"), ("day", "Per day")]
GROUPINGS = [("vehicle", "Vehicle"), ("driver", "Driver")]
# Fields only some report kinds use; the rest of the form is common to every kind.
KIND_FIELDS = {
    "type": {"events"},
    "geofence": {"events", "visits"},
    "poi": {"visits"},
    "split": {"summary"},
    "by": {"summary"},
}
# Traccar's event types and fleet's own, offered in plain words (any other type may still be asked for by name).
EVENT_TYPES = sorted(
    {
        "alarm",
        "commandResult",
        "deviceFuelDrop",
        "deviceInactive",
        "deviceMoving",
        "deviceOffline",
        "deviceOnline",
        "deviceOverspeed",
        "deviceStopped",
        "deviceUnknown",
        "driverChanged",
        "geofenceEnter",
        "geofenceExit",
        "ignitionOff",
        "ignitionOn",
        "maintenance",
        "textMessage",
        *engine.TYPES,
    },
    key=label,
)


class ListSelect(forms.Select):
    """A select written out in one pass, as Django's own template writes it: an organisation's thousands of
    devices rendered through a template per option take seconds on every report page. A model choice field's
    options are read as (pk, ``label_field``) rows, not as model instances (the soak's summary page: the
    select's 6,000 devices were a quarter of the page's time on a loaded machine)."""

    label_field = "name"

    def render(self, name, value, attrs=None, renderer=None) -> str:
        chosen = set(self.format_value(value))
        options = "".join(
            f'<option value="{escape(key)}"{" selected" if key in chosen else ""}>{escape(text)}</option>'
            for key, text in self._options()
        )
        attributes = flatatt(self.build_attrs(self.attrs, {**(attrs or {}), "name": name}))
        return format_html("<select{}>{}</select>", attributes, mark_safe(options))  # noqa: S308 - escaped above

    def _options(self):
        if isinstance(self.choices, ModelChoiceIterator):
            field = self.choices.field
            if field.empty_label is not None:
                yield "", str(field.empty_label)
            rows = self.choices.queryset.values_list("pk", self.label_field)
        else:
            rows = self.choices
        for key, text in rows:
            yield ("" if key is None else str(key)), str(text)


# Device fields no report reads (the live state and the JSON attributes): a fleet's thousands of devices are
# loaded without them (the soak's summary of 6,000 devices: building the instances was a fifth of the page).
UNREPORTED = ("attributes", *Device.LIVE_FIELDS, "driver__attributes")


class ReportForm(forms.Form):
    """``ReportForm(request.GET, user=request.user, kind="trips")``; ``kind=None`` keeps every field.

    ``cleaned_data``: ``organization``, ``devices`` (list of Device, by name), ``start`` / ``end`` (aware UTC,
    [start, end)), ``scope`` (a label such as "Van 1" or "All devices"), and the options ``type``,
    ``geofence``, ``poi``, ``split``, ``by`` where the kind has them.
    """

    organization = forms.ModelChoiceField(queryset=Organization.objects.none(), required=False, empty_label=None)
    device = forms.ModelChoiceField(
        queryset=Device.objects.none(), required=False, empty_label="All devices", label="Device", widget=ListSelect
    )
    group = forms.ModelChoiceField(
        queryset=DeviceGroup.objects.none(), required=False, empty_label="Any group", label="Group"
    )
    preset = forms.ChoiceField(choices=periods.PRESETS, required=False, initial="today", label="Range")
    start = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    type = forms.CharField(required=False, max_length=50, label="Event type", widget=forms.Select)
    geofence = forms.ModelChoiceField(queryset=Geofence.objects.none(), required=False, empty_label="Any geofence")
    poi = forms.ModelChoiceField(queryset=POI.objects.none(), required=False, empty_label="Any POI", label="POI")
    split = forms.ChoiceField(choices=SPLITS, required=False, initial="range", label="Rows")
    by = forms.ChoiceField(choices=GROUPINGS, required=False, initial="vehicle", label="Group by")

    def __init__(self, data=None, *, user, kind: str | None = None, now: datetime | None = None, **kwargs) -> None:
        super().__init__(data, **kwargs)
        self.user, self.now = user, now
        orgs = organizations_for_user(user)
        self.fields["organization"].queryset = orgs
        listed = {"retired__isnull": True}  # what the vendors stopped listing is kept, but not offered
        devices = Device.objects.filter(**listed).select_related("organization").order_by("name", "pk")
        self.fields["device"].queryset = for_user(devices, user)
        self.fields["group"].queryset = for_user(
            DeviceGroup.objects.filter(**listed).select_related("organization"), user
        )
        self.fields["geofence"].queryset = for_user(Geofence.objects.filter(**listed), user)
        self.fields["poi"].queryset = for_user(POI.objects.all(), user)
        # With one organisation the field is implicit (not shown), but a stray id must still be one of the user's.
        self.single_org = orgs.first() if orgs.count() == 1 else None
        for name, kinds in KIND_FIELDS.items():
            if kind is not None and kind not in kinds:
                del self.fields[name]
        if "type" in self.fields:
            self.fields["type"].widget.choices = self._type_choices()

    def _type_choices(self) -> list[tuple[str, str]]:
        """Every known type by its plain name; one asked for by name (a vendor's own) is offered too."""
        asked = (self.data.get("type") or "").strip() if self.is_bound else ""
        types = EVENT_TYPES if not asked or asked in EVENT_TYPES else [*EVENT_TYPES, asked]
        return [("", "Any type"), *((t, label(t)) for t in types)]

    def clean_preset(self) -> str:
        return self.cleaned_data.get("preset") or "today"

    def clean_split(self) -> str:
        return self.cleaned_data.get("split") or "range"

    def clean_by(self) -> str:
        return self.cleaned_data.get("by") or "vehicle"

    def clean_type(self) -> str:
        return (self.cleaned_data.get("type") or "").strip()

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        self.field_values = dict(data)  # each field's own value, before the ones below replace some
        org = self._organization(data)
        data["organization"] = org
        data["devices"], data["scope"] = self._devices(org, data)
        for name, what in (("geofence", "geofence"), ("poi", "POI")):
            if data.get(name) is not None and data[name].organization_id != org.pk:
                raise ValidationError({name: f"That {what} belongs to another organisation."})
        data["start"], data["end"] = self._range(org, data)
        return data

    def canonical_query(self) -> dict[str, list[str]]:
        """The validated query in one spelling, so that two requests for the same report compare equal: this
        kind's fields only, in name order, each written from its cleaned value (an id, an ISO date), empty ones
        left out, and the dates only for a custom range (the other presets ignore them)."""
        values = self.field_values
        if values["preset"] != "custom":
            values = {k: v for k, v in values.items() if k not in ("start", "end")}
        return {name: [_text(values[name])] for name in sorted(values) if values[name] not in (None, "")}

    def _organization(self, data: dict) -> Organization:
        named = [x.organization for x in (data.get("device"), data.get("group")) if x is not None]
        chosen = data.get("organization") or self.single_org
        if chosen is not None and any(o.pk != chosen.pk for o in named):
            raise ValidationError("The device or group belongs to another organisation than the one chosen.")
        if len({o.pk for o in named}) > 1:
            raise ValidationError("The device and the group belong to different organisations.")
        org = chosen or (named[0] if named else None)
        if org is None:
            raise ValidationError({"organization": "Choose an organisation."})
        return org

    def _devices(self, org: Organization, data: dict) -> tuple[list[Device], str]:
        device, group = data.get("device"), data.get("group")
        devices = reported_devices(org).select_related("driver").defer(*UNREPORTED)
        if device is not None:
            if group is not None and device.group_id not in group_and_descendants(group):
                raise ValidationError({"device": f"{device.name} is not in the group {group.name}."})
            return list(devices.filter(pk=device.pk)), device.name
        if group is not None:
            chosen = list(devices.filter(group_id__in=group_and_descendants(group)))
            return chosen, f"{group.name} ({len(chosen)} device{'s' if len(chosen) != 1 else ''})"
        return list(devices), "All devices"

    def _range(self, org: Organization, data: dict) -> tuple[datetime, datetime]:
        preset, start, end = data["preset"], data.get("start"), data.get("end")
        if preset == "custom":
            errors = {}
            for name, value in (("start", start), ("end", end)):
                if value is None:
                    errors[name] = "Give a date for a custom range."
                elif not EARLIEST <= value <= date(2100, 12, 31):
                    errors[name] = "Give a date between 2000 and 2100."
            if errors:
                raise ValidationError(errors)
            if end < start:
                raise ValidationError({"end": "The end date is before the start date."})
            if (end - start).days + 1 > MAX_DAYS:
                raise ValidationError({"end": f"A report covers at most {MAX_DAYS} days."})
        try:
            return periods.resolve(preset, org.timezone, start, end, now=self.now)
        except ValueError as exc:  # a preset resolve() does not know, or an impossible date
            raise ValidationError(str(exc)) from exc


def reported_devices(org: Organization):
    """The devices a report of the organisation covers ("All devices": those not retired), in the reports'
    order (name, then id): the form's list, and the fleet the reports cache's warm-up keeps the rows of."""
    return Device.objects.filter(organization=org, retired__isnull=True).order_by("name", "pk")


def _text(value) -> str:
    if isinstance(value, models.Model):
        return str(value.pk)
    return value.isoformat() if isinstance(value, date) else str(value)


def group_and_descendants(group: DeviceGroup) -> set[int]:
    """The group's id and its subgroups' ids, at any depth (cycles in vendor data are tolerated)."""
    found, frontier = {group.pk}, {group.pk}
    while frontier:
        children = set(
            DeviceGroup.objects.filter(organization_id=group.organization_id, parent_id__in=frontier).values_list(
                "pk", flat=True
            )
        )
        frontier = children - found
        found |= frontier
    return found
