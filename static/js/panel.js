// The device panel: search, filters with live state counts, sort, a virtualised list, the device card.

import { STATE_COLORS, STATE_LABELS, STATES, ago, course, el, speed, time, urlFor } from "./format.js";
import { view } from "./store.js";

const ROW_H = 52;
const OVERSCAN = 6;
const ADDRESS_EVERY_MS = 10000; // a moving device's address is asked again at most this often
const ADDRESS_STALE_MS = 60000; // and a standing one's (the provider's answer may have come meanwhile)

export class Panel {
  constructor(store, filter, urls, { onFilter, onSelect, onPin, pinned }) {
    this.store = store;
    this.filter = filter;
    this.urls = urls;
    this.onFilter = onFilter;
    this.onSelect = onSelect;
    this.onPin = onPin;
    this.pinned = pinned;
    this.sort = "name";
    this.ids = [];
    this.counts = {};
    this.selected = null;
    this.list = document.getElementById("list");
    this.spacer = this.list.querySelector(".list-spacer");
    this.rows = []; // pooled row elements
    this.card = document.getElementById("card");
    this.addr = { id: null, cell: "", at: 0, text: "", pending: false }; // the card device's address (server's)
    this.bind();
  }

  bind() {
    const q = document.getElementById("q");
    q.addEventListener("input", () => this.changeFilter({ q: q.value.trim().toLowerCase() }));
    const vendor = document.getElementById("f-vendor");
    vendor.addEventListener("change", () => this.changeFilter({ vendor: vendor.value }));
    const group = document.getElementById("f-group");
    group.addEventListener("change", () => this.changeFilter({ group: group.value }));
    const sort = document.getElementById("f-sort");
    sort.addEventListener("change", () => { this.sort = sort.value; this.refresh(); });
    for (const chip of document.querySelectorAll("#f-states .chip")) {
      chip.addEventListener("click", () => {
        this.filter.toggleState(chip.dataset.state);
        chip.setAttribute("aria-pressed", String(this.filter.states.has(chip.dataset.state)));
        this.onFilter();
        this.refresh();
      });
    }
    this.list.addEventListener("scroll", () => this.renderRows(), { passive: true });
    this.list.addEventListener("keydown", (e) => {
      const step = { ArrowDown: 1, ArrowUp: -1, PageDown: 10, PageUp: -10 }[e.key];
      if (!step || !this.ids.length) return;
      e.preventDefault();
      const at = this.ids.indexOf(this.selected);
      const next = this.ids[Math.max(0, Math.min(this.ids.length - 1, at < 0 ? 0 : at + step))];
      this.onSelect(next, "list");
      this.scrollTo(next);
    });
    this.list.addEventListener("click", (e) => {
      const row = e.target.closest(".dev");
      if (row) this.onSelect(Number(row.dataset.id), "list");
    });
    this.card.querySelector("[data-action=close]").addEventListener("click", () => this.onSelect(null, "card"));
    const pin = this.card.querySelector("[data-f=pin]");
    pin.addEventListener("change", () => this.onPin(this.selected, pin.checked));
    window.addEventListener("resize", () => this.renderRows());
    setInterval(() => this.tick(), 1000);
  }

  changeFilter(changes) {
    this.filter.set(changes);
    this.onFilter();
    this.refresh();
  }

  /** New snapshot: refill the vendor and group selects. */
  options() {
    fill(document.getElementById("f-vendor"), "All vendors", this.store.vendors(), this.filter.vendor);
    fill(document.getElementById("f-group"), "All groups", this.store.groups(), this.filter.group);
  }

  /** Recompute the filtered list and the counts, then redraw the visible rows. */
  refresh() {
    const { ids, counts } = view(this.store, this.filter, this.sort);
    this.ids = ids;
    this.counts = counts;
    for (const chip of document.querySelectorAll("#f-states .chip")) {
      chip.querySelector("b").textContent = String(counts[chip.dataset.state] || 0);
    }
    const total = this.store.devices.size;
    document.getElementById("shown").textContent =
      ids.length === total ? `${total} device${total === 1 ? "" : "s"}` : `${ids.length} of ${total} devices`;
    this.spacer.style.height = `${ids.length * ROW_H}px`;
    this.renderRows();
    this.renderCard();
  }

  renderRows() {
    const first = Math.max(0, Math.floor(this.list.scrollTop / ROW_H) - OVERSCAN);
    const count = Math.ceil(this.list.clientHeight / ROW_H) + 2 * OVERSCAN;
    const last = Math.min(this.ids.length, first + count);
    while (this.rows.length < last - first) this.rows.push(this.list.appendChild(makeRow()));
    const now = this.store.now();
    for (let i = 0; i < this.rows.length; i++) {
      const row = this.rows[i];
      const idx = first + i;
      if (idx >= last) { row.hidden = true; continue; }
      row.hidden = false;
      this.fillRow(row, this.store.devices.get(this.ids[idx]), idx, now);
    }
  }

  fillRow(row, d, idx, now) {
    row.style.transform = `translateY(${idx * ROW_H}px)`;
    row.dataset.id = d.id;
    row.classList.toggle("selected", d.id === this.selected);
    const f = row._f;
    f.dot.style.background = STATE_COLORS[d.state] || STATE_COLORS.stale;
    f.dot.title = STATE_LABELS[d.state] || d.state;
    f.name.textContent = d.name;
    f.sub.textContent = [d.plate, d.vendor_label || d.vendor, d.group_name].filter(Boolean).join(" · ");
    f.speed.textContent = d.state === "moving" ? speed(d.speed, this.store.org(d).speed_unit) : STATE_LABELS[d.state] || "";
    f.ago.textContent = ago(d.fix, now);
  }

