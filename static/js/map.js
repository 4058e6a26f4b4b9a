// The live map page: wires the socket, the device store, the canvas markers, the panel and the overlays.
// Every socket frame that changes devices is applied inside one requestAnimationFrame.

import { addBaseLayers } from "./basemap.js";
import { readJSON } from "./format.js";
import { LiveSocket, showStatus } from "./live.js";
import { MarkerLayer } from "./markers.js";
import { Overlays } from "./overlays.js";
import { EventFeed } from "./feed.js";
import { Panel } from "./panel.js";
import { DeviceStore, Filter } from "./store.js";
import { densest, everything } from "./view.js";

const L = window.L;
const LIST_REFRESH_MS = 300;
const FOLLOW_ZOOM = 15;

const page = readJSON("map-page");
const store = new DeviceStore();
const filter = new Filter();
const stats = { bootAt: performance.now(), frames: 0, applyMs: 0, maxApplyMs: 0, snapshotAt: null, firstRenderMs: null, lastApplyAt: 0 };

const map = L.map("map", { preferCanvas: true, zoomControl: false }).setView(page.center, page.zoom);
L.control.zoom({ position: "topright" }).addTo(map);
const bases = addBaseLayers(map, page, document.getElementById("tile-note"));

const markers = new MarkerLayer(store, filter);
markers.clustering = localStorage.getItem("fleet.cluster") !== "off";
markers.addTo(map);

function setClustering(on) {
  localStorage.setItem("fleet.cluster", on ? "on" : "off");
  document.getElementById("cluster-toggle").checked = on;
  markers.setClustering(on);
}
const overlays = new Overlays(map, store);
for (const layer of Object.values(overlays.groups())) layer.addTo(map);
L.control.layers(bases, overlays.groups(), { position: "topright" }).addTo(map);

const ClusterToggle = L.Control.extend({
  onAdd() {
    const box = L.DomUtil.create("label", "leaflet-bar cluster-toggle");
    const input = L.DomUtil.create("input", "", box);
    input.type = "checkbox";
    input.checked = markers.clustering;
    input.id = "cluster-toggle";
    box.append(" Cluster");
    L.DomEvent.disableClickPropagation(box);
    input.addEventListener("change", () => setClustering(input.checked));
    return box;
  },
});
new ClusterToggle({ position: "topright" }).addTo(map);

const panel = new Panel(store, filter, page.urls, {
  onFilter: () => { markers.invalidate(); schedule(); },
  onSelect: (id, source) => select(id, source),
  onPin: (id, on) => overlays.pin(id, on, selected),
  pinned: overlays.pinned,
});

let selected = null;
let fitted = false;

function select(id, source) {
  selected = id;
  markers.selected = id;
  panel.select(id);
  overlays.showTrail(id, page.urls.track);
  const d = id === null ? null : store.devices.get(id);
  if (d && d.lat !== null && d.lat !== undefined) {
    // No animation: a pan animation started right after a zoom change can stall in Leaflet 1.9.
    if (source === "map") map.panTo([d.lat, d.lon], { animate: false });
    else map.setView([d.lat, d.lon], Math.max(map.getZoom(), FOLLOW_ZOOM), { animate: false });
  }
  if (source === "map" && id !== null) panel.scrollTo(id);
  markers.redraw();
}
markers.on("select", (e) => select(e.id, "map"));

// ---- frames ----
const pending = [];
let scheduled = false;
let snapshotPending = false;
let lastList = 0;

function handle(frame) {
  stats.frames += 1;
  if (stats.frames === 1) stats.firstFrameAt = performance.now();
  switch (frame.type) {
    case "config": store.config(frame); break;
    case "snapshot":
      stats.snapshotAt = performance.now();
      store.snapshot(frame);
      stats.storeSnapshotMs = performance.now() - stats.snapshotAt;
      pending.length = 0;
      snapshotPending = true;
      schedule();
      break;
    case "positions":
    case "states": pending.push(frame); schedule(); break;
    case "events": feed.add(frame.e); break;
    case "heartbeat": store.clock(frame.server_time); break;
    default: break;
  }
}

// A device added on the server after our snapshot: ask for a fresh snapshot, at most every 30 s.
const RESYNC_MIN_MS = 30000;
let lastResync = -Infinity;
function requestResyncIfNeeded() {
  if (!store.unknownSeen || performance.now() - lastResync < RESYNC_MIN_MS) return;
  store.unknownSeen = false;
  lastResync = performance.now();
  socket.send({ type: "resync" });
}

function schedule() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(apply);
}

