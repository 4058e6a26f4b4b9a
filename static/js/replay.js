// The replay page: a device's route for a range, coloured by speed, with stops, a player and a linked table.

import { addBaseLayers } from "./basemap.js";
import { course, duration, el, readJSON, speed, time, urlFor } from "./format.js";

const L = window.L;
const page = readJSON("replay-page");
const tz = page.org.timezone;
const unit = page.org.speed_unit;
const BANDS = [[10, "#3b82f6"], [30, "#12a150"], [60, "#eab308"], [90, "#f97316"], [Infinity, "#dc2626"]]; // km/h

const map = L.map("map", { preferCanvas: true }).setView(page.center, page.zoom);
const bases = addBaseLayers(map, page, document.getElementById("tile-note"));
const routeLayer = L.layerGroup().addTo(map);
const stopLayer = L.layerGroup().addTo(map);
L.control.layers(bases, { Route: routeLayer, Stops: stopLayer }).addTo(map);

const arrow = el("i");
const marker = L.marker(page.center, {
  icon: L.divIcon({ className: "replay-marker", html: el("div", { class: "replay-arrow" }, arrow), iconSize: [26, 26] }),
  zIndexOffset: 1000,
  keyboard: false,
});

const $ = (id) => document.getElementById(id);
const slider = $("r-slider"), play = $("r-play"), clock = $("r-clock"), rowsBody = $("r-rows");
const state = { positions: [], stops: [], t0: 0, t1: 0, t: 0, playing: false, index: -1, preset: "hour", last: 0 };

function band(kmh) {
  return BANDS.find(([max]) => kmh < max)[1];
}

function legend() {
  const label = (kmh) => speed(kmh, unit).split(" ")[0];
  const unitLabel = speed(0, unit).split(" ")[1];
  let lower = 0;
  const items = BANDS.map(([max, color]) => {
    const text = max === Infinity ? `${label(lower)}+` : `${label(lower)}–${label(max)}`;
    lower = max;
    return el("span", {}, el("i", { style: `background:${color}` }), " ", text);
  });
  $("r-legend").replaceChildren(...items, el("span", {}, unitLabel));
}

async function load(params) {
  pause();
  $("r-summary").textContent = "Loading…";
  $("r-summary").classList.remove("error");
  let response, data;
  try {
    response = await fetch(`${urlFor(page.track, page.device)}?${new URLSearchParams(params)}`, { credentials: "same-origin" });
  } catch {
    refuse("Could not load the route: no connection to the server.");
    return;
  }
  try { data = await response.json(); } catch { data = {}; }
  if (!response.ok) { refuse(data.error || "Could not load the route: the server met an error. Try again in a moment."); return; }
  state.positions = data.positions;
  state.stops = data.stops;
  draw();
}

/** No route for the range asked: the map and table cleared of the previous one, and the reason said. */
function refuse(message) {
  state.positions = [];
  state.stops = [];
  draw();
  $("r-summary").textContent = message;
  $("r-summary").classList.add("error");
}

function draw() {
  routeLayer.clearLayers();
  stopLayer.clearLayers();
  const valid = state.positions.filter((p) => p[5]);
  const n = state.positions.length;
  $("r-summary").textContent = n ? `${n} positions · ${state.stops.length} stop${state.stops.length === 1 ? "" : "s"}` : "No positions in this range.";
  renderTable();
  if (!valid.length) {
    slider.disabled = true; play.disabled = true; clock.textContent = "–"; marker.remove(); return;
  }
  let seg = [[valid[0][1], valid[0][2]]], color = band(valid[0][3]);
  for (let i = 1; i < valid.length; i++) {
    const c = band(valid[i][3]);
    seg.push([valid[i][1], valid[i][2]]);
    if (c !== color || i === valid.length - 1) {
      routeLayer.addLayer(L.polyline(seg, { color, weight: 4, opacity: 0.9 }));
      seg = [[valid[i][1], valid[i][2]]];
      color = c;
    }
  }
  L.circleMarker([valid[0][1], valid[0][2]], { radius: 6, color: "#fff", weight: 2, fillColor: "#12a150", fillOpacity: 1 })
    .bindTooltip(el("span", {}, `Start ${time(valid[0][0], tz)}`)).addTo(routeLayer);
  const end = valid[valid.length - 1];
  L.circleMarker([end[1], end[2]], { radius: 6, color: "#fff", weight: 2, fillColor: "#1d2330", fillOpacity: 1 })
    .bindTooltip(el("span", {}, `End ${time(end[0], tz)}`)).addTo(routeLayer);
  for (const s of state.stops) {
    L.circleMarker([s.lat, s.lon], { radius: 8, color: "#fff", weight: 2, fillColor: "#d92d20", fillOpacity: 1 })
      .bindTooltip(el("div", {}, el("strong", {}, `Stop ${duration(s.duration_s)}`), el("div", {}, `${time(s.start, tz)} – ${time(s.end, tz, false)}`)))
      .on("click", () => seek(s.start))
      .addTo(stopLayer);
  }
  map.fitBounds(L.latLngBounds(valid.map((p) => [p[1], p[2]])).pad(0.15));
  state.t0 = state.positions[0][0];
  state.t1 = state.positions[n - 1][0];
  slider.max = String(Math.max(1, Math.round(state.t1 - state.t0)));
  slider.disabled = false; play.disabled = false;
  marker.addTo(map);
  state.index = -1;
  seek(state.t0);
}

