// Geofence and POI shapes as Leaflet layers, shared by the live map's overlays and the Geofences / POIs pages:
// a polygon, a circle (GeoJSON Point + radius_m) or a corridor (LineString + width_m, drawn as a line as wide
// as the corridor at the current zoom).

const L = window.L;
const DEFAULT_COLOUR = "#1f6feb";

export function metresPerPixel(lat, zoom) {
  return (40075016.686 * Math.cos((lat * Math.PI) / 180)) / 2 ** (zoom + 8);
}

export function latlngs(coordinates) {
  return coordinates.map(([x, y]) => [y, x]);
}

/** A layer for a shape feature, or null for a geometry it does not draw. */
export function shapeLayer(feature, colour = DEFAULT_COLOUR, fallbackRadius = 50) {
  const p = feature.properties, g = feature.geometry;
  const style = { color: colour, weight: 2, fillOpacity: 0.12, opacity: 0.85 };
  if (g.type === "Point") return L.circle([g.coordinates[1], g.coordinates[0]], { ...style, radius: p.radius_m || fallbackRadius });
  if (g.type === "LineString") {
    const line = L.polyline(latlngs(g.coordinates), { color: colour, opacity: 0.3, lineCap: "round", lineJoin: "round" });
    line.corridorWidth = p.width_m || 20;
    return line;
  }
  if (g.type === "Polygon") return L.polygon(g.coordinates.map(latlngs), style);
  if (g.type === "MultiPolygon") return L.polygon(g.coordinates.map((poly) => poly.map(latlngs)), style);
  return null;
}

/** Keeps every corridor line as wide on screen as its corridor is on the ground. */
export class CorridorWidths {
  constructor(map) {
    this.map = map;
    this.lines = new Set();
    map.on("zoomend", () => this.resize());
  }

  add(line) {
    if (line.corridorWidth === undefined) return;
    this.lines.add(line);
    this.resize(line);
  }

  clear() {
    this.lines.clear();
  }

  resize(only = null) {
    const zoom = this.map.getZoom();
    for (const line of only ? [only] : this.lines) {
      const points = line.getLatLngs();
      if (!points.length) continue;
      line.setStyle({ weight: Math.max(3, line.corridorWidth / metresPerPixel(points[0].lat, zoom)) });
    }
  }
}
