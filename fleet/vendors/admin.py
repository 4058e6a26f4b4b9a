"""Admin for vendor accounts (credentials write-only, kinds limited to the registry's), their sync runs, the
links between vendor objects and fleet's, the vendors' POI reports, and the log of commands sent to devices."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import escape, format_html

from fleet.core.admin import OrgScopedAdmin, ReadOnlyAdmin
from fleet.core.scoping import is_org_scoped, org_lookup
from fleet.vendors.models import CommandLog, PoiReport, SyncRun, VendorAccount, VendorLink
from fleet.vendors.registry import CONNECTORS

NO_CONNECTOR = "No connector for kind %(value)r: fleet can sync " + ", ".join(sorted(CONNECTORS)) + "."


class VendorAccountForm(forms.ModelForm):
    """Credentials are write-only: the form never renders the stored values back."""

    username = forms.CharField(required=False)
    password = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="A token or API key, used instead of the username and password when given (Metrotec: the API key "
        "from its admin panel; without one, the username and password log in for a short-lived JWT; iTrack: an API "
        "key hash from its web interface, else the username and password log in for a session hash).",
    )
    language = forms.CharField(
        required=False,
        max_length=16,
        help_text="Metrotec: the language of the vendor's labels (e.g. et, en); blank: the vendor's default.",
    )
    dealer_id = forms.CharField(
        required=False, max_length=32, help_text="iTrack: the dealer id its login needs, when the platform asks one."
    )
    SHOWN = ("username", "language", "dealer_id")  # stored in the credentials, but no secret: shown back

    class Meta:
        model = VendorAccount
        exclude = ["credentials", "cursors"]  # noqa: DJ006 (every other field is editable)
        error_messages = {"kind": {"invalid_choice": NO_CONNECTOR}}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.kind not in CONNECTORS:
            self.fields["kind"].help_text = escape(NO_CONNECTOR % {"value": self.instance.kind})  # admin renders it raw
        stored = (self.instance.credentials or {}) if self.instance.pk else {}
        for shown in self.SHOWN:
            self.fields[shown].initial = stored.get(shown, "")
        for secret in ("password", "token"):
            if stored.get(secret):
                self.fields[secret].help_text = "Stored. Leave blank to keep it."

    def save(self, commit: bool = True) -> VendorAccount:
        account = super().save(commit=False)
        creds = dict(account.credentials or {})
        for shown in self.SHOWN:
            creds[shown] = self.cleaned_data[shown]
        for secret in ("password", "token"):
            if self.cleaned_data[secret]:
                creds[secret] = self.cleaned_data[secret]
        account.credentials = {k: v for k, v in creds.items() if v}
        account.disabled_by_error = False  # an admin touched it: give it another chance
        if commit:
            account.save()
        return account


@admin.register(VendorAccount)
class VendorAccountAdmin(OrgScopedAdmin):
    form = VendorAccountForm
    list_display = ["name", "kind", "organization", "enabled", "disabled_by_error", "last_success", "last_error_short"]
    list_filter = ["kind", "enabled", "disabled_by_error", "organization"]
    search_fields = ["name", "base_url"]
    readonly_fields = [
        "sync_runs",
        "last_success",
        "last_error",
        "last_error_at",
        "consecutive_errors",
        "next_run",
        "stream_connected",
    ]
    actions = ["sync_now"]

    @admin.display(description="sync runs")
    def sync_runs(self, account: VendorAccount) -> str:
        if not account.pk:
            return "-"
        url = reverse("admin:vendors_syncrun_changelist") + f"?account__id__exact={account.pk}"
        return format_html('<a href="{}">{} runs</a>', url, account.runs.count())

    @admin.display(description="last error")
    def last_error_short(self, account: VendorAccount) -> str:
        return account.last_error[:80]

    @admin.action(description="Sync now")
    def sync_now(self, request: HttpRequest, queryset: QuerySet[VendorAccount]) -> None:
        from fleet.vendors.tasks import sync_account

        for account in queryset:
            sync_account.delay(account.pk)
        self.message_user(request, f"Queued a sync of {queryset.count()} account(s).", messages.SUCCESS)


@admin.register(SyncRun)
class SyncRunAdmin(OrgScopedAdmin):
    list_display = ["account", "started", "finished", "status", "fetched", "created", "updated", "rejected", "error"]
    list_filter = ["status", "account__kind", "account"]
    search_fields = ["account__name", "error"]
    list_select_related = ["account"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class VendorLinkForm(forms.ModelForm):
    """A link names an object of its account's organisation: another organisation's id is refused as a missing
    one (a sync would otherwise overwrite that object with the vendor's copy)."""

    class Meta:
        model = VendorLink
        fields = ["account", "content_type", "object_id", "vendor_id", "last_pulled", "last_pushed", "push_error"]

    def clean(self) -> dict:
        data = super().clean()
        account, content_type, object_id = data.get("account"), data.get("content_type"), data.get("object_id")
        if account and content_type and object_id is not None and not self._in_account_org(account, content_type):
            self.add_error("object_id", f"No {content_type.name} with id {object_id} in {account.organization}.")
        return data

    def _in_account_org(self, account: VendorAccount, content_type: Any) -> bool:
        model = content_type.model_class()
        if model is None or not is_org_scoped(model):
            return False
        same_org = model._default_manager.filter(**{org_lookup(model): account.organization_id})
        return same_org.filter(pk=self.cleaned_data["object_id"]).exists()


@admin.register(VendorLink)
class VendorLinkAdmin(OrgScopedAdmin):
    form = VendorLinkForm
    list_display = ["account", "content_type", "object_id", "vendor_id", "last_pulled", "last_pushed", "push_error"]
    list_filter = ["content_type", "account"]
    search_fields = ["vendor_id"]


@admin.register(PoiReport)
class PoiReportAdmin(OrgScopedAdmin):
    list_display = ["account", "start", "end", "status", "requested", "finished", "error"]
    list_filter = ["status", "account"]
    readonly_fields = ["vendor_id", "status", "rows", "error", "requested", "finished"]

    def save_model(self, request: HttpRequest, obj: PoiReport, form: forms.ModelForm, change: bool) -> None:
        """A new report is asked for at once (its task polls the vendor until it is made)."""
        super().save_model(request, obj, form, change)
        if not change:
            from fleet.vendors.tasks import poi_report_task

            transaction.on_commit(lambda: poi_report_task.delay(obj.pk))


@admin.register(CommandLog)
class CommandLogAdmin(ReadOnlyAdmin):
    """Read only: a command is sent from its device's Commands page, and its log entry is what happened."""

    list_display = ["sent_at", "device", "type", "status", "user", "response"]
    list_filter = ["status", "type"]
    search_fields = ["device__name", "type", "response"]
    list_select_related = ["device", "user"]
