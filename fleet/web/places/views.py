"""The Geofences and POIs pages. Everyone in an organisation sees its shapes; its admins and dispatchers create,
edit, delete and import them (others get 403), always through ``fleet.geo.services`` so the vendor accounts
that hold copies follow. Another organisation's shape is a 404."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from fleet.core.jsonout import dumps
from fleet.core.maps import map_settings
from fleet.core.models import Organization
from fleet.core.scoping import EDITORS, for_user, get_for_user, organizations_where, parse_pk
from fleet.geo import export, files, importing, services
from fleet.geo.models import POI, Geofence
from fleet.vendors.base import GEOFENCE_WRITE, POI_WRITE
from fleet.web.imports import content_length
from fleet.web.places import forms, status

EDIT_ROLES = EDITORS
MAX_LISTED = 1000


@dataclass(frozen=True)
class Kind:
    """What differs between the two pages."""

    name: str  # "geofences" or "pois", also the URL names' prefix
    title: str
    singular: str
    model: type[Model]
    form: type[forms.PlaceForm]
    capability: str
    save: Any
    delete: Any
    load: Any
    draw: tuple[str, ...]  # Geoman draw modes offered

    def objects(self) -> QuerySet:
        if self.model is Geofence:
            return Geofence.objects.filter(retired__isnull=True).select_related("organization")
        return POI.objects.select_related("organization")

    def feature(self, obj: Model) -> dict:
        geometry = obj.geometry if self.model is Geofence else obj.point
        props = {"id": obj.pk, "name": obj.name, "colour": obj.colour, "radius_m": obj.radius_m}
        props |= {"kind": getattr(obj, "kind", "poi"), "width_m": getattr(obj, "width_m", None)}
        props["url"] = reverse(f"{self.name}-edit", args=[obj.pk])
        shape = {"type": geometry.geom_type, "coordinates": geometry.coords}
        return {"type": "Feature", "geometry": shape, "properties": props}


GEOFENCES = Kind(
    "geofences",
    "Geofences",
    "geofence",
    Geofence,
    forms.GeofenceForm,
    GEOFENCE_WRITE,
    services.save_geofence,
    services.delete_geofence,
    importing.import_geofences,
    ("Polygon", "Rectangle", "Circle", "Line"),
)
POIS = Kind(
    "pois", "POIs", "POI", POI, forms.PoiForm, POI_WRITE, services.save_poi, services.delete_poi, importing.import_pois,
    ("Circle",),
)  # fmt: skip


def editable_orgs(request: HttpRequest) -> QuerySet[Organization]:
    return organizations_where(request.user, EDIT_ROLES).order_by("name")


def _may_edit(request: HttpRequest, obj: Model | None = None) -> bool:
    orgs = editable_orgs(request)
    return orgs.filter(pk=obj.organization_id).exists() if obj is not None else orgs.exists()


def _deny_unless_editor(request: HttpRequest, obj: Model | None = None) -> None:
    if not _may_edit(request, obj):
        raise PermissionDenied("Only the organisation's admins and dispatchers may change its geofences and POIs.")


def _search(kind: Kind, request: HttpRequest) -> tuple[QuerySet, str]:
    query = request.GET.get("q", "")
    query = query.replace("\x00", "").strip()[:200] if isinstance(query, str) else ""
    objects = for_user(kind.objects(), request.user)
    if query:
        objects = objects.filter(Q(name__icontains=query) | Q(description__icontains=query))
    return objects.order_by("name", "pk"), query


def _page_data(kind: Kind, features: list[dict], editable: bool) -> dict:
    return {**map_settings(), "kind": kind.name, "features": features, "editable": editable, "draw": kind.draw}


@require_GET
@login_required
def index(request: HttpRequest, kind: Kind) -> HttpResponse:
    objects, query = _search(kind, request)
    shown = list(objects[:MAX_LISTED])
    origins = status.origins(shown, kind.capability)
    orgs = editable_orgs(request)
    context = {
        "kind": kind,
        "query": query,
        "rows": [(obj, origins[obj.pk]) for obj in shown],
        "total": objects.count(),
        "several_orgs": len({o.organization_id for o in shown}) > 1,
        "may_edit": orgs.exists(),
        "import_form": forms.ImportForm(organizations=orgs),
        "page": _page_data(kind, [kind.feature(obj) for obj in shown], editable=False),
    }
    context["page"]["selected"] = parse_pk(request.GET.get("saved"))  # the shape just saved: the map shows it
    return render(request, "web/places.html", context)


@login_required
def edit(request: HttpRequest, kind: Kind, pk: int | None = None) -> HttpResponse:
    obj = get_for_user(kind.objects(), request.user, pk=pk) if pk is not None else kind.model()
    origin = status.origins([obj], kind.capability)[obj.pk] if pk is not None else status.Origin()
    may_edit = _may_edit(request, obj if pk is not None else None) and not origin.read_only
    if request.method == "POST":
        _deny_unless_editor(request, obj if pk is not None else None)
        if origin.read_only:
            raise PermissionDenied(origin.read_only)
    elif pk is None:
        _deny_unless_editor(request)
    form = kind.form(
        request.POST if request.method == "POST" else None,
        instance=obj,
        organizations=editable_orgs(request),
        read_only=not may_edit,
    )
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():  # the devices and groups are set before the write-back handlers run
            saved = kind.save(form.save(commit=False))
            form.save_m2m()
        messages.success(request, f"{kind.singular.capitalize()} “{saved.name}” saved.")
        return redirect(f"{reverse(kind.name)}?saved={saved.pk}")
    features = [kind.feature(obj)] if pk is not None else []
    context = {"kind": kind, "obj": obj, "form": form, "origin": origin, "may_edit": may_edit}
    context["page"] = _page_data(kind, features, editable=may_edit)
    return render(request, "web/place_edit.html", context, status=400 if form.errors else 200)


@require_POST
@login_required
def delete(request: HttpRequest, kind: Kind, pk: int) -> HttpResponse:
    obj = get_for_user(kind.objects(), request.user, pk=pk)
    _deny_unless_editor(request, obj)
    origin = status.origins([obj], kind.capability)[obj.pk]
    if origin.read_only:
        raise PermissionDenied(origin.read_only)
    kind.delete(obj)
    messages.success(request, f"{kind.singular.capitalize()} “{obj.name}” deleted.")
    return redirect(kind.name)


@require_POST
@login_required
def import_file(request: HttpRequest, kind: Kind) -> HttpResponse:
    _deny_unless_editor(request)
    orgs = editable_orgs(request)
    context: dict = {"kind": kind}
    if content_length(request) > files.MAX_BYTES + 64 * 1024:  # before the body is read
        context["error"] = f"The file is larger than {files.MAX_BYTES // (1024 * 1024)} MB."
        return render(request, "web/place_import.html", context, status=400)
    form = forms.ImportForm(request.POST, request.FILES, organizations=orgs)
    if not form.is_valid():
        context["error"] = " ".join(e for errors in form.errors.values() for e in errors)
        return render(request, "web/place_import.html", context, status=400)
    upload = form.cleaned_data["file"]
    try:
        features = files.read(upload.name or "", upload.read(files.MAX_BYTES + 1))
    except files.FileRefused as exc:
        context["error"] = f"The file cannot be imported: {exc}."
        return render(request, "web/place_import.html", context, status=400)
    context["outcome"] = kind.load(form.cleaned_data["organization"], features)
    context["filename"] = upload.name
    return render(request, "web/place_import.html", context)


@require_GET
@login_required
def export_file(request: HttpRequest, kind: Kind, fmt: str) -> HttpResponse:
    objects, _ = _search(kind, request)
    items = {"geofences": objects} if kind is GEOFENCES else {"pois": objects}
    if fmt == "kml":
        body, content_type = export.kml(**items, title=f"fleet {kind.title}"), "application/vnd.google-earth.kml+xml"
    else:
        body, content_type = dumps(export.geojson(**items)), "application/geo+json"
    response = HttpResponse(body, content_type=content_type)
    filename = f"{slugify(kind.title)}.{'kml' if fmt == 'kml' else 'geojson'}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
