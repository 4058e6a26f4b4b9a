// All device markers on ONE canvas: projected once per zoom, redrawn in place, clustered with
// supercluster when zoomed out. Hit-testing is ours (the canvas takes no pointer events).

import { DotPixels } from "./dots.js";
import { STATE_COLORS, STATES } from "./format.js";

const L = window.L;
const Supercluster = window.Supercluster;
const PAD = 0.3; // draw beyond the viewport so a short pan shows markers before moveend
const SIZE = 22; // marker sprite, CSS pixels
const HIT_R = 12;
const CLUSTER_MAX_ZOOM = 14;
const LABEL_ZOOM = 15;
const LABEL_MAX = 400;
const LABEL_FONT = "600 11px system-ui, sans-serif";
const LABEL_H = 15;
const GRID = 64; // cell of the label collision grid, CSS pixels

/** Placement order of labels: the selected device, then moving ones, then the rest. */
function labelRank(d, selected) {
  return d.id === selected ? 0 : d.state === "moving" ? 1 : 2;
}

/** Axis-aligned boxes in a coarse grid: does a new box overlap any placed one (except its owner's own)? */
class BoxGrid {
  constructor() { this.cells = new Map(); }

  *keys(x, y, w, h) {
    for (let i = Math.floor(x / GRID); i <= Math.floor((x + w) / GRID); i++)
      for (let j = Math.floor(y / GRID); j <= Math.floor((y + h) / GRID); j++) yield `${i},${j}`;
  }

  add(x, y, w, h, owner) {
    const box = [x, y, w, h, owner];
    for (const k of this.keys(x, y, w, h)) {
      const list = this.cells.get(k);
      if (list) list.push(box); else this.cells.set(k, [box]);
    }
  }

  hits(x, y, w, h, owner) {
    for (const k of this.keys(x, y, w, h))
      for (const [bx, by, bw, bh, o] of this.cells.get(k) || [])
        if (o !== owner && x < bx + bw && bx < x + w && y < by + bh && by < y + h) return true;
    return false;
  }
}

