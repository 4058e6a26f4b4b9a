// Every device the user may see, updated in place from socket frames. States come from the server.

import { STATES } from "./format.js";

const COLLATOR = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

function searchKey(d) {
  return [d.name, d.plate, d.unique_id].filter(Boolean).join(" ").toLowerCase();
}

const SPARSE = ["plate", "driver", "attrs", "task", "battery_health"];

/**
 * Append a snapshot frame's devices (docs/live-protocol.md: columns, coded strings, sparse fields) to `out` as
 * the device objects the page keeps, all of one shape; `strings` is the snapshot's string table, which the
 * frame extends.
 */
export function decodeDevices(frame, strings, out) {
  for (const s of frame.strings) strings.push(s);
  const c = frame.cols;
  const k = frame.codes;
  const base = out.length;
  for (let i = 0; i < c.id.length; i++) {
    out.push({
      id: c.id[i], org: c.org[i], name: c.name[i], unique_id: c.unique_id[i], plate: "",
      category: strings[k.category[i]], vendor: strings[k.vendor[i]], vendor_label: strings[k.vendor_label[i]],
      account: strings[k.account[i]], group: c.group[i], group_name: strings[k.group_name[i]], driver: null,
      fix: c.fix[i], lat: c.lat[i], lon: c.lon[i], speed: c.speed[i], course: c.course[i], valid: c.valid[i],
      ignition: c.ignition[i], state: strings[k.state[i]], status: strings[k.status[i]],
      attrs: {}, task: null, battery_health: null, search: "", moved: false,
    });
  }
  for (const name of SPARSE) {
    for (const [i, value] of frame.sparse[name] || []) out[base + i][name] = value;
  }
}

export class DeviceStore {
  constructor() {
    this.devices = new Map();
    this.orgs = new Map();
    this.byName = []; // ids sorted by name, rebuilt on snapshot
    this.serverOffset = 0; // server_time - local clock, seconds
    this.unknownSeen = false; // a position for a device the snapshot did not have (added since): resync
  }

  config(frame) {
    this.orgs = new Map(frame.orgs.map((o) => [o.id, o]));
    this.clock(frame.server_time);
  }

  clock(serverTime) {
    if (serverTime) this.serverOffset = serverTime - Date.now() / 1000;
  }

  now() {
    return Date.now() / 1000 + this.serverOffset;
  }

  snapshot(frame) {
    this.clock(frame.server_time);
    this.unknownSeen = false;
    this.devices = new Map();
    for (const d of frame.devices) {
      d.search = searchKey(d);
      this.devices.set(d.id, d);
    }
    this.byName = [...this.devices.values()].sort((a, b) => COLLATOR.compare(a.name, b.name)).map((d) => d.id);
  }

  /** Apply position tuples; returns the devices that moved (older fixes than the shown one are ignored). */
  positions(rows) {
    const changed = [];
    for (const [id, fix, lat, lon, speed, course, valid, ignition, state] of rows) {
      const d = this.devices.get(id);
      if (!d) { this.unknownSeen = true; continue; }
      if (d.fix && fix < d.fix) continue;
      d.fix = fix; d.lat = lat; d.lon = lon; d.speed = speed; d.course = course;
      d.valid = valid; d.ignition = ignition;
      if (state) d.state = state;
      d.moved = true;
      changed.push(d);
    }
    return changed;
  }

  states(rows) {
    const changed = [];
    for (const [id, state, status] of rows) {
      const d = this.devices.get(id);
      if (!d) continue;
      d.state = state; d.status = status;
      changed.push(d);
    }
    return changed;
  }

  org(d) {
    return this.orgs.get(d.org) || {};
  }

  vendors() {
    const seen = new Map();
    for (const d of this.devices.values()) if (d.vendor) seen.set(d.vendor, d.vendor_label || d.vendor);
    return [...seen].sort((a, b) => a[1].localeCompare(b[1]));
  }

  groups() {
    const seen = new Map();
    for (const d of this.devices.values()) if (d.group) seen.set(String(d.group), d.group_name || `Group ${d.group}`);
    return [...seen].sort((a, b) => a[1].localeCompare(b[1]));
  }
}

/** The panel's filters; the same predicate narrows the list and the map. */
export class Filter {
  constructor() {
    this.q = "";
    this.vendor = "";
    this.group = "";
    this.states = new Set(); // empty: every state
    this.version = 0;
  }

  set(changes) {
    Object.assign(this, changes);
    this.version += 1;
  }

  toggleState(state) {
    if (this.states.has(state)) this.states.delete(state);
    else this.states.add(state);
    this.version += 1;
  }

  matchesExceptState(d) {
    if (this.vendor && d.vendor !== this.vendor) return false;
    if (this.group && String(d.group) !== this.group) return false;
    if (this.q && !d.search.includes(this.q)) return false;
    return true;
  }

  matches(d) {
    return this.matchesExceptState(d) && (this.states.size === 0 || this.states.has(d.state));
  }
}

/** The filtered, sorted ids and the per-state counts (counts ignore the state filter). */
export function view(store, filter, sort) {
  const ids = [];
  const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
  for (const id of store.byName) {
    const d = store.devices.get(id);
    if (!filter.matchesExceptState(d)) continue;
    counts[d.state] = (counts[d.state] || 0) + 1;
    if (filter.states.size === 0 || filter.states.has(d.state)) ids.push(id);
  }
  if (sort === "update") {
    const fix = (id) => store.devices.get(id).fix || 0;
    ids.sort((a, b) => fix(b) - fix(a));
  }
  return { ids, counts };
}
