// Display helpers: units, times, DOM. Vendor strings only ever go through textContent.

export const STATES = ["moving", "idle", "stopped", "stale", "nofix"];
export const STATE_LABELS = { moving: "Moving", idle: "Idle", stopped: "Stopped", stale: "Stale", nofix: "No fix" };
export const STATE_COLORS = {
  moving: "#12a150", idle: "#f59e0b", stopped: "#2563eb", stale: "#8a94a6", nofix: "#d9376e",
};

const SPEED = { kmh: [1, "km/h"], mph: [0.621371, "mph"], kn: [0.539957, "kn"] };

export function speed(kmh, unit = "kmh") {
  if (kmh === null || kmh === undefined) return "–";
  const [factor, label] = SPEED[unit] || SPEED.kmh;
  return `${Math.round(kmh * factor)} ${label}`;
}

const COMPASS = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"];

export function course(deg) {
  if (deg === null || deg === undefined) return "–";
  return `${Math.round(deg)}° ${COMPASS[Math.round(((deg % 360) + 360) % 360 / 45) % 8]}`;
}

export function ago(epoch, now = Date.now() / 1000) {
  if (!epoch) return "never";
  const s = Math.max(0, Math.round(now - epoch));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

const formatters = new Map();

export function time(epoch, tz, withDate = true) {
  if (!epoch) return "–";
  const key = `${tz}|${withDate}`;
  if (!formatters.has(key)) {
    const opts = { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZone: tz || "UTC" };
    if (withDate) Object.assign(opts, { year: "numeric", month: "2-digit", day: "2-digit" });
    formatters.set(key, new Intl.DateTimeFormat("en-CA", opts));
  }
  return formatters.get(key).format(new Date(epoch * 1000)).replace(",", "");
}

export function duration(seconds) {
  const m = Math.round(seconds / 60);
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** el("div", {class: "x"}, "text", child) — children are text or nodes, never parsed HTML. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "style") node.style.cssText = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

export function readJSON(id) {
  return JSON.parse(document.getElementById(id).textContent);
}

/** A URL from a reversed pattern with a 0 placeholder for the pk. */
export function urlFor(pattern, pk) {
  return pattern.replace("/0/", `/${pk}/`);
}
