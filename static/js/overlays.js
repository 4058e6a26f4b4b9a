// Overlay layers from /live/layers.json (geofences, POIs, tasks, beacons) and the selected vehicle's trail.

import { el, urlFor } from "./format.js";
import { CorridorWidths, shapeLayer } from "./shapes.js";

const L = window.L;
const TASK_COLORS = {
  created: "#7a5af8", assigned: "#2e90fa", en_route: "#0ba5ec", arrived: "#f79009", in_progress: "#f59e0b",
  completed: "#12a150", failed: "#d92d20", rejected: "#d92d20", cancelled: "#98a2b3",
};
const OPEN = new Set(["created", "assigned", "en_route", "arrived", "in_progress"]); // dispatch/lifecycle.py OPEN
export const TRAIL_MINUTES = 30;

function tip(title, ...lines) {
  return el("div", {}, el("strong", {}, title), ...lines.filter(Boolean).map((l) => el("div", {}, l)));
}

/** The JSON at url, or null when the network fails or the server says no (the caller keeps what it shows). */
async function getJson(url) {
  try {
    const response = await fetch(url, { credentials: "same-origin" });
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

export class Overlays {
  constructor(map, store) {
    this.map = map;
    this.store = store;
    this.geofences = L.layerGroup();
    this.pois = L.layerGroup();
    this.tasks = L.layerGroup();
    this.beacons = L.layerGroup();
    this.trail = L.layerGroup();
    this.corridors = new CorridorWidths(map);
    this.taskLines = []; // [polyline, device id, destination]
    this.trails = new Map(); // device id -> {line, points}
    this.pinned = new Set(); // device ids whose trail stays when the selection moves on
  }

  groups() {
    return { Geofences: this.geofences, POIs: this.pois, Tasks: this.tasks, Beacons: this.beacons, Trail: this.trail };
  }

  async load(url) {
    const data = await getJson(url);
    if (data === null) {
      if (!navigator.onLine) window.addEventListener("online", () => this.load(url), { once: true });
      return;
    }
    this.counts = {};
    for (const [name, fc] of Object.entries(data)) this.counts[name] = fc.features.length;
    this.drawGeofences(data.geofences.features);
    this.drawPois(data.pois.features);
    this.drawTasks(data.tasks.features);
    this.drawBeacons(data.beacons.features);
  }

  drawGeofences(features) {
    this.geofences.clearLayers();
    this.corridors.clear();
    for (const f of features) {
      const p = f.properties, g = f.geometry;
      const layer = shapeLayer(f, p.colour || undefined);
      if (layer === null) continue;
      const extra = g.type === "LineString" ? `corridor, ${p.width_m} m wide` : g.type === "Point" ? `circle, ${p.radius_m} m` : "polygon";
      layer.bindTooltip(tip(p.name, extra, p.description), { sticky: true });
      layer.feature = f;
      this.geofences.addLayer(layer);
      this.corridors.add(layer);
    }
  }

  drawPois(features) {
    this.pois.clearLayers();
    for (const f of features) {
      const [lon, lat] = f.geometry.coordinates, p = f.properties;
      const m = L.circleMarker([lat, lon], { radius: 6, color: "#fff", weight: 2, fillColor: p.colour || "#0e9384", fillOpacity: 1 });
      m.bindTooltip(tip(p.name, p.purpose, p.address));
      this.pois.addLayer(m);
    }
  }

  drawBeacons(features) {
    this.beacons.clearLayers();
    for (const f of features) {
      const [lon, lat] = f.geometry.coordinates, p = f.properties;
      const m = L.circleMarker([lat, lon], { radius: 4, color: "#6941c6", weight: 2, fillColor: "#fff", fillOpacity: 1 });
      m.bindTooltip(tip(p.name, p.floor !== null ? `floor ${p.floor}` : "", p.battery_level !== null ? `battery ${p.battery_level} %` : ""));
      this.beacons.addLayer(m);
    }
  }

  drawTasks(features) {
    this.tasks.clearLayers();
    this.taskLines = [];
    for (const f of features) {
      const [lon, lat] = f.geometry.coordinates, p = f.properties;
      const color = TASK_COLORS[p.status] || "#667085";
      if (p.device && OPEN.has(p.status)) {
        const line = L.polyline([[lat, lon], [lat, lon]], { color, weight: 2, dashArray: "6 6", opacity: 0.8, interactive: false });
        this.taskLines.push([line, p.device, [lat, lon]]);
        this.tasks.addLayer(line);
      }
      const pin = L.circleMarker([lat, lon], { radius: 7, color: "#fff", weight: 2, fillColor: color, fillOpacity: 1 });
      pin.bindTooltip(tip(`${p.order_ref}${p.title ? ` · ${p.title}` : ""}`, p.status.replace("_", " "), p.address));
      this.tasks.addLayer(pin);
    }
    this.refreshTaskLines();
  }

  /** Keep each open task's line anchored on its vehicle's live position. */
  refreshTaskLines() {
    for (const [line, id, dest] of this.taskLines) {
      const d = this.store.devices.get(id);
      if (d && d.lat !== null && d.lat !== undefined) line.setLatLngs([[d.lat, d.lon], dest]);
      else line.setLatLngs([dest, dest]);
    }
  }

  /** Show the selected vehicle's trail; trails of pinned vehicles stay, the others go. */
  async showTrail(id, trackUrl) {
    for (const [other, entry] of this.trails) {
      if (other !== id && !this.pinned.has(other)) { this.trail.removeLayer(entry.line); this.trails.delete(other); }
    }
    if (id === null || this.trails.has(id)) return;
    const entry = { line: L.polyline([], { color: "#1f6feb", weight: 3, opacity: 0.75, interactive: false }), points: [] };
    this.trails.set(id, entry);
    this.trail.addLayer(entry.line);
    const from = new Date((this.store.now() - TRAIL_MINUTES * 60) * 1000).toISOString();
    const data = await getJson(`${urlFor(trackUrl, id)}?from=${encodeURIComponent(from)}`);
    if (this.trails.get(id) !== entry) return;
    if (data === null) { this.trail.removeLayer(entry.line); this.trails.delete(id); return; } // selecting it again retries
    const live = entry.points;
    entry.points = data.positions.filter((r) => r[5]).map((r) => [r[0], r[1], r[2]]);
    const lastT = entry.points.length ? entry.points[entry.points.length - 1][0] : 0;
    for (const p of live) if (p[0] > lastT) entry.points.push(p);
    entry.line.setLatLngs(entry.points.map((p) => [p[1], p[2]]));
  }

  /** Keep (or stop keeping) a vehicle's trail when another vehicle is selected. */
  pin(id, on, selected) {
    if (on) this.pinned.add(id);
    else {
      this.pinned.delete(id);
      const entry = this.trails.get(id);
      if (entry && id !== selected) { this.trail.removeLayer(entry.line); this.trails.delete(id); }
    }
  }

  /** Grow trails with fresh positions; drop points older than the window. */
  extendTrails(changed) {
    if (!this.trails.size) return;
    const cutoff = this.store.now() - TRAIL_MINUTES * 60;
    for (const d of changed) {
      const entry = this.trails.get(d.id);
      if (!entry || !d.valid) continue;
      entry.points.push([d.fix, d.lat, d.lon]);
      let drop = 0;
      while (drop < entry.points.length - 1 && entry.points[drop][0] < cutoff) drop += 1;
      if (drop) entry.points.splice(0, drop);
      entry.line.setLatLngs(entry.points.map((p) => [p[1], p[2]]));
    }
  }
}