function renderTable() {
  const inStop = new Set();
  for (const s of state.stops) for (let i = s.first; i <= s.last; i++) inStop.add(i);
  const frag = document.createDocumentFragment();
  state.positions.forEach((p, i) => {
    const tr = el("tr", { "data-i": i, class: inStop.has(i) ? "stop" : null },
      el("td", {}, time(p[0], tz)), el("td", {}, speed(p[3], unit)), el("td", {}, course(p[4])),
      el("td", {}, p[1].toFixed(5)), el("td", {}, p[2].toFixed(5)),
      el("td", {}, p[6] === null ? "–" : p[6] ? "on" : "off"), el("td", {}, p[5] ? "yes" : "no"));
    frag.append(tr);
  });
  rowsBody.replaceChildren(frag);
}

/** The index of the last position at or before t (binary search). */
function indexAt(t) {
  const ps = state.positions;
  let lo = 0, hi = ps.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ps[mid][0] <= t) lo = mid; else hi = mid - 1;
  }
  return lo;
}

function seek(t) {
  const ps = state.positions;
  if (!ps.length) return;
  state.t = Math.max(state.t0, Math.min(state.t1, t));
  const i = indexAt(state.t);
  const a = ps[i], b = ps[Math.min(i + 1, ps.length - 1)];
  const f = b[0] > a[0] ? (state.t - a[0]) / (b[0] - a[0]) : 0;
  const lat = a[1] + (b[1] - a[1]) * f, lon = a[2] + (b[2] - a[2]) * f;
  marker.setLatLng([lat, lon]);
  arrow.style.transform = `rotate(${a[4] || 0}deg)`;
  slider.value = String(Math.round(state.t - state.t0));
  clock.textContent = `${time(state.t, tz)} · ${speed(a[3], unit)}`;
  highlight(i);
}

function highlight(i) {
  if (i === state.index) return;
  const old = rowsBody.querySelector("tr.current");
  if (old) old.classList.remove("current");
  const row = rowsBody.children[i];
  state.index = i;
  if (!row) return;
  row.classList.add("current");
  const box = rowsBody.closest(".replay-table");
  const top = row.offsetTop, bottom = top + row.offsetHeight;
  if (top < box.scrollTop + 30 || bottom > box.scrollTop + box.clientHeight) box.scrollTop = top - box.clientHeight / 2;
}

function frame(now) {
  if (!state.playing) return;
  const dt = (now - state.last) / 1000;
  state.last = now;
  seek(state.t + dt * Number($("r-speed").value));
  if (state.t >= state.t1) { pause(); return; }
  requestAnimationFrame(frame);
}

function start() {
  if (state.t >= state.t1) seek(state.t0);
  state.playing = true;
  state.last = performance.now();
  play.textContent = "Pause";
  requestAnimationFrame(frame);
}

function pause() {
  state.playing = false;
  play.textContent = "Play";
}

play.addEventListener("click", () => (state.playing ? pause() : start()));
slider.addEventListener("input", () => seek(state.t0 + Number(slider.value)));
rowsBody.addEventListener("click", (e) => {
  const tr = e.target.closest("tr");
  if (tr) seek(state.positions[Number(tr.dataset.i)][0]);
});
$("r-device").addEventListener("change", (e) => {
  location.href = `${urlFor(page.replay, e.target.value)}${location.search}`;
});

function choose(preset) {
  state.preset = preset;
  for (const b of document.querySelectorAll("[data-preset]")) b.setAttribute("aria-pressed", String(b.dataset.preset === preset));
  $("r-custom").hidden = preset !== "custom";
  history.replaceState(null, "", `?preset=${preset}`);
  if (preset !== "custom") load({ preset });
}

for (const b of document.querySelectorAll("[data-preset]")) b.addEventListener("click", () => choose(b.dataset.preset));
$("replay-form").addEventListener("submit", (e) => {
  e.preventDefault();
  if (!$("r-from").value || !$("r-to").value) { pause(); refuse("Choose a start and an end time."); return; }
  load({ from: $("r-from").value, to: $("r-to").value });
});

// A link may carry its own range (a trip from the trips report: ?from=ISO&to=ISO): open it as custom.
function localInput(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

legend();
const query = new URLSearchParams(location.search);
if (query.get("from") && query.get("to")) {
  state.preset = "custom";
  for (const b of document.querySelectorAll("[data-preset]")) b.setAttribute("aria-pressed", String(b.dataset.preset === "custom"));
  $("r-custom").hidden = false;
  $("r-from").value = localInput(query.get("from"));
  $("r-to").value = localInput(query.get("to"));
  load({ from: query.get("from"), to: query.get("to") });
} else {
  const initial = query.get("preset") || "hour";
  choose(["hour", "today", "yesterday", "custom"].includes(initial) ? initial : "hour");
}

window.fleetReplay = {
  state, seek, start, pause, map,
  marker: () => { const p = marker.getLatLng(); return { lat: p.lat, lon: p.lng }; },
  currentRow: () => state.index,
  drawn: () => routeLayer.getLayers().length + stopLayer.getLayers().length + (map.hasLayer(marker) ? 1 : 0),
};
