"""The geofence and POI forms. The shape arrives as a GeoJSON geometry (the map's drawing fills it in; without
JavaScript it can be pasted) and is checked as an upload's would be (``fleet.geo.importing.checked_geometry``)."""

from __future__ import annotations

import json

from django import forms
from django.db.models import QuerySet

from fleet.core.models import Organization
from fleet.core.scoping import parse_pk
from fleet.geo.importing import KIND_OF, Refused, checked_geometry
from fleet.geo.models import POI, Geofence
from fleet.tracking.models import Device, DeviceGroup

SHAPE_HELP = 'Draw it on the map, or give a GeoJSON geometry, e.g. {"type": "Point", "coordinates": [24.94, 60.17]}.'


class ShapeField(forms.CharField):
    """A GeoJSON geometry (or a Feature holding one) as a dict with "type" and "coordinates"."""

    widget = forms.Textarea(attrs={"rows": 3, "spellcheck": "false"})

    def to_python(self, value: object) -> dict | None:
        text = super().to_python(value)
        if not text:
            return None
        try:
            geometry = json.loads(text)
        except (ValueError, RecursionError):
            raise forms.ValidationError("The shape is not GeoJSON: draw it on the map.") from None
        if isinstance(geometry, dict) and geometry.get("type") == "Feature":
            geometry = geometry.get("geometry")
        if not isinstance(geometry, dict) or not isinstance(geometry.get("type"), str):
            raise forms.ValidationError("The shape is not a GeoJSON geometry.")
        return geometry


def _one_organization(form: forms.BaseForm, organizations: QuerySet[Organization]) -> None:
    """A user of one organisation is not asked which: the field is hidden and may be left out."""
    form.only = organizations[0] if len(organizations) == 1 else None
    if form.only is not None:
        field = form.fields["organization"]
        field.widget, field.required = forms.HiddenInput(), False
        form.initial["organization"] = form.only.pk


class ChoicesField(forms.ModelMultipleChoiceField):
    """Ids checked as ids (``parse_pk``) before the database sees them: a number too large for a key is a form
    error, not a database error."""

    def _check_values(self, value):
        for pk in value:
            if parse_pk(str(pk)) is None:
                raise forms.ValidationError(
                    self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": str(pk)[:40]}
                )
        return super()._check_values(value)


class PlaceForm(forms.ModelForm):
    """Shared by both forms: the organisation (chosen when new and the user edits several), the shape."""

    organization = forms.ModelChoiceField(queryset=Organization.objects.none(), empty_label=None)
    shape = ShapeField(help_text=SHAPE_HELP)

    def __init__(self, *args, organizations: QuerySet[Organization], read_only: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = organizations
        self.only = None
        if self.instance.pk:
            self.fields["organization"].disabled = True
            self.initial["organization"] = self.instance.organization_id
            self.initial["shape"] = json.dumps(self.instance_geometry())
        else:
            _one_organization(self, organizations)
        for field in self.fields.values():
            field.disabled = field.disabled or read_only

    def instance_geometry(self) -> dict:
        raise NotImplementedError

    def clean(self) -> dict:
        data = super().clean()
        organization = data.get("organization") or self.only
        if self.instance.pk is None and organization is not None:
            self.instance.organization = organization
        geometry = data.get("shape")
        if geometry is not None:
            try:
                self.set_shape(geometry)
            except Refused as exc:
                self.add_error("shape", f"The shape cannot be used: {exc}.")
        return data

    def set_shape(self, geometry: dict) -> None:
        raise NotImplementedError


class GeofenceForm(PlaceForm):
    devices = ChoicesField(queryset=Device.objects.none(), required=False)
    groups = ChoicesField(queryset=DeviceGroup.objects.none(), required=False)

    class Meta:
        model = Geofence
        fields = ["name", "colour", "description", "radius_m", "width_m", "speed_limit_kmh", "dwell_s", "calendar"]
        fields += ["devices", "groups"]
        labels = {"radius_m": "Radius (m)", "width_m": "Width (m)", "speed_limit_kmh": "Speed limit (km/h)"}
        labels |= {"dwell_s": "Dwell (s)", "calendar": "Active calendar (iCalendar)"}
        help_texts = {
            "radius_m": "A circle's radius.",
            "width_m": "A corridor's width (the line drawn is its middle).",
            "devices": "None chosen: it applies to every device.",
            "calendar": "Empty: always active. E.g. BEGIN:VEVENT / DTSTART;TZID=Europe/Helsinki:20260105T080000 / "
            "DURATION:PT10H / RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR / END:VEVENT",
        }
        widgets = {
            "colour": forms.TextInput(attrs={"type": "color"}),
            "description": forms.Textarea(attrs={"rows": 2}),
            "calendar": forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        }

    def __init__(self, *args, organizations: QuerySet[Organization], **kwargs) -> None:
        super().__init__(*args, organizations=organizations, **kwargs)
        org_ids = [self.instance.organization_id] if self.instance.pk else [o.pk for o in organizations]
        self.fields["devices"].queryset = Device.objects.filter(organization_id__in=org_ids, retired__isnull=True)
        self.fields["groups"].queryset = DeviceGroup.objects.filter(organization_id__in=org_ids, retired__isnull=True)
        for name in ("devices", "groups"):
            self.fields[name].widget.attrs["size"] = 6

    def instance_geometry(self) -> dict:
        return {"type": self.instance.geometry.geom_type, "coordinates": self.instance.geometry.coords}

    def set_shape(self, geometry: dict) -> None:
        kind = KIND_OF.get(geometry.get("type"))
        if kind is None:
            raise Refused("a geofence is a polygon, a circle (a point and a radius) or a corridor (a line and a width)")
        self.instance.kind = kind
        self.instance.geometry = checked_geometry(kind, geometry)

    def clean(self) -> dict:
        data = super().clean()
        org = self.instance.organization_id
        for name in ("devices", "groups"):
            if org and any(item.organization_id != org for item in data.get(name) or []):
                self.add_error(name, "Choose only devices and groups of the geofence's organisation.")
        return data


class PoiForm(PlaceForm):
    class Meta:
        model = POI
        fields = ["name", "purpose", "colour", "radius_m", "description", "address", "contact_name", "contact_phone"]
        labels = {"radius_m": "Radius (m)"}
        widgets = {"colour": forms.TextInput(attrs={"type": "color"}), "description": forms.Textarea(attrs={"rows": 2})}

    def instance_geometry(self) -> dict:
        return {"type": "Point", "coordinates": self.instance.point.coords}

    def set_shape(self, geometry: dict) -> None:
        if geometry.get("type") != "Point":
            raise Refused("a POI is a point with a radius: draw a circle")
        self.instance.point = checked_geometry("circle", geometry)


class ImportForm(forms.Form):
    organization = forms.ModelChoiceField(queryset=Organization.objects.none(), empty_label=None)
    file = forms.FileField(label="GeoJSON or KML file")

    def __init__(self, *args, organizations: QuerySet[Organization], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = organizations
        _one_organization(self, organizations)

    def clean_organization(self) -> Organization | None:
        return self.cleaned_data.get("organization") or self.only
