from django import forms
from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from fleet.core.admin import OrgScopedAdmin
from fleet.dispatch import lifecycle, services
from fleet.dispatch.models import Task


@admin.register(Task)
class TaskAdmin(OrgScopedAdmin, LeafletGeoAdmin):
    list_display = ["order_ref", "title", "status", "device", "driver", "planned_start", "planned_stop", "arrived"]
    list_filter = ["status", "organization"]
    search_fields = ["order_ref", "title", "destination_address", "notes"]
    list_select_related = ["device", "driver"]
    date_hierarchy = "planned_start"

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
