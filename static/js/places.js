// The Geofences and POIs pages: every shape on the map in its colour (the list page), or one shape drawn and
// edited with Leaflet-Geoman (the edit page), kept in step with the form's shape, radius, width and colour
// fields. Names reach the map as text (tooltips get DOM nodes).

import { addBaseLayers } from "./basemap.js";
import { el, readJSON } from "./format.js";
import { CorridorWidths, shapeLayer } from "./shapes.js";

const L = window.L;
const page = readJSON("places-page");
const form = document.getElementById("place-form");
const field = (name) => (form ? form.querySelector(`[name=${name}]`) : null);

const map = L.map("places-map").setView(page.center, page.zoom);
addBaseLayers(map, page, document.getElementById("tile-note"));
const corridors = new CorridorWidths(map);
const shapes = L.featureGroup().addTo(map);

for (const swatch of document.querySelectorAll(".swatch[data-colour]")) swatch.style.backgroundColor = swatch.dataset.colour;

function addShape(feature) {
  const layer = shapeLayer(feature, feature.properties.colour);
  if (layer === null) return null;
  layer.addTo(shapes);
  corridors.add(layer);
  return layer;
}

function fit() {
  if (shapes.getLayers().length) map.fitBounds(shapes.getBounds(), { padding: [24, 24], maxZoom: 16 });
}

// ---- the list page (the shape just saved in view, else all of them)
let selected = null;
if (!form) {
  for (const feature of page.features) {
    const layer = addShape(feature);
    if (layer === null) continue;
    layer.bindTooltip(el("span", {}, feature.properties.name), { sticky: true });
    layer.on("click", () => { window.location.href = feature.properties.url; });
    if (feature.properties.id === page.selected) selected = layer;
  }
  if (selected) map.fitBounds(selected.getBounds(), { padding: [24, 24], maxZoom: 16 });
  else fit();
}

// ---- the edit page
let current = form && page.features.length ? addShape(page.features[0]) : null;
if (form) fit();

function numberOf(input, fallback) {
  const value = input ? Number.parseFloat(input.value) : Number.NaN;
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

/** The drawn layer into the form: a circle as its centre and radius, the rest as GeoJSON. */
function writeShape(layer) {
  let geometry;
  if (layer instanceof L.Circle) {
    const c = layer.getLatLng();
    geometry = { type: "Point", coordinates: [c.lng, c.lat] };
    if (field("radius_m")) field("radius_m").value = Math.round(layer.getRadius() * 10) / 10;
  } else {
    geometry = layer.toGeoJSON().geometry;
  }
  if (geometry.type === "LineString") {
    layer.corridorWidth = numberOf(field("width_m"), 50);
    if (field("width_m") && !field("width_m").value) field("width_m").value = layer.corridorWidth;
    corridors.add(layer);
  }
  field("shape").value = JSON.stringify(geometry);
  layer.setStyle({ color: field("colour") ? field("colour").value : undefined });
}

function follow(layer) {
  layer.on("pm:edit pm:dragend", () => writeShape(layer));
}

if (form && page.editable && L.PM) {
  map.pm.setGlobalOptions({ allowSelfIntersection: false, continueDrawing: false });
  map.pm.addControls({
    position: "topleft",
    drawMarker: false,
    drawCircleMarker: false,
    drawText: false,
    drawPolygon: page.draw.includes("Polygon"),
    drawRectangle: page.draw.includes("Rectangle"),
    drawPolyline: page.draw.includes("Line"),
    drawCircle: page.draw.includes("Circle"),
    cutPolygon: false,
    rotateMode: false,
  });
  if (current) follow(current);
  map.on("pm:create", ({ layer }) => {
    if (current && current !== layer) { shapes.removeLayer(current); corridors.lines.delete(current); }
    current = layer;
    shapes.addLayer(layer);
    follow(layer);
    writeShape(layer);
  });
  map.on("pm:remove", ({ layer }) => {
    if (layer !== current) return;
    current = null;
    field("shape").value = "";
  });
  field("colour")?.addEventListener("input", () => current && current.setStyle({ color: field("colour").value }));
  field("radius_m")?.addEventListener("input", () => {
    if (current instanceof L.Circle) current.setRadius(numberOf(field("radius_m"), current.getRadius()));
  });
  field("width_m")?.addEventListener("input", () => {
    if (current && current.corridorWidth !== undefined) { current.corridorWidth = numberOf(field("width_m"), current.corridorWidth); corridors.resize(current); }
  });
}

window.fleetPlaces = { map, shapes, current: () => current, ready: true };
