"""The Webhooks page (organisation admins): endpoints with their state and why one was switched off, add (the
signing secret shown once), edit, delete, send a test, a new secret, and each endpoint's delivery log. Another
organisation's endpoint is a 404."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from fleet.core.models import Membership, Organization
from fleet.core.scoping import org_ids_where
from fleet.webhooks import send
from fleet.webhooks.kinds import TYPES
from fleet.webhooks.models import Delivery, Endpoint, new_secret

LOG_SIZE = 100


def admin_org_ids(user) -> set[int]:
    return org_ids_where(user, (Membership.Role.ADMIN,))


class EndpointForm(forms.ModelForm):
    types = forms.MultipleChoiceField(
        choices=[(t, f"{name} ({t})") for t, name in sorted(TYPES.items(), key=lambda item: item[1])],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every type.",
    )

    class Meta:
        model = Endpoint
        fields = ["organization", "name", "url", "types", "active"]
        labels = {"url": "URL"}
        help_texts = {"url": "Where fleet POSTs the signed JSON (https in production)."}

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = Organization.objects.filter(pk__in=admin_org_ids(user))
        self.fields["organization"].empty_label = None


def _endpoint(request: HttpRequest, pk: int) -> Endpoint:
    return get_object_or_404(Endpoint, pk=pk, organization_id__in=admin_org_ids(request.user))


def _admins_only(request: HttpRequest) -> None:
    if not admin_org_ids(request.user):
        raise PermissionDenied("Only an organisation's admins manage its webhooks.")


@login_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    _admins_only(request)
    form = EndpointForm(request.POST or None, user=request.user)
    secret = None
    if request.method == "POST" and form.is_valid():
        endpoint = form.save()
        secret = endpoint.secret
        messages.success(request, f"Added the webhook “{endpoint.name}”.")
        form = EndpointForm(user=request.user)
    endpoints = Endpoint.objects.filter(organization_id__in=admin_org_ids(request.user)).select_related("organization")
    return render(request, "web/webhooks.html", {"form": form, "endpoints": endpoints, "secret": secret})


@login_required
def webhook_edit(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _endpoint(request, pk)
    form = EndpointForm(request.POST or None, instance=endpoint, user=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Saved the webhook “{endpoint.name}”.")
        return redirect("webhook-edit", pk=endpoint.pk)
    return _edit_page(request, endpoint, form)


def _edit_page(request: HttpRequest, endpoint: Endpoint, form: EndpointForm, secret: str | None = None):
    log = Delivery.objects.filter(endpoint=endpoint).prefetch_related("tries")[:LOG_SIZE]
    context = {"endpoint": endpoint, "form": form, "log": log, "secret": secret}
    return render(request, "web/webhook.html", context)


@login_required
@require_POST
def webhook_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    endpoint = _endpoint(request, pk)
    if action == "delete":
        endpoint.delete()
        messages.success(request, f"Deleted the webhook “{endpoint.name}”.")
        return redirect("webhook-list")
    if action == "test":
        send.send_test(endpoint)
        messages.success(request, f"Sent a test message to “{endpoint.name}”: its result is in the log below.")
        return redirect("webhook-edit", pk=endpoint.pk)
    if action == "secret":
        endpoint.secret = new_secret()
        endpoint.save(update_fields=["secret"])
        messages.success(request, "Made a new signing secret: the old one no longer signs anything.")
        return _edit_page(request, endpoint, EndpointForm(instance=endpoint, user=request.user), endpoint.secret)
    raise PermissionDenied("Unknown action.")