function apply() {
  scheduled = false;
  const t0 = performance.now();
  const changed = [];
  for (const f of pending) {
    const moved = f.type === "positions" ? store.positions(f.p) : store.states(f.d);
    for (const d of moved) changed.push(d);
  }
  pending.length = 0;
  requestResyncIfNeeded();
  const fresh = snapshotPending;
  const draws = markers.stats.draws;
  if (fresh) onSnapshot(); // fitting the map to a new snapshot already redraws the markers
  const t1 = performance.now();
  if (!fresh) markers.refresh(changed); // only the changed dots, when it can
  else {
    markers.invalidate();
    if (markers.stats.draws === draws) markers.redraw();
  }
  const t2 = performance.now();
  overlays.extendTrails(changed);
  overlays.refreshTaskLines();
  followSelected(changed);
  if (fresh || t0 - lastList > LIST_REFRESH_MS) { panel.refresh(); lastList = t0; }
  else panel.renderCard();
  stats.applyMs = performance.now() - t0;
  stats.parts = { store: t1 - t0, markers: t2 - t1, index: markers.stats.indexMs, rest: performance.now() - t2 };
  stats.maxApplyMs = Math.max(stats.maxApplyMs, stats.applyMs);
  stats.lastApplyAt = performance.now();
  stats.lastChanged = changed.length;
  if (fresh && stats.firstRenderMs === null) stats.firstRenderMs = performance.now() - stats.snapshotAt;
}

function onSnapshot() {
  snapshotPending = false;
  const t0 = performance.now();
  panel.options();
  if (selected !== null && !store.devices.has(selected)) select(null, "snapshot");
  const t1 = performance.now();
  if (!fitted) {
    // The organisation's home view when an admin set one, else where most of the fleet is.
    if (page.home) { map.setView([page.home.lat, page.home.lon], page.home.zoom, { animate: false }); fitted = true; }
    else fitted = fit(densest(located()));
  }
  stats.snapshotParts = { options: t1 - t0, fit: performance.now() - t1, draw: markers.stats.drawMs, index: markers.stats.indexMs };
  overlays.load(page.urls.layers);
}

function located() {
  const out = [];
  for (const d of store.devices.values()) if (d.lat !== null && d.lat !== undefined) out.push([d.lat, d.lon]);
  return out;
}

function fit(bounds) {
  if (!bounds) return false;
  map.fitBounds(L.latLngBounds(bounds).pad(0.1), { maxZoom: 14, animate: false });
  return true;
}

// "Fit all" (every located device) and, for organisation admins, "Set as home view" (this view opens the map).
const ViewButtons = L.Control.extend({
  onAdd() {
    const bar = L.DomUtil.create("div", "leaflet-bar view-buttons");
    const button = (text, title, onClick) => {
      const b = L.DomUtil.create("a", "", bar);
      b.href = "#"; b.role = "button"; b.textContent = text; b.title = title;
      L.DomEvent.on(b, "click", (ev) => { L.DomEvent.preventDefault(ev); onClick(); });
      return b;
    };
    button("⤢", "Fit all vehicles", () => fit(everything(located()))).id = "fit-all";
    if (page.urls.home) button("⌂", "Set this view as the map's home view", saveHome).id = "set-home";
    L.DomEvent.disableClickPropagation(bar);
    return bar;
  },
});
new ViewButtons({ position: "topright" }).addTo(map);

async function saveHome() {
  const c = map.getCenter();
  const token = document.querySelector("input[name=csrfmiddlewaretoken]")?.value || "";
  const response = await fetch(page.urls.home, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": token },
    body: JSON.stringify({ lat: c.lat, lon: c.lng, zoom: map.getZoom() }),
  });
  const b = document.getElementById("set-home");
  b.dataset.saved = response.ok ? "true" : "false";
  b.title = response.ok ? "Saved: the map opens here for your organisation" : "The home view could not be saved";
}

function followSelected(changed) {
  if (selected === null || !panel.following()) return;
  const d = changed.find((x) => x.id === selected);
  if (d && d.lat !== null) map.panTo([d.lat, d.lon], { animate: false });
}

// ---- events ----
const feed = new EventFeed({
  root: document.getElementById("event-feed"),
  toasts: document.getElementById("toasts"),
  urls: page.urls,
  nameOf: (id) => store.devices.get(id)?.name,
  onPick: (id) => select(id, "list"),
});
feed.load();

// ---- socket ----
const conn = document.getElementById("conn");
const socket = new LiveSocket(page.socket, { onFrame: handle, onStatus: (s) => showStatus(conn, s) });
socket.connect();

// A little state for tests and benches (no pixel-peeking).
window.fleetMap = {
  map, store, filter, markers, panel, overlays, socket, stats, feed,
  handle,
  select: (id) => select(id, "list"),
  setClustering,
  saveHome,
  counts: () => ({ devices: store.devices.size, listed: panel.ids.length, drawn: markers.stats.drawn, clusters: markers.stats.clusters, states: { ...panel.counts } }),
  position: (id) => markers.screenPosition(id),
  visibleRows: () => [...document.querySelectorAll("#list .dev:not([hidden])")].map((r) => r.querySelector(".name").textContent),
};
