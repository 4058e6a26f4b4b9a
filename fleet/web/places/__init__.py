"""The Geofences and POIs pages: list with search and a map, drawing and editing with Leaflet-Geoman, import and
export of GeoJSON and KML, each shape's source and push status (docs/geofences.md)."""
