from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from leaflet.admin import LeafletGeoAdmin

from fleet.core.admin import OrgScopedAdmin, OrgScopedInline
from fleet.dispatch import files, lifecycle, services
from fleet.dispatch.models import Task, TaskFile


class TaskFileForm(forms.ModelForm):
    """A new file is uploaded here (checked by ``files.check``); a stored one only shows its metadata."""

    upload = forms.FileField(required=False, help_text="An image (JPEG, PNG, GIF, WebP) or a PDF document.")

    class Meta:
        model = TaskFile
        fields = ["kind"]

    def clean_upload(self) -> Any:
        upload = self.cleaned_data.get("upload")
        if upload is None and not self.instance.pk and self.has_changed():
            raise ValidationError("Choose a file.")
        if upload is not None:
            if self.instance.pk:
                raise ValidationError("A stored file cannot be replaced: add a new one.")
            files.check(upload)
        return upload


class TaskFileInline(OrgScopedInline):
    model = TaskFile
    form = TaskFileForm
    extra = 1
    fields = ["upload", "kind", "name", "mime", "size", "uploaded", "sender"]
    readonly_fields = ["name", "mime", "size", "uploaded", "sender"]


@admin.register(Task)
class TaskAdmin(OrgScopedAdmin, LeafletGeoAdmin):
    list_display = ["order_ref", "title", "status", "device", "driver", "planned_start", "planned_stop", "arrived"]
    list_filter = ["status", "organization"]
    search_fields = ["order_ref", "title", "destination_address", "notes"]
    list_select_related = ["device", "driver"]
    date_hierarchy = "planned_start"
    inlines = [TaskFileInline]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        class LifecycleForm(form):
            def clean_status(self):  # a change of status is a move of the state machine
                new = self.cleaned_data["status"]
                old = self.instance.status if self.instance.pk else Task.Status.CREATED
                if self.instance.pk and new != old and (reason := lifecycle.allowed(old, new, "dispatcher")):
                    raise forms.ValidationError(reason)
                return new

        return LifecycleForm

    def save_model(self, request, obj: Task, form, change: bool) -> None:
        """Through the service, so a task saved here reaches its vehicle's vendor; a new status through the
        lifecycle, so it is on the task's timeline."""
        new = obj.status
        if change and "status" in form.changed_data:
            obj.status = form.initial["status"]
        services.save_task(obj)
        if change and "status" in form.changed_data:
            lifecycle.transition(obj, new, "dispatcher", user=request.user, note="in the admin")

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """New task files go through ``files.add_task_file`` (stored, then uploaded to the task's vendor); the
        admin's change message reads what was added, changed and deleted."""
        if formset.model is not TaskFile:
            return super().save_formset(request, form, formset, change)
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for file_form in formset.forms:
            instance = file_form.instance
            if file_form in formset.deleted_forms:
                if instance.pk:
                    formset.deleted_objects.append(instance)
                    instance.delete()
            elif file_form.has_changed() and instance.pk:
                TaskFile.objects.filter(pk=instance.pk).update(kind=file_form.cleaned_data["kind"])
                formset.changed_objects.append((instance, ["kind"]))
            elif file_form.has_changed() and (upload := file_form.cleaned_data.get("upload")):
                kind = file_form.cleaned_data["kind"]
                formset.new_objects.append(files.add_task_file(form.instance, upload, kind))
