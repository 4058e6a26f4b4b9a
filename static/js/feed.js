// The live map's event feed: the newest events of the user's organisations (loaded once, then as `events`
// frames arrive), a toast for each alert (an event a dashboard notification rule matched), acknowledge, and an
// optional sound. Every vendor or user string is set as text, never as HTML.

const KEEP = 100;
const TOAST_MS = 8000;
const SOUND_KEY = "fleet.feed.sound";

export class EventFeed {
  constructor({ root, toasts, urls, nameOf, onPick }) {
    this.root = root;
    this.list = root.querySelector("ol");
    this.toasts = toasts;
    this.urls = urls;
    this.nameOf = nameOf;
    this.onPick = onPick;
    this.seen = new Set();
    this.sound = root.querySelector("[data-f=sound]");
    this.sound.checked = localStorage.getItem(SOUND_KEY) === "on";
    this.sound.addEventListener("change", () => localStorage.setItem(SOUND_KEY, this.sound.checked ? "on" : "off"));
    root.querySelector("[data-f=toggle]").addEventListener("click", () => root.classList.toggle("collapsed"));
  }

  async load() {
    try {
      const response = await fetch(this.urls.events, { credentials: "same-origin" });
      if (!response.ok) return;
      const body = await response.json();
      this.add(body.events.slice().reverse(), { quiet: true });
    } catch { /* the feed stays empty until events arrive */ }
  }

  add(entries, { quiet = false } = {}) {
    for (const e of entries) {
      if (e.id !== null && this.seen.has(e.id)) continue;
      if (e.id !== null) this.seen.add(e.id);
      this.list.prepend(this.row(e));
      if (e.alert && !quiet) this.toast(e);
    }
    while (this.list.children.length > KEEP) this.list.lastElementChild.remove();
    this.root.querySelector("[data-f=count]").textContent = String(this.list.children.length);
  }

  text(e) {
    const who = e.device === null ? "" : this.nameOf(e.device) || `device ${e.device}`;
    const parts = [e.label, who, e.zone].filter(Boolean);
    return parts.join(" · ");
  }

  row(e) {
    const li = document.createElement("li");
    li.className = e.alert ? "alert" : "";
    li.dataset.id = e.id ?? "";
    const time = document.createElement("time");
    time.textContent = new Date(e.time * 1000).toLocaleTimeString();
    const what = document.createElement("span");
    what.textContent = this.text(e);
    what.title = e.type;
    li.append(time, what);
    if (e.device !== null) what.addEventListener("click", () => this.onPick(e.device));
    if (e.id !== null) {
      const ack = document.createElement("button");
      ack.type = "button";
      ack.className = "ack";
      if (e.ack) { ack.disabled = true; ack.textContent = `✓ ${e.ack}`; } else { ack.textContent = "Acknowledge"; }
      ack.addEventListener("click", () => this.acknowledge(e.id, ack));
      li.append(ack);
    }
    return li;
  }

  async acknowledge(id, button) {
    button.disabled = true;
    const token = document.querySelector("input[name=csrfmiddlewaretoken]")?.value || "";
    try {
      const response = await fetch(this.urls.ack.replace("/0/", `/${id}/`), {
        method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": token },
      });
      if (!response.ok) throw new Error(String(response.status));
      const body = await response.json();
      button.textContent = `✓ ${body.ack}`;
    } catch {
      button.disabled = false;
    }
  }

  toast(e) {
    const node = document.createElement("div");
    node.className = "toast";
    node.setAttribute("role", "status");
    node.textContent = this.text(e);
    this.toasts.append(node);
    setTimeout(() => node.remove(), TOAST_MS);
    if (this.sound.checked) beep();
  }
}

function beep() {
  try {
    const ctx = new AudioContext();
    const osc = ctx.createOscillator();
    osc.frequency.value = 880;
    osc.connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 0.15);
  } catch { /* no audio: the toast is enough */ }
}
