"""Asking a vendor account for its POI visit report of a period (admins and dispatchers of the account's
organisation): the visits report's "Ask … for its figures" button. The report is made asynchronously
(``fleet.vendors.poireports``); the visits report shows it once it is done."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from fleet.core.models import Membership
from fleet.core.scoping import get_for_user, org_ids_for_user
from fleet.vendors import poireports
from fleet.vendors.models import VendorAccount

ASK_ROLES = (Membership.Role.ADMIN, Membership.Role.DISPATCHER)
MAX_DAYS = 92  # as the report form


class PeriodForm(forms.Form):
    start = forms.DateTimeField()
    end = forms.DateTimeField()

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and not (start < end and (end - start).days <= MAX_DAYS):
            raise forms.ValidationError(f"The period must end after it starts, within {MAX_DAYS} days.")
        return data


@require_POST
@login_required
def ask_poi_report(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_for_user(VendorAccount.objects.all(), request.user, pk=pk)
    if not request.user.is_superuser and account.organization_id not in org_ids_for_user(request.user, ASK_ROLES):
        raise PermissionDenied("Only admins and dispatchers ask vendors for reports.")
    form = PeriodForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(" ".join(m for errors in form.errors.values() for m in errors))
    try:
        poireports.request(account, form.cleaned_data["start"], form.cleaned_data["end"])
    except ValueError as exc:  # the account's vendor makes none
        return HttpResponseBadRequest(str(exc))
    messages.info(request, f"{account.name}: the POI report is asked for; it shows here once the vendor has made it.")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = reverse("account-detail", args=[account.pk])
    return redirect(back)
