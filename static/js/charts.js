// Charts page (/reports/charts/): uPlot charts with synced cursors and zoom.
// One device: its series fetched from data.json (columnar, already downsampled by the server), one chart
// per quantity (temperature sensors share one). A group or the fleet: distance and utilisation per day,
// from the JSON embedded in the page (the table under the charts shows the same numbers without JS).
/* global uPlot */

const SYNC_KEY = "fleet-charts";
const HEIGHT = 190;
const PALETTE = ["#1570ef", "#d92d20", "#079455", "#dc6803", "#7839ee", "#0e9384", "#c11574", "#475467"];
const SHARE_COLORS = { driving: "#079455", idle: "#f79009", stopped: "#98a2b3", noData: "#e4e7ec" };

const state = { charts: [], ready: false, error: null, omitted: [] };
window.fleetCharts = state; // for the browser tests and the console

function width(container) {
  return Math.max(320, container.clientWidth - 24);
}

function card(container, title, subtitle) {
  const section = document.createElement("section");
  section.className = "chart-card";
  const h = document.createElement("h2");
  h.textContent = title;
  if (subtitle) {
    const small = document.createElement("small");
    small.textContent = ` ${subtitle}`;
    h.append(small);
  }
  section.append(h);
  container.append(section);
  return section;
}

// ---- zoom sync: a zoom in one chart zooms the others (the cursor is synced by uPlot itself)

let syncing = false;
function syncZoom(u, key) {
  if (key !== "x" || syncing || !state.ready) return;
  syncing = true;
  const { min, max } = u.scales.x;
  for (const other of state.charts) if (other !== u && other.sharesX) other.setScale("x", { min, max });
  syncing = false;
}

// 24-hour, ISO-like time axis labels: [tick increment, label, then the extra line when the year / month /
// day / hour / minute / second changes between ticks, mode] (uPlot's axis.values table).
const TIME_LABELS = [
  [86400 * 365, "{YYYY}", null, null, null, null, null, null, 1],
  [86400 * 28, "{MMM}", "\n{YYYY}", null, null, null, null, null, 1],
  [86400, "{MM}-{DD}", "\n{YYYY}", null, null, null, null, null, 1],
  [3600, "{HH}:{mm}", "\n{YYYY}-{MM}-{DD}", null, "\n{MM}-{DD}", null, null, null, 1],
  [60, "{HH}:{mm}", "\n{YYYY}-{MM}-{DD}", null, "\n{MM}-{DD}", null, null, null, 1],
  [1, "{HH}:{mm}:{ss}", "\n{YYYY}-{MM}-{DD}", null, "\n{MM}-{DD}", null, null, null, 1],
];

function fmt(unit, decimals = 1) {
  return (u, v) => (v == null ? "–" : `${v.toFixed(decimals)} ${unit}`);
}

// ---- one device

// A null between two fixes further apart than the no-data gap, so lines do not bridge it.
function withGaps(t, v, gap) {
  const T = [];
  const V = [];
  for (let i = 0; i < t.length; i++) {
    if (i && t[i] - t[i - 1] > gap) {
      T.push((t[i] + t[i - 1]) / 2);
      V.push(null);
    }
    T.push(t[i]);
    V.push(v[i]);
  }
  return [T, V];
}

function groupSeries(series) {
  const groups = new Map();
  for (const s of series) {
    if (!groups.has(s.group)) groups.set(s.group, []);
    groups.get(s.group).push(s);
  }
  return groups;
}

function deviceChart(container, data, members, colorIndex) {
  const first = members[0];
  const title = members.length > 1 ? "Temperatures" : first.label;
  const points = members.reduce((n, s) => n + s.t.length, 0);
  const section = card(container, title, `(${first.unit}; ${points.toLocaleString()} points drawn)`);
  const tables = members.map((s) => withGaps(s.t, s.v, data.gap_s));
  const aligned = tables.length === 1 ? tables[0] : uPlot.join(tables);
  const opts = {
    width: width(container),
    height: HEIGHT,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), data.timezone),
    cursor: { sync: { key: SYNC_KEY }, drag: { x: true, y: false } },
    scales: { x: { time: true } },
    series: [
      { label: "Time", value: "{YYYY}-{MM}-{DD} {HH}:{mm}:{ss}" },
      ...members.map((s, i) => ({
        label: s.label,
        stroke: PALETTE[(colorIndex + i) % PALETTE.length],
        width: 1.5,
        value: fmt(s.unit),
        points: { show: false },
      })),
    ],
    axes: [{ values: TIME_LABELS }, { size: 60 }],
    hooks: { setScale: [syncZoom] },
  };
  const u = new uPlot(opts, aligned, section);
  u.sharesX = true;
  u.key = first.group;
  u.setScale("x", { min: data.start, max: data.end });
  return u;
}

