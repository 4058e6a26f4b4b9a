"""Admin for geofences and POIs, saved and deleted through ``fleet.geo.services``, so
the vendor accounts that hold a copy follow; the geocoding cache for superusers."""

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from leaflet.admin import LeafletGeoAdmin

from fleet.core.admin import OrgScopedAdmin, RetiredFilter
from fleet.core.admin.users import SuperuserOnly
from fleet.geo import services
from fleet.geo.models import POI, CachedAddress, Geofence


@admin.register(Geofence)
class GeofenceAdmin(OrgScopedAdmin, LeafletGeoAdmin):
    list_display = ["name", "kind", "radius_m", "width_m", "organization", "updated", "retired"]
    list_filter = ["kind", "organization", RetiredFilter]
    search_fields = ["name", "description"]

    def save_model(self, request: HttpRequest, obj: Geofence, form: ModelForm, change: bool) -> None:
        services.save_geofence(obj)

    def delete_model(self, request: HttpRequest, obj: Geofence) -> None:
        services.delete_geofence(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Geofence]) -> None:
        with transaction.atomic():  # all or none, as the bulk delete it replaces
            for geofence in queryset:
                services.delete_geofence(geofence)


@admin.register(POI)
class POIAdmin(OrgScopedAdmin, LeafletGeoAdmin):
    list_display = ["name", "purpose", "address", "radius_m", "contact_name", "contact_phone", "organization"]
    list_filter = ["purpose", "organization"]
    search_fields = ["name", "address", "contact_name", "contact_phone"]

    def save_model(self, request: HttpRequest, obj: POI, form: ModelForm, change: bool) -> None:
        services.save_poi(obj)

    def delete_model(self, request: HttpRequest, obj: POI) -> None:
        services.delete_poi(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[POI]) -> None:
        with transaction.atomic():
            for poi in queryset:
                services.delete_poi(poi)


@admin.register(CachedAddress)
class CachedAddressAdmin(SuperuserOnly, admin.ModelAdmin):
    """The geocoding provider's answers and the cells waiting or failing (shared by every organisation): read
    only; deleting a row makes the cell asked again when next needed."""

    list_display = ["text", "state", "provider", "latitude", "longitude", "attempts", "error", "fetched", "next_try"]
    list_filter = ["state", "provider"]
    search_fields = ["text", "error"]
    readonly_fields = [f.name for f in CachedAddress._meta.fields]

    def has_add_permission(self, request: HttpRequest, *args: object) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: CachedAddress | None = None) -> bool:
        return False
