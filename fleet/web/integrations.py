"""The Integrations page: an organisation's admins see every vendor account of the organisations they run
(status, counts, rejections, rate-limit state) and add, edit, sync, enable, disable or delete them. Others
get 403; an account of another organisation is 404. The state comes from ``fleet.vendors.overview``."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from fleet.core import access
from fleet.core.fields import validate_base_url
from fleet.core.models import Organization
from fleet.vendors import overview, tasks
from fleet.vendors.models import VendorAccount
from fleet.vendors.registry import KIND_CHOICES

SECRET_FIELDS = ("username", "password", "token")
WRITE_ONLY_HELP = "Write-only: what is stored is never shown; leave blank to keep it."


class CredentialsForm(forms.Form):
    base_url = forms.CharField(max_length=300, validators=[validate_base_url], help_text="e.g. https://api.example.com")
    username = forms.CharField(max_length=200, required=False)
    password = forms.CharField(max_length=200, required=False, widget=forms.PasswordInput)
    token = forms.CharField(label="API key / token", max_length=500, required=False, widget=forms.PasswordInput)

    def credentials(self) -> dict[str, str]:
        return {k: self.cleaned_data[k] for k in SECRET_FIELDS if self.cleaned_data.get(k)}


class AddAccountForm(CredentialsForm):
    field_order = ["organization", "name", "kind", "base_url", "username", "password", "token"]
    organization = forms.ModelChoiceField(queryset=Organization.objects.none())
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(label="Vendor", choices=KIND_CHOICES)

    def __init__(self, *args, organizations=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = organizations
        if organizations is not None and organizations.count() == 1:
            self.fields["organization"].initial = organizations.first()

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        if not self.credentials():
            raise forms.ValidationError("Give a username and password, or an API key.")
        org, name = data["organization"], data["name"]
        if VendorAccount.objects.filter(organization=org, name=name).exists():
            self.add_error("name", f"{org} already has an account named {name}.")
        return data


class EditAccountForm(CredentialsForm):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            self.fields[name].help_text = WRITE_ONLY_HELP


def administered(request: HttpRequest):
    organizations = access.administered(request.user)
    if not organizations.exists():
        raise PermissionDenied("Only organisation admins manage integrations.")
    return organizations


def administered_account(request: HttpRequest, pk: int) -> VendorAccount:
    """The account ``pk`` of an organisation the user administers; 404 otherwise (never reveal others)."""
    accounts = VendorAccount.objects.select_related("organization")
    return get_object_or_404(accounts, pk=pk, organization__in=administered(request))


def page(request: HttpRequest, form: AddAccountForm | None = None, status: int = 200) -> HttpResponse:
    organizations = administered(request)
    accounts = list(VendorAccount.objects.filter(organization__in=organizations).select_related("organization"))
    context = {
        "states": overview.states(accounts),
        "form": form or AddAccountForm(organizations=organizations),
        "many_orgs": organizations.count() > 1,
    }
    return render(request, "web/integrations.html", context, status=status)


@login_required
def integrations(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return page(request)
    form = AddAccountForm(request.POST, organizations=administered(request))
    if not form.is_valid():
        return page(request, form, status=400)
    data, credentials = form.cleaned_data, form.credentials()
    if failure := overview.check_login(data["kind"], data["base_url"], credentials):
        form.add_error(None, failure)
        return page(request, form, status=400)
    account = VendorAccount.objects.create(
        organization=data["organization"],
        name=data["name"],
        kind=data["kind"],
        base_url=data["base_url"],
        credentials=credentials,
    )
    messages.success(request, f"{account.name} added: the vendor accepted the login.")
    return redirect("integrations")


@login_required
def integrations_status(request: HttpRequest) -> JsonResponse:
    accounts = VendorAccount.objects.filter(organization__in=administered(request))
    return JsonResponse({"accounts": [s.as_json() for s in overview.states(list(accounts))]})


@require_POST
@login_required
def integration_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    account = administered_account(request, pk)
    if action == "sync":
        tasks.sync_account.delay(account.pk)
        messages.success(request, f"{account.name}: a sync is queued.")
    elif action in ("enable", "disable"):
        account.enabled = action == "enable"
        account.save(update_fields=["enabled"])
        messages.success(request, f"{account.name} {action}d.")
    elif action == "delete":
        name = account.name
        account.delete()
        messages.success(request, f"{name} deleted, with its devices and their data.")
    else:
        raise Http404("No such action.")
    return redirect("integrations")


@login_required
def integration_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """The base URL and credentials; a credential left blank keeps what is stored. Saving checks the login
    with the new credentials and clears an error that had disabled the account."""
    account = administered_account(request, pk)
    form = EditAccountForm(request.POST or None, initial={"base_url": account.base_url})
    if request.method == "POST" and form.is_valid():
        credentials = {**(account.credentials or {}), **form.credentials()}
        base_url = form.cleaned_data["base_url"]
        if failure := overview.check_login(account.kind, base_url, credentials):
            form.add_error(None, failure)
        else:
            account.base_url, account.credentials = base_url, credentials
            account.disabled_by_error, account.consecutive_errors, account.last_error = False, 0, ""
            account.save()
            messages.success(request, f"{account.name} saved: the vendor accepted the login.")
            return redirect("integrations")
    status = 400 if form.errors else 200
    return render(request, "web/integration_edit.html", {"account": account, "form": form}, status=status)