async function deviceCharts(root) {
  const status = document.getElementById("chart-status");
  const container = document.getElementById("charts");
  const response = await fetch(root.dataset.url, { headers: { Accept: "application/json" } });
  const data = await response.json();
  if (!response.ok) {
    const messages = Object.values(data.errors || {}).flat().map((e) => e.message);
    throw new Error(messages.join(" ") || `HTTP ${response.status}`);
  }
  const notes = document.getElementById("chart-notes");
  for (const o of data.omitted) {
    const li = document.createElement("li");
    li.textContent = o.note;
    li.dataset.series = o.key;
    notes.append(li);
  }
  state.omitted = data.omitted.map((o) => o.key);
  let color = 0;
  for (const members of groupSeries(data.series).values()) {
    state.charts.push(deviceChart(container, data, members, color));
    color += members.length;
  }
  status.textContent = data.series.length
    ? `${data.positions.toLocaleString()} positions; drag across a chart to zoom, double-click to reset.`
    : "Nothing to chart in this range.";
}

// ---- a group or the fleet

function dayAxis(days) {
  const step = Math.max(1, Math.ceil(days.length / 14));
  return {
    splits: () => days.map((_, i) => i).filter((i) => i % step === 0),
    values: (u, splits) => splits.map((i) => (days[i] || "").slice(5)),
  };
}

function barChart(container, title, days, series, yRange, subtitle) {
  const section = card(container, title, subtitle);
  const x = days.map((_, i) => i);
  const bars = uPlot.paths.bars({ size: [0.7, 80] });
  const opts = {
    width: width(container),
    height: HEIGHT + 30,
    cursor: { sync: { key: `${SYNC_KEY}-days` }, drag: { x: false, y: false } },
    scales: { x: { time: false, range: () => [-0.5, days.length - 0.5] }, y: yRange ? { range: yRange } : {} },
    series: [{ label: "Day", value: (u, i) => (i == null ? "–" : days[i]) }, ...series.map((s) => ({ paths: bars, points: { show: false }, ...s }))],
    axes: [dayAxis(days), { size: 60 }],
    legend: { live: true },
  };
  const u = new uPlot(opts, [x, ...series.map((s) => s.data)], section);
  u.sharesX = false;
  return u;
}

function fleetCharts() {
  const data = JSON.parse(document.getElementById("fleet-data").textContent);
  const container = document.getElementById("charts");
  const { days } = data;
  state.charts.push(
    barChart(container, "Distance per day", days,
      [{ label: "Distance", data: data.distance, fill: "#1570ef", stroke: "#1570ef", value: fmt(data.distance_unit) }],
      null, `(${data.distance_unit}, ${data.devices} device${data.devices === 1 ? "" : "s"})`),
  );
  // Stacked by drawing the running totals from the top down; the legend shows each share itself.
  const mid = data.idle.map((s, i) => data.driving[i] + s);
  const top = data.stopped.map((s, i) => mid[i] + s);
  const all = data.no_data.map((s, i) => top[i] + s);
  const share = (values) => (u, v, si, i) => (i == null ? "–" : `${values[i].toFixed(1)} %`);
  state.charts.push(
    barChart(container, "Utilisation per day", days, [
      { label: "No data", data: all, fill: SHARE_COLORS.noData, stroke: SHARE_COLORS.noData, value: share(data.no_data) },
      { label: "Stopped", data: top, fill: SHARE_COLORS.stopped, stroke: SHARE_COLORS.stopped, value: share(data.stopped) },
      { label: "Idle", data: mid, fill: SHARE_COLORS.idle, stroke: SHARE_COLORS.idle, value: share(data.idle) },
      { label: "Driving", data: data.driving, fill: SHARE_COLORS.driving, stroke: SHARE_COLORS.driving, value: share(data.driving) },
    ], () => [0, 100], "(% of the vehicles' time)"),
  );
}

// ---- start

function fit() {
  const container = document.getElementById("charts");
  for (const u of state.charts) u.setSize({ width: width(container), height: u.height });
}

async function main() {
  const device = document.getElementById("device-charts");
  try {
    if (device) await deviceCharts(device);
    else if (document.getElementById("fleet-data")) fleetCharts();
  } catch (err) {
    state.error = String(err.message || err);
    const status = document.getElementById("chart-status");
    if (status) {
      status.textContent = `The series could not be loaded: ${state.error}`;
      status.classList.add("error");
    }
  }
  state.ready = true;
  window.addEventListener("resize", fit);
}

main();
