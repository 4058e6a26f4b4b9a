"""A device's commands page: its command log and, for dispatchers and admins where its vendor takes commands, a
form to send one of the types the device reports, with the attributes that type takes."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render

from fleet.core.scoping import EDITORS, get_for_user, org_ids_where
from fleet.tracking.models import Device
from fleet.vendors import commands
from fleet.vendors.errors import VendorError


class CommandForm(forms.Form):
    """A command of one of the types the device takes, a field for each attribute those types take (the page
    shows the chosen type's), and ``confirm`` that a dangerous one needs ticked."""

    type = forms.ChoiceField(
        label="Command",
        error_messages={"invalid_choice": "This device does not take “%(value)s” commands: pick one of the list."},
    )
    confirm = forms.BooleanField(
        required=False, label="I understand this acts on the vehicle (engine, alarm, device) and may be unsafe"
    )

    def __init__(self, *args, types: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["type"].choices = [(t, commands.label(t)) for t in types]
        self.types_of: dict[str, list[str]] = {}  # attribute key -> the offered types that take it
        confirm = self.fields.pop("confirm")
        for kind in types:
            for attribute in commands.attributes_of(kind):
                if attribute.key not in self.types_of:
                    self.fields[attribute.key] = _field(attribute)
                self.types_of.setdefault(attribute.key, []).append(kind)
        for key, kinds in self.types_of.items():
            self.fields[key].help_text = "For " + ", ".join(commands.label(k) for k in kinds) + "."
        self.fields["confirm"] = confirm
        self.dangerous = [t for t in types if t in commands.DANGEROUS]

    def clean(self) -> dict:
        data = super().clean()
        kind = data.get("type")
        if kind is None:
            return data
        given = {a.key: data.get(a.key) for a in commands.attributes_of(kind)}
        try:
            self.command_attributes = commands.clean_attributes(kind, given)
        except ValidationError as exc:
            self.add_error(None, exc)
        if kind in commands.DANGEROUS and not data.get("confirm"):
            self.add_error("confirm", f"“{commands.label(kind)}” acts on the vehicle: tick to confirm you mean it.")
        return data

    def attribute_fields(self) -> list[tuple[forms.BoundField, str]]:
        """(field, the types that take it, space separated) for the page, which shows the chosen type's."""
        return [(self[key], " ".join(kinds)) for key, kinds in self.types_of.items()]

    def attributes(self) -> dict:
        return self.command_attributes


def _field(attribute: commands.Attribute) -> forms.Field:
    if attribute.kind == commands.BOOLEAN:
        return forms.BooleanField(required=False, label=attribute.label)
    if attribute.kind == commands.NUMBER:
        limits = {"min": attribute.minimum, "max": attribute.maximum, "step": 1}
        return forms.CharField(required=False, label=attribute.label, widget=forms.NumberInput(attrs=limits))
    length = {"maxlength": attribute.max_length}  # checked again in clean_attributes
    return forms.CharField(required=False, label=attribute.label, widget=forms.TextInput(attrs=length))


@login_required
def device_commands(request: HttpRequest, pk: int) -> HttpResponse:
    """The device's command log and, for dispatchers and admins where its vendor takes commands, a form to
    send one of the types the device reports."""
    devices = Device.objects.select_related("account", "organization")
    device = get_for_user(devices, request.user, pk=pk)
    may_send = device.organization_id in org_ids_where(request.user, EDITORS)
    if request.method == "POST" and not may_send:
        raise PermissionDenied("Only dispatchers and admins send commands.")
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    supported = commands.supported(device)
    form, problem, status = None, "", 200
    if supported and may_send:
        try:
            types = commands.types(device)
        except VendorError as exc:
            types, problem = [], f"The vendor did not say which commands this device takes: {exc.message}."
        if types:
            form = CommandForm(request.POST if request.method == "POST" else None, types=types)
        elif not problem:
            problem = "The vendor reports no commands this device takes."
    if request.method == "POST":
        if form is None:
            messages.error(request, problem or "Commands cannot be sent to this device.")
            status = 400
        elif form.is_valid():
            log = commands.send(
                device, request.user, form.cleaned_data["type"], form.attributes(), form.cleaned_data["confirm"]
            )
            outcome = {"ok": messages.success, "queued": messages.info, "failed": messages.error}[log.status]
            outcome(request, f"{commands.label(log.type)}: {log.get_status_display()}. {log.response}")
            return redirect("device-commands", pk=device.pk)
        else:
            status = 400
    context = {
        "device": device,
        "zone": device.organization.timezone,
        "supported": supported,
        "may_send": may_send,
        "form": form,
        "problem": problem,
        "log": device.commands.select_related("user")[:50],
        "labels": commands.LABELS,
    }
    return render(request, "web/device_commands.html", context, status=status)
