from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from fleet.core.admin import OrgScopedAdmin
from fleet.geo.models import POI, Geofence


@admin.register(Geofence)
class GeofenceAdmin(OrgScopedAdmin, LeafletGeoAdmin):
    list_display = ["name", "kind", "radius_m", "width_m", "organization", "updated"]
    list_filter = ["kind", "organization"]
    search_fields = ["name", "description"]


@admin.register(POI)
class POIAdmin(OrgScopedAdmin, LeafletGeoAdmin):
    list_display = ["name", "purpose", "address", "radius_m", "contact_name", "contact_phone", "organization"]
    list_filter = ["purpose", "organization"]
    search_fields = ["name", "address", "contact_name", "contact_phone"]