function mercator(lat, lon, zoom) {
  const scale = 256 * 2 ** zoom;
  const s = Math.sin((Math.max(-85.0511, Math.min(85.0511, lat)) * Math.PI) / 180);
  return [((lon + 180) / 360) * scale, (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * scale];
}

const DENSE = 1500; // more markers than this in view: draw dots
const DOT = 10;
const RING = 1.5; // a dot's white ring
const SELECTED_R = 16; // the selected device's halo (14, stroked 2) and marker (SIZE / 2), CSS pixels
const ANGLE_STEP = 10; // arrows are pre-rendered every 10 degrees: no per-marker transform when drawing

/** Is a marker centred at canvas CSS pixel (x, y) on a w x h canvas, even partly? */
function onCanvas(x, y, w, h) {
  const half = SIZE / 2;
  return x >= -half && y >= -half && x <= w + half && y <= h + half;
}

function sprite(color, angle, dpr) {
  const c = document.createElement("canvas");
  c.width = c.height = Math.ceil(SIZE * dpr);
  const g = c.getContext("2d");
  g.scale(dpr, dpr);
  const m = SIZE / 2;
  g.translate(m, m);
  g.beginPath();
  g.arc(0, 0, 8, 0, 2 * Math.PI);
  g.fillStyle = color;
  g.fill();
  g.lineWidth = 2;
  g.strokeStyle = "#fff";
  g.stroke();
  g.fillStyle = "#fff";
  g.beginPath();
  if (angle === null) g.arc(0, 0, 2.5, 0, 2 * Math.PI);
  else {
    g.rotate((angle * Math.PI) / 180);
    g.moveTo(0, -5.5); g.lineTo(4, 4); g.lineTo(0, 2); g.lineTo(-4, 4);
  }
  g.closePath();
  g.fill();
  return c;
}

export const MarkerLayer = L.Layer.extend({
  initialize(store, filter) {
    this.store = store;
    this.filter = filter;
    this.clustering = true;
    this.selected = null;
    this.hits = { x: [], y: [], id: [] }; // where the last draw put each device (canvas pixels)
    this.clusterHits = []; // [x, y, cluster feature]
    this.stats = { drawn: 0, clusters: 0, total: 0, drawMs: 0, indexMs: 0 };
    this.index = null;
    this.labels = { shown: [], hidden: [] }; // the last draw's label boxes (canvas CSS pixels) and left-out ids
    this.widths = new Map(); // measured label widths by name
    this.indexDirty = true;
    this.dots = new DotPixels((state) => STATE_COLORS[state] || STATE_COLORS.stale, DOT / 2 - 1, RING);
    this.stale = true; // filters changed since the last draw: the next one draws everything
    this.selectedAt = null; // canvas CSS pixel of the selected device's overlay, when drawn
  },

  onAdd(map) {
    const pane = map.getPane("fleetMarkers") || map.createPane("fleetMarkers");
    pane.style.zIndex = 450;
    pane.style.pointerEvents = "none";
    this.canvas = L.DomUtil.create("canvas", "fleet-markers leaflet-zoom-hide", pane);
    this.ctx = this.canvas.getContext("2d");
    this.dpr = window.devicePixelRatio || 1;
    this.sprites = new Map();
    this.tooltip = L.tooltip({ direction: "top", offset: [0, -10], className: "fleet-tip" });
    map.on("moveend", this.redraw, this);
    map.on("zoomend", this.onZoom, this);
    map.on("resize", this.redraw, this);
    map.on("click", this.onClick, this);
    map.on("mousemove", this.onHover, this);
    map.on("mouseout", () => map.closeTooltip(this.tooltip));
    this.redraw();
    setTimeout(() => this.warmUp(), 0);
  },

  onRemove(map) {
    L.DomUtil.remove(this.canvas);
    map.off("moveend", this.redraw, this);
    map.off("zoomend", this.onZoom, this);
    map.off("resize", this.redraw, this);
    map.off("click", this.onClick, this);
    map.off("mousemove", this.onHover, this);
  },

  /** Compile supercluster's hot paths while the snapshot is on its way, not when it has arrived. */
  warmUp() {
    if (!Supercluster || this.store.devices.size) return;
    const points = [];
    for (let i = 0; i < 2000; i++) {
      points.push({ properties: { state: STATES[i % 5] }, geometry: { coordinates: [24 + (i % 50) / 50, 60 + i / 2000] } });
    }
    new Supercluster({ radius: 50, minZoom: 10, maxZoom: 10, minPoints: 3, map: (p) => ({ [p.state]: 1 }),
      reduce: (acc, p) => { for (const s of STATES) if (p[s]) acc[s] = (acc[s] || 0) + p[s]; } }).load(points).getClusters([-180, -85, 180, 85], 10);
  },

  setClustering(on) {
    this.clustering = on;
    this.indexDirty = true;
    this.redraw();
  },

  /** Data or filters changed: rebuild the cluster index and draw everything on the next draw. */
  invalidate() {
    this.indexDirty = true;
    this.stale = true;
  },

  /** A batch changed these devices. When the last draw was dots (thousands in view, unclustered) and nothing else
   * changed since, only their dots are re-stamped and put; otherwise everything is redrawn. */
  refresh(changed) {
    this.indexDirty = true;
    if (!this.canPatch(changed)) { this.redraw(); return; }
    const t0 = performance.now();
    const ox = this.origin.x, oy = this.origin.y;
    for (const d of changed) {
      if (!this.dots.has(d)) continue;
      this.dots.move(d, ox, oy);
      this.hits.x[d._dot.hit] = d._x - ox; this.hits.y[d._dot.hit] = d._y - oy;
    }
    const sel = this.selectedAt && this.store.devices.get(this.selected);
    const dpr = this.dpr, r = SELECTED_R * dpr;
    const box = sel ? [this.selectedAt.x * dpr - r, this.selectedAt.y * dpr - r, this.selectedAt.x * dpr + r, this.selectedAt.y * dpr + r].map(Math.round) : null;
    const put = this.dots.flush(this.ctx, box);
    if (put && box && put[0] < box[2] && put[2] > box[0] && put[1] < box[3] && put[3] > box[1]) {
      this.drawSelected(this.ctx, sel, this.selectedAt.x, this.selectedAt.y);
    }
    this.stats.drawMs = performance.now() - t0;
    this.stats.patches = (this.stats.patches || 0) + 1;
  },

  /** Can a batch's devices be re-stamped in place? Dots drawn, the same view, none of them selected, and each
   * still drawn exactly when it was (located, matching the filters, on the canvas). */
  canPatch(changed) {
    if (this.stale || !this.stats.dense || !this.origin || this.clusterActive() || changed.length > this.stats.drawn / 4) return false;
    const view = this.view();
    if (view.key !== this.viewKey) return false;
    const zoom = this._map.getZoom();
    const ox = this.origin.x, oy = this.origin.y;
    for (const d of changed) {
      if (d.id === this.selected) return false;
      let shown = this.shows(d);
      if (shown) {
        this.project(d, zoom);
        shown = onCanvas(d._x - ox, d._y - oy, view.w, view.h);
      }
      if (shown !== this.dots.has(d)) return false;
    }
    return true;
  },

  /** Is the device on the map at all: located and matching the filters? */
  shows(d) {
    return d.lat !== null && d.lat !== undefined && this.filter.matches(d);
  },

  onZoom() {
    this.indexDirty = true; // moveend follows every zoomend and redraws
  },

  spriteFor(state, course) {
    const bucket = course === null ? -1 : Math.round((((course % 360) + 360) % 360) / ANGLE_STEP) % (360 / ANGLE_STEP);
    const key = `${state}|${bucket}`;
    let img = this.sprites.get(key);
    if (!img) {
      img = sprite(STATE_COLORS[state] || STATE_COLORS.stale, bucket < 0 ? null : bucket * ANGLE_STEP, this.dpr);
      this.sprites.set(key, img);
    }
    return img;
  },

  clusterActive() {
    return this.clustering && Supercluster && this._map.getZoom() <= CLUSTER_MAX_ZOOM;
  },

  project(d, zoom) {
    if (d.moved || d._z !== zoom) {
      const p = mercator(d.lat, d.lon, zoom);
      d._x = p[0]; d._y = p[1]; d._z = zoom; d.moved = false;
    }
  },

  /** Clusters for the current zoom only: rebuilt per tick, so one level is all a draw needs. */
  buildIndex() {
    const t0 = performance.now();
    const zoom = Math.round(this._map.getZoom());
    const points = [];
    for (const d of this.store.devices.values()) {
      if (!this.shows(d)) continue;
      // one feature per device, kept and updated in place: a rebuild per batch allocates no 50,000 objects
      let f = d._feature;
      if (!f) f = d._feature = { properties: { id: d.id, state: d.state }, geometry: { coordinates: [d.lon, d.lat] } };
      else { f.properties.state = d.state; f.geometry.coordinates[0] = d.lon; f.geometry.coordinates[1] = d.lat; }
      points.push(f);
    }
    this.index = new Supercluster({
      radius: 60, minZoom: zoom, maxZoom: zoom, minPoints: 3,
      map: (p) => ({ [p.state]: 1 }),
      reduce: (acc, p) => { for (const s of STATES) if (p[s]) acc[s] = (acc[s] || 0) + p[s]; },
    }).load(points);
    this.indexZoom = zoom;
    this.indexDirty = false;
    this.stats.indexMs = performance.now() - t0;
  },

  /** The canvas for the map's current view: its size (CSS pixels, padded), top-left layer point, world origin. */
  view() {
    const map = this._map;
    const size = map.getSize();
    const pad = size.multiplyBy(PAD).round();
    const topLeft = map.containerPointToLayerPoint([0, 0]).subtract(pad);
    const origin = map.getPixelOrigin().add(topLeft);
    const w = size.x + 2 * pad.x, h = size.y + 2 * pad.y;
    return { w, h, pad, topLeft, origin, key: `${map.getZoom()}|${origin.x}|${origin.y}|${w}|${h}|${this.dpr}` };
  },

  redraw() {
    const map = this._map;
    if (!map) return;
    const t0 = performance.now();
    const { w, h, pad, topLeft, origin, key } = this.view();
    const dpr = this.dpr;
    if (this.canvas.width !== w * dpr || this.canvas.height !== h * dpr) {
      this.canvas.width = w * dpr; this.canvas.height = h * dpr;
      this.canvas.style.width = `${w}px`; this.canvas.style.height = `${h}px`;
    }
    L.DomUtil.setPosition(this.canvas, topLeft);
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.origin = origin; // world pixel of the canvas' top-left corner
    this.viewKey = key;
    this.stale = false;
    this.dots.reset();
    this.selectedAt = null;
    this.stats.dense = false;
    this.hits = { x: [], y: [], id: [] };
    this.clusterHits = [];
    this.labels = { shown: [], hidden: [] };
    this.stats.drawn = 0; this.stats.clusters = 0;
    if (this.clusterActive()) this.drawClusters(ctx, w, h, pad);
    else this.drawMarkers(ctx, w, h);
    this.stats.drawMs = performance.now() - t0;
    this.stats.draws = (this.stats.draws || 0) + 1;
  },

  drawMarkers(ctx, w, h) {
    const zoom = this._map.getZoom();
    const ox = this.origin.x, oy = this.origin.y;
    const visible = [];
    let selected = null;
    for (const d of this.store.devices.values()) {
      if (!this.shows(d)) continue;
      this.project(d, zoom);
      if (!onCanvas(d._x - ox, d._y - oy, w, h)) continue;
      if (d.id === this.selected) selected = d;
      else visible.push(d);
    }
    // Thousands of markers on screen overlap anyway: draw small dots, cheaper and easier to read.
    const dense = visible.length > DENSE;
    if (dense) this.drawDots(ctx, visible, ox, oy);
    else for (const d of visible) this.drawOne(ctx, d, d._x - ox, d._y - oy);
    if (selected) {
      const x = selected._x - ox, y = selected._y - oy;
      this.drawSelected(ctx, selected, x, y);
      this.hits.x.push(x); this.hits.y.push(y); this.hits.id.push(selected.id);
      this.selectedAt = { x, y };
      visible.push(selected);
    }
    this.stats.drawn = visible.length;
    this.stats.dense = dense;
    if (zoom >= LABEL_ZOOM && visible.length <= LABEL_MAX) this.drawLabels(ctx, visible, ox, oy);
  },

  /** Many markers: dots (a white ring around the state's colour) stamped as pixels (dots.js). */
  drawDots(ctx, devices, ox, oy) {
    const hit = this.hits.x.length;
    for (const d of devices) { this.hits.x.push(d._x - ox); this.hits.y.push(d._y - oy); this.hits.id.push(d.id); }
    this.dots.draw(ctx, devices, ox, oy, this.dpr, this.canvas.width, this.canvas.height, hit);
  },

  /** The selected device: a halo and its marker over everything (canvas CSS pixel x, y; identity transform). */
  drawSelected(ctx, d, x, y) {
    const dpr = this.dpr;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.beginPath(); ctx.arc(x, y, 14, 0, 2 * Math.PI);
    ctx.fillStyle = "rgba(31,111,235,.18)"; ctx.fill();
    ctx.lineWidth = 2; ctx.strokeStyle = "#1f6feb"; ctx.stroke();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    const img = this.spriteFor(d.state, this.arrowOf(d));
    ctx.drawImage(img, Math.round(x * dpr - img.width / 2), Math.round(y * dpr - img.height / 2));
  },

  arrowOf(d) {
    return d.course !== null && d.course !== undefined && d.state === "moving" ? d.course : null;
  },

  /** Draw one device at canvas CSS pixel (x, y); the context has the identity transform. */
  drawOne(ctx, d, x, y) {
    const img = this.spriteFor(d.state, this.arrowOf(d));
    ctx.drawImage(img, Math.round(x * this.dpr - img.width / 2), Math.round(y * this.dpr - img.height / 2));
    this.hits.x.push(x); this.hits.y.push(y); this.hits.id.push(d.id);
  },

  /** Names under the markers, placed greedily so none overlaps another label or marker: the selected device
   * first, then moving ones, then by name; each tries below, above, right, left of its marker and is left out
   * when all four collide (its name still shows on hover). ``this.labels`` keeps the boxes drawn (tests). */
  drawLabels(ctx, devices, ox, oy) {
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.font = LABEL_FONT;
    ctx.lineWidth = 3;
    ctx.strokeStyle = "rgba(255,255,255,.9)";
    ctx.fillStyle = "#1d2330";
    ctx.textBaseline = "middle";
    const half = SIZE / 2 - 2;
    const taken = new BoxGrid();
    for (const d of devices) taken.add(d._x - ox - half, d._y - oy - half, 2 * half, 2 * half, d.id);
    const order = devices.slice().sort((a, b) => labelRank(a, this.selected) - labelRank(b, this.selected)
      || (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id - b.id));
    const shown = [], hidden = [];
    for (const d of order) {
      const x = d._x - ox, y = d._y - oy;
      const w = this.labelWidth(ctx, d.name) + 4, h = LABEL_H;
      const spots = [[x - w / 2, y + half + 2], [x - w / 2, y - half - 2 - h], [x + half + 2, y - h / 2], [x - half - 2 - w, y - h / 2]];
      const spot = spots.find(([bx, by]) => !taken.hits(bx, by, w, h, d.id));
      if (!spot) { hidden.push(d.id); continue; }
      const [bx, by] = spot;
      taken.add(bx, by, w, h, null);
      shown.push({ id: d.id, x: bx, y: by, w, h });
      ctx.textAlign = "left";
      ctx.strokeText(d.name, bx + 2, by + h / 2);
      ctx.fillText(d.name, bx + 2, by + h / 2);
    }
    ctx.textBaseline = "alphabetic";
    this.labels = { shown, hidden };
  },

  labelWidth(ctx, name) {
    let w = this.widths.get(name);
    if (w === undefined) {
      w = ctx.measureText(name).width;
      if (this.widths.size > 5000) this.widths.clear();
      this.widths.set(name, w);
    }
    return w;
  },

  drawClusters(ctx, w, h, pad) {
    if (this.indexDirty || !this.index || this.indexZoom !== Math.round(this._map.getZoom())) this.buildIndex();
    const map = this._map;
    const zoom = map.getZoom();
    const b = map.getBounds().pad(PAD);
    const features = this.index.getClusters([b.getWest(), b.getSouth(), b.getEast(), b.getNorth()], this.indexZoom);
    const dpr = this.dpr;
    for (const f of features) {
      const [lon, lat] = f.geometry.coordinates;
      const [px, py] = mercator(lat, lon, zoom);
      const x = px - this.origin.x, y = py - this.origin.y;
      if (!f.properties.cluster) {
        const d = this.store.devices.get(f.properties.id);
        if (d) {
          this.project(d, zoom);
          ctx.setTransform(1, 0, 0, 1, 0, 0);
          this.drawOne(ctx, d, d._x - this.origin.x, d._y - this.origin.y);
          this.stats.drawn += 1;
        }
        continue;
      }
      this.drawCluster(ctx, f.properties, x, y, dpr);
      this.clusterHits.push([x, y, f]);
      this.stats.clusters += 1;
      this.stats.drawn += f.properties.point_count;
    }
  },

  drawCluster(ctx, p, x, y, dpr) {
    const n = p.point_count;
    const r = n < 10 ? 15 : n < 100 ? 18 : n < 1000 ? 22 : 26;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    let a = -Math.PI / 2;
    for (const s of STATES) {
      if (!p[s]) continue;
      const sweep = (p[s] / n) * 2 * Math.PI;
      ctx.beginPath(); ctx.moveTo(x, y); ctx.arc(x, y, r, a, a + sweep); ctx.closePath();
      ctx.fillStyle = STATE_COLORS[s]; ctx.fill();
      a += sweep;
    }
    ctx.beginPath(); ctx.arc(x, y, r - 5, 0, 2 * Math.PI);
    ctx.fillStyle = "#fff"; ctx.fill();
    ctx.fillStyle = "#1d2330"; ctx.font = "700 12px system-ui, sans-serif";
    ctx.textAlign = "center"; ctx.textBaseline = "middle";
    ctx.fillText(n >= 1000 ? `${(n / 1000).toFixed(1)}k` : String(n), x, y + 0.5);
    ctx.textBaseline = "alphabetic";
  },

  /** The device id or cluster feature under a layer point, or null. */
  hit(layerPoint) {
    if (!this.origin) return null;
    const topLeft = this.origin.subtract(this._map.getPixelOrigin());
    const x = layerPoint.x - topLeft.x, y = layerPoint.y - topLeft.y;
    for (const [cx, cy, f] of this.clusterHits) if ((cx - x) ** 2 + (cy - y) ** 2 <= 24 * 24) return f;
    const { x: xs, y: ys, id: ids } = this.hits;
    let best = null, bestD = HIT_R * HIT_R;
    for (let i = xs.length - 1; i >= 0; i--) {
      const dd = (xs[i] - x) ** 2 + (ys[i] - y) ** 2;
      if (dd <= bestD) { best = ids[i]; bestD = dd; }
    }
    return best;
  },

  onClick(e) {
    const hit = this.hit(e.layerPoint);
    if (hit === null) return;
    if (typeof hit === "object") this.zoomInto(hit);
    else this.fire("select", { id: hit });
  },

  zoomInto(cluster) {
    const leaves = this.index.getLeaves(cluster.properties.cluster_id, Infinity);
    const bounds = L.latLngBounds(leaves.map((f) => [f.geometry.coordinates[1], f.geometry.coordinates[0]]));
    const map = this._map;
    if (bounds.getNorthEast().equals(bounds.getSouthWest())) map.setView(bounds.getCenter(), map.getZoom() + 2);
    else map.fitBounds(bounds.pad(0.2), { maxZoom: CLUSTER_MAX_ZOOM + 1 });
  },

  onHover(e) {
    const hit = this.hit(e.layerPoint);
    const container = this._map.getContainer();
    if (hit === null) { container.style.cursor = ""; this._map.closeTooltip(this.tooltip); return; }
    container.style.cursor = "pointer";
    if (typeof hit === "object") { this._map.closeTooltip(this.tooltip); return; }
    const d = this.store.devices.get(hit);
    if (!d) return;
    const node = document.createElement("div");
    const name = document.createElement("strong");
    name.textContent = d.name;
    const sub = document.createElement("div");
    sub.textContent = d.vendor_label || d.vendor || "";
    node.append(name, sub);
    this.tooltip.setContent(node).setLatLng([d.lat, d.lon]);
    this._map.openTooltip(this.tooltip);
  },

  /** Screen position of a drawn device (tests and benches read this, not pixels). */
  screenPosition(id) {
    const d = this.store.devices.get(id);
    if (!d || d.lat === null || d.lat === undefined) return null;
    const p = this._map.latLngToContainerPoint([d.lat, d.lon]);
    return { x: p.x, y: p.y, lat: d.lat, lon: d.lon, drawn: this.hits.id.includes(id) };
  },
});
