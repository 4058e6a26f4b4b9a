// The Dispatch board's map: each visible task's destination (its radius as a circle, a dot at its centre) in
// its status's colour with a popup naming it, and the organisation's vehicles at their last positions.
// Order references, titles and vehicle names are user and vendor strings: popups and tooltips get DOM nodes
// holding them as text (Leaflet parses a string content as HTML).

import { addBaseLayers } from "./basemap.js";
import { el } from "./format.js";

const L = window.L;
const HIGHLIGHT_ZOOM = 15;

function popup(task) {
  return el("div", { class: "task-popup" },
    el("strong", {}, task.order_ref), task.title ? ` ${task.title}` : "",
    el("br"), task.status_label,
    el("br"), el("a", { href: task.url }, "Open the task"));
}

export class DispatchMap {
  constructor(element, page, onSelect = () => {}) {
    this.page = page;
    this.onSelect = onSelect;
    this.map = L.map(element).setView(page.center, page.zoom);
    addBaseLayers(this.map, page, document.getElementById("tile-note"));
    this.tasks = L.featureGroup().addTo(this.map);
    this.vehicles = L.featureGroup().addTo(this.map);
    this.destinations = new Map(); // task id -> { task, area, dot }
    this.highlighted = null;
    for (const task of page.tasks) this.addTask(task);
    for (const vehicle of page.vehicles) this.addVehicle(vehicle);
    this.fit();
  }

  colour(status) {
    return this.page.colours[status] || "#667085";
  }

  addTask(task) {
    const colour = this.colour(task.status);
    const area = L.circle([task.lat, task.lon], { radius: task.radius_m, color: colour, weight: 2, fillOpacity: 0.15 });
    const dot = L.circleMarker([task.lat, task.lon], { radius: 6, color: "#fff", weight: 2, fillColor: colour, fillOpacity: 1 });
    dot.bindTooltip(el("span", {}, task.order_ref));
    dot.bindPopup(() => popup(task));
    dot.on("click", () => this.onSelect(task.id));
    area.addTo(this.tasks);
    dot.addTo(this.tasks);
    this.destinations.set(task.id, { task, area, dot });
  }

  addVehicle(vehicle) {
    L.circleMarker([vehicle.lat, vehicle.lon], { radius: 7, color: "#fff", weight: 2, fillColor: "#101828", fillOpacity: 0.9 })
      .bindTooltip(el("span", {}, vehicle.name))
      .addTo(this.vehicles);
  }

  fit() {
    const bounds = this.tasks.getBounds();
    if (this.vehicles.getLayers().length) bounds.extend(this.vehicles.getBounds());
    if (bounds.isValid()) this.map.fitBounds(bounds, { padding: [24, 24], maxZoom: 15 });
  }

  /** Show the task's destination: bigger, in front, in view, its popup open. */
  highlight(id) {
    if (this.highlighted !== null) this.restyle(this.highlighted, false);
    const shown = this.destinations.get(id);
    this.highlighted = shown ? id : null;
    if (!shown) return;
    this.restyle(id, true);
    shown.area.bringToFront();
    shown.dot.bringToFront();
    this.map.setView(shown.dot.getLatLng(), Math.max(this.map.getZoom(), HIGHLIGHT_ZOOM), { animate: false });
    shown.dot.openPopup();
  }

  restyle(id, on) {
    const shown = this.destinations.get(id);
    if (!shown) return;
    const colour = this.colour(shown.task.status);
    shown.area.setStyle({ color: colour, weight: on ? 4 : 2, fillOpacity: on ? 0.3 : 0.15 });
    shown.dot.setStyle({ fillColor: colour, color: on ? "#101828" : "#fff" });
    shown.dot.setRadius(on ? 10 : 6);
  }

  /** A card moved to another column: its destination takes the new status's colour. */
  setStatus(id, status, label) {
    const shown = this.destinations.get(id);
    if (!shown) return;
    shown.task.status = status;
    if (label) shown.task.status_label = label;
    this.restyle(id, this.highlighted === id);
  }
}