  scrollTo(id) {
    const idx = this.ids.indexOf(id);
    if (idx < 0) return;
    const top = idx * ROW_H;
    if (top < this.list.scrollTop || top + ROW_H > this.list.scrollTop + this.list.clientHeight) {
      this.list.scrollTop = Math.max(0, top - this.list.clientHeight / 2);
    }
  }

  select(id) {
    this.selected = id;
    this.renderRows();
    this.renderCard();
  }

  tick() {
    this.renderRows();
    this.renderCard();
  }

  renderCard() {
    const d = this.selected === null ? null : this.store.devices.get(this.selected);
    this.card.hidden = !d;
    if (!d) return;
    const org = this.store.org(d);
    const a = d.attrs || {};
    const set = (name, text) => { this.card.querySelector(`[data-f=${name}]`).textContent = text; };
    const show = (name, text) => {
      const present = text !== null && text !== undefined && text !== "";
      for (const n of this.card.querySelectorAll(`[data-row=${name}]`)) n.hidden = !present;
      if (present) set(name, text);
    };
    this.card.querySelector("[data-f=dot]").style.background = STATE_COLORS[d.state];
    set("name", d.name);
    set("sub", [d.plate, d.unique_id].filter(Boolean).join(" · "));
    const badge = this.card.querySelector("[data-f=state]");
    badge.textContent = STATE_LABELS[d.state] || d.state;
    badge.style.background = STATE_COLORS[d.state];
    set("status", d.status || "");
    set("ago", d.fix ? `${ago(d.fix, this.store.now())} · ${time(d.fix, org.timezone)}` : "never");
    set("speed", speed(d.speed, org.speed_unit));
    set("course", course(d.course));
    show("address", a.address || this.address(d));
    show("driver", d.driver);
    show("task", d.task ? `${d.task.order_ref} (${d.task.status.replace("_", " ")})` : null);
    show("battery", a.battery_level !== undefined ? `${Math.round(a.battery_level)} %` : null);
    show("battery_health", d.battery_health);
    show("fuel", a.fuel_l !== undefined ? `${a.fuel_l} l` : null);
    show("temps", Array.isArray(a.temperatures) && a.temperatures.length ? a.temperatures.map((t) => `${t} °C`).join(", ") : null);
    show("rssi", a.rssi !== undefined ? `${a.rssi} dBm` : null);
    set("latlon", d.lat === null || d.lat === undefined ? "–" : `${d.lat.toFixed(5)}, ${d.lon.toFixed(5)}`);
    set("vendor", [d.vendor_label || d.vendor, d.account].filter(Boolean).join(" · "));
    this.card.querySelector("[data-f=pin]").checked = this.pinned.has(d.id);
    this.card.querySelector("[data-f=replay]").href = urlFor(this.urls.replay, d.id);
    this.card.querySelector("[data-f=detail]").href = urlFor(this.urls.detail, d.id);
    this.card.querySelector("[data-f=reports]").href = `${urlFor(this.urls.detail, d.id)}#device-reports`;
  }

  /** The server's address for the card's device (geofence, POI, provider or street), asked again when it moved
   * to another ~10 m cell or the answer is old; null until the first answer. */
  address(d) {
    if (d.lat === null || d.lat === undefined || !this.urls.address) return null;
    const cell = `${d.lat.toFixed(4)},${d.lon.toFixed(4)}`;
    const age = Date.now() - this.addr.at;
    const same = this.addr.id === d.id;
    const due = !same || age > ADDRESS_STALE_MS || (cell !== this.addr.cell && age > ADDRESS_EVERY_MS);
    if (due && !(same && this.addr.pending)) {
      if (!same) this.addr = { id: d.id, cell: "", at: 0, text: "", pending: false };
      this.addr.pending = true;
      this.addr.cell = cell;
      this.addr.at = Date.now();
      const id = d.id;
      fetch(urlFor(this.urls.address, id), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((r) => (r.ok ? r.json() : null))
        .catch(() => null)
        .then((j) => {
          if (this.addr.id !== id) return;
          this.addr.pending = false;
          if (j && typeof j.address === "string") this.addr.text = j.address;
          if (this.selected === id) this.renderCard();
        });
    }
    return same ? this.addr.text : null;
  }

  following() {
    return this.card.querySelector("[data-f=follow]").checked;
  }
}

function makeRow() {
  const f = {
    dot: el("i", { class: "dot" }),
    name: el("span", { class: "name" }),
    sub: el("span", { class: "sub" }),
    speed: el("span", { class: "speed" }),
    ago: el("span", { class: "ago" }),
  };
  const row = el("div", { class: "dev", role: "button", tabindex: "-1" },
    f.dot, el("div", { class: "main" }, f.name, f.sub), el("div", { class: "side" }, f.speed, f.ago));
  row._f = f;
  return row;
}

function fill(select, allLabel, entries, value) {
  select.replaceChildren(el("option", { value: "" }, allLabel));
  for (const [key, label] of entries) select.append(el("option", { value: key }, label));
  select.value = entries.some(([k]) => k === value) ? value : "";
}

export { STATES };
