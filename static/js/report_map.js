// The report page's map: the report's lines (route, trips) or places (stops), and the table's position links.
// Device names and labels are vendor strings: tooltips and popups get DOM nodes holding them as text
// (Leaflet parses a string content as HTML).

import { addBaseLayers } from "./basemap.js";
import { el, readJSON } from "./format.js";

const L = window.L;
const page = readJSON("report-map-data");
const COLORS = ["#1f6feb", "#12a150", "#dc2626", "#9333ea", "#f97316", "#0891b2", "#ca8a04", "#db2777"];

const map = L.map("report-map", { preferCanvas: true }).setView(page.center, page.zoom);
addBaseLayers(map, page, document.getElementById("report-tile-note"));

const lines = L.featureGroup().addTo(map);
page.tracks.forEach((track, i) => {
  if (!track.points.length) return;
  const color = COLORS[i % COLORS.length];
  const line = track.points.length > 1
    ? L.polyline(track.points, { color, weight: 4, opacity: 0.8 })
    : L.circleMarker(track.points[0], { color, radius: 5 });
  line.bindTooltip(el("span", {}, track.name), { sticky: true }).addTo(lines);
});
for (const [lat, lon, label] of page.points) {
  L.circleMarker([lat, lon], { color: "#2563eb", radius: 6, weight: 2, fillOpacity: 0.5 })
    .bindTooltip(el("span", {}, label)).addTo(lines);
}
if (lines.getLayers().length) map.fitBounds(lines.getBounds(), { padding: [24, 24], maxZoom: 16 });

const spot = L.circleMarker([0, 0], { color: "#dc2626", radius: 9, weight: 3, fillOpacity: 0.2 });

// A position in a table: show it on the map (the link's text goes into the popup as text, never HTML).
document.addEventListener("click", (event) => {
  const link = event.target.closest("a.place");
  if (!link) return;
  event.preventDefault();
  const latlng = [Number(link.dataset.lat), Number(link.dataset.lon)];
  spot.setLatLng(latlng).addTo(map).bindPopup(el("span", {}, link.textContent)).openPopup();
  map.setView(latlng, Math.max(map.getZoom(), 15));
  document.getElementById("report-map").scrollIntoView({ behavior: "smooth", block: "center" });
});

window.fleetReportMap = { map, lines };
