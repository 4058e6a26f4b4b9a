// A shared live location: one vehicle on a minimal public map, its latest fix asked every 10 s until the link
// expires or is revoked (410: the marker goes, the page says so). Everything shown is set as text.

import { addBaseLayers } from "./basemap.js";
import { readJSON, speed, time } from "./format.js";

const L = window.L;
const page = readJSON("share-page");
const status = document.getElementById("share-status");
const map = L.map("map").setView(page.center, page.zoom);
addBaseLayers(map, page);
let marker = null;
let timer = null;
const EVERY_MS = 10_000;

function say(text) {
  status.textContent = text;
}

function show(fix) {
  if (!fix) { say("No position yet."); return; }
  const at = [fix.lat, fix.lon];
  if (!marker) {
    marker = L.circleMarker(at, { radius: 9, color: "#1d4ed8", fillColor: "#3b82f6", fillOpacity: 0.9, className: "share-vehicle" });
    marker.addTo(map);
    map.setView(at, 15);
  } else {
    marker.setLatLng(at);
    if (!map.getBounds().contains(at)) map.panTo(at);
  }
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  say(`Last seen ${time(Date.parse(fix.time) / 1000, tz)}, ${speed(fix.speed_kmh)}`);
}

function gone() {
  clearInterval(timer);
  if (marker) { marker.remove(); marker = null; }
  document.body.dataset.gone = "true";
  say("This link has expired: the position is no longer shared.");
}

async function poll() {
  try {
    const response = await fetch(page.position, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (response.status === 410 || response.status === 404) { gone(); return; }
    if (!response.ok) { say("The position could not be read just now; trying again."); return; }
    const body = await response.json();
    show(body.fix);
  } catch {
    say("No connection; trying again.");
  }
}

poll();
timer = setInterval(poll, EVERY_MS);
window.fleetShare = { map, poll, markers: () => (marker ? 1 : 0) };
