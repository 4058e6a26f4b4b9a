"""/reports/scheduled/: the scheduled reports of the user's organisations. Every member sees them; admins and
dispatchers create, change, delete and "send now". Another organisation's schedule is a 404."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from fleet.core.models import Membership
from fleet.core.scoping import EDITORS, get_for_user, org_ids_where
from fleet.reports import schedules
from fleet.reports.forms import ReportForm
from fleet.reports.kinds import KINDS
from fleet.reports.models import RECIPIENT_SEPARATORS, ScheduledReport

MAX_RECIPIENTS = 20


class ScheduleForm(forms.ModelForm):
    class Meta:
        model = ScheduledReport
        fields = ["name", "period", "frequency", "weekday", "monthday", "hour", "format", "recipients", "enabled"]
        widgets = {"recipients": forms.Textarea(attrs={"rows": 3})}

    def clean_recipients(self) -> str:
        addresses = [r for r in RECIPIENT_SEPARATORS.split(self.cleaned_data["recipients"]) if r]
        if not addresses:
            raise ValidationError("Give at least one email address.")
        if len(addresses) > MAX_RECIPIENTS:
            raise ValidationError(f"Give at most {MAX_RECIPIENTS} addresses.")
        bad = []
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                bad.append(address)
        if bad:
            raise ValidationError(f"Not an email address: {', '.join(bad)}.")
        return "\n".join(dict.fromkeys(addresses))


def _report_form(request: HttpRequest, kind: str, schedule: ScheduledReport | None) -> ReportForm:
    """The report's own parameters (its range is the schedule's period): bound on POST, else pre-filled from the
    saved schedule or from the report page's query ("Schedule this report")."""
    if request.method == "POST":
        form = ReportForm(request.POST, user=request.user, kind=kind)
    else:
        saved = schedule.params if schedule else {k: v for k, v in request.GET.lists() if k != "kind"}
        form = ReportForm(user=request.user, kind=kind, initial={k: v[0] for k, v in saved.items() if v})
    form.shown = [
        f for f in form if f.name not in schedules.RANGE_FIELDS and (f.name != "organization" or not form.single_org)
    ]
    return form


def _editable(request: HttpRequest) -> set[int]:
    orgs = org_ids_where(request.user, EDITORS)
    if not orgs:
        raise PermissionDenied("Only the organisation's admins and dispatchers schedule reports.")
    return orgs


def _schedule(request: HttpRequest, pk: int, orgs: set[int]) -> ScheduledReport:
    queryset = ScheduledReport.objects.filter(organization_id__in=orgs).select_related("organization", "owner")
    return get_for_user(queryset, request.user, pk=pk)


@login_required
def schedule_list(request: HttpRequest) -> HttpResponse:
    orgs = org_ids_where(request.user, tuple(Membership.Role.values))
    rows = ScheduledReport.objects.filter(organization_id__in=orgs).select_related("organization", "owner")
    for row in rows:
        row.kind_title = KINDS[row.kind].title if row.kind in KINDS else row.kind
    can_edit = bool(org_ids_where(request.user, EDITORS))
    return render(request, "reports/scheduled.html", {"rows": rows, "can_edit": can_edit, "kinds": KINDS})


@login_required
def schedule_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    orgs = _editable(request)
    schedule = _schedule(request, pk, orgs) if pk else None
    kind = schedule.kind if schedule else request.GET.get("kind") or request.POST.get("kind")
    if kind not in KINDS:
        raise Http404("No such report.")
    form = ScheduleForm(request.POST or None, instance=schedule)
    report_form = _report_form(request, kind, schedule)
    if request.method == "POST" and _save(request, form, report_form, kind, orgs):
        messages.success(request, f"Saved the scheduled report “{form.instance.name}”.")
        return redirect("reports:scheduled")
    context = {"form": form, "report_form": report_form, "schedule": schedule, "kind": kind, "spec": KINDS[kind]}
    return render(
        request, "reports/scheduled_edit.html", context, status=400 if form.errors or report_form.errors else 200
    )


def _save(request, form: ScheduleForm, report_form: ReportForm, kind: str, orgs: set[int]) -> bool:
    if not (form.is_valid() & report_form.is_valid()):
        return False
    org = report_form.cleaned_data["organization"]
    if org.pk not in orgs:
        report_form.add_error(None, f"Only admins and dispatchers of {org.name} schedule its reports.")
        return False
    schedule = form.save(commit=False)
    schedule.organization, schedule.kind, schedule.owner = org, kind, request.user
    schedule.params = {k: v for k, v in report_form.canonical_query().items() if k not in schedules.RANGE_FIELDS}
    schedules.schedule_next(schedule)
    schedule.save()
    return True


@login_required
@require_POST
def schedule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = _schedule(request, pk, _editable(request))
    schedule.delete()
    messages.success(request, f"Deleted the scheduled report “{schedule.name}”.")
    return redirect("reports:scheduled")


@login_required
@require_POST
def schedule_send(request: HttpRequest, pk: int) -> HttpResponse:
    """Send it now, on a worker, over its period relative to now; the schedule's next run is unchanged."""
    from fleet.reports.tasks import send_scheduled_report

    schedule = _schedule(request, pk, _editable(request))
    send_scheduled_report.delay(schedule.pk)
    messages.success(
        request,
        f"Sending “{schedule.name}” to {', '.join(schedule.recipient_list)}; reload this page to see whether it went.",
    )
    return redirect("reports:scheduled")
