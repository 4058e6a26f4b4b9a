// Every map's base layers: the configured tile servers and the offline street map (a PMTiles archive drawn by
// protomaps-leaflet, loaded only when needed, or a self-hosted tile URL). When the tile server does not answer
// (two tiles failed, or none loaded within a few seconds) the offline map takes its place and the note says so;
// it stays until the user picks the tile server again in the layers control.

const L = window.L;
const STALL_MS = 5000;
const OFFLINE_NOTE = "Map tiles unavailable: showing the offline street map.";

let protomaps = null; // the vendored script, loaded once per page

function loadProtomaps(src) {
  protomaps ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = () => resolve(window.protomapsL);
    script.onerror = () => reject(new Error(`cannot load ${src}`));
    document.head.append(script);
  });
  return protomaps;
}

/** The offline map as one layer: a tile layer for a tile URL, else a group that draws the archive once added. */
function offlineLayer(offline) {
  if (offline.url) return L.tileLayer(offline.url, { attribution: offline.attribution, maxZoom: offline.maxZoom });
  const group = L.layerGroup([], { attribution: offline.attribution });
  group.once("add", () => loadProtomaps(offline.script).then((protomapsL) => {
    group.addLayer(protomapsL.leafletLayer({
      url: offline.pmtiles, flavor: "light", lang: "en", attribution: offline.attribution,
      maxDataZoom: offline.maxDataZoom, maxZoom: 19,
    }));
  }, () => group.fire("unavailable")));
  return group;
}

/** Count the primary layer's failures while it is on the map; `fail()` once it is down. */
function watchTiles(layer, fail) {
  let failed = 0;
  let timer = null;
  const stop = () => { clearTimeout(timer); timer = null; };
  layer.on("add", () => {
    failed = 0;
    stop();
    timer = setTimeout(() => { if (layer.isLoading && layer.isLoading()) fail(); }, STALL_MS);
  });
  layer.on("remove", stop);
  layer.on("tileerror", () => {
    failed += 1;
    if (failed >= 2) { stop(); fail(); }
  });
  layer.on("tileload", () => { failed = 0; stop(); });
}

/**
 * Add the page's first base layer to `map`, falling back to the offline street map as above; `note` (or null)
 * is shown while tiles are unavailable. Returns {name: layer} for a layers control (offline map included).
 */
export function addBaseLayers(map, page, note = null) {
  const layers = {};
  for (const { name, url, ...options } of page.tiles) layers[name] = L.tileLayer(url, options);
  const primary = Object.values(layers)[0];
  const offline = page.offline ? offlineLayer(page.offline) : null;
  if (offline) layers[page.offline.name] = offline;
  const first = primary || offline;
  if (!first) return layers;
  const text = note ? note.textContent : "";
  offline?.on("unavailable", () => { if (note) note.textContent = text; });
  if (primary) {
    watchTiles(primary, () => {
      if (note) { note.textContent = offline ? OFFLINE_NOTE : text; note.hidden = false; }
      if (offline && map.hasLayer(primary)) { map.removeLayer(primary); map.addLayer(offline); }
    });
    primary.on("tileload", () => { if (note) { note.hidden = true; note.textContent = text; } });
  }
  first.addTo(map);
  return layers;
}
