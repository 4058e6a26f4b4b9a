// The /ws/live/ socket (docs/live-protocol.md): reconnect with backoff, heartbeat watchdog, status; a
// snapshot sent in parts reaches onFrame as one `snapshot` frame with its decoded `devices`.

import { decodeDevices } from "./store.js";

const SILENCE_MS = 15000; // heartbeat every 10 s: 15 s of silence means the link is gone
const MAX_BACKOFF_MS = 30000;
// Close codes after which the page does not reconnect but says why.
const FINAL = { 4401: "signedout", 4403: "noaccess" };

export class LiveSocket {
  constructor(path, { onFrame, onStatus }) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.url = `${scheme}//${location.host}${path}`;
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.attempts = 0;
    this.lastFrame = 0;
    this.status = null;
    this.ws = null;
    this.timer = null;
    window.addEventListener("offline", () => this.setStatus("offline"));
    window.addEventListener("online", () => this.reconnectNow());
    setInterval(() => this.watchdog(), 1000);
  }

  connect() {
    clearTimeout(this.timer);
    if (!navigator.onLine) { this.setStatus("offline"); return; }
    const early = window.fleetEarlySocket;
    window.fleetEarlySocket = null;
    const ws = early ? early.socket : new WebSocket(this.url);
    this.ws = ws;
    this.parts = null;
    ws.onopen = () => { this.lastFrame = Date.now(); this.openedAt = performance.now(); };
    if (ws.readyState === WebSocket.OPEN) ws.onopen();
    ws.onmessage = (event) => {
      this.lastFrame = Date.now();
      this.attempts = 0;
      this.setStatus("live");
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      this.deliver(frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (FINAL[event.code]) { this.setStatus(FINAL[event.code]); return; }
      this.scheduleReconnect();
    };
    if (early) {
      for (const event of early.queue) ws.onmessage(event);
      if (ws.readyState === WebSocket.CLOSED) { this.ws = null; this.scheduleReconnect(); }
    }
  }

  // `snapshot.part` frames are decoded as they arrive (the next ones are still on their way) until their
  // `snapshot`, which carries the last devices; a `config` starts a new snapshot.
  deliver(frame) {
    if (frame.type === "config") this.parts = null;
    if (frame.type === "snapshot.part" || frame.type === "snapshot") {
      const parts = this.parts || (this.parts = { strings: [], devices: [] });
      decodeDevices(frame, parts.strings, parts.devices);
      if (frame.type === "snapshot.part") return;
      this.parts = null;
      frame = { type: "snapshot", server_time: frame.server_time, devices: parts.devices };
    }
    this.onFrame(frame);
  }

  scheduleReconnect() {
    this.setStatus(navigator.onLine ? "reconnecting" : "offline");
    const base = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** this.attempts);
    this.attempts += 1;
    this.timer = setTimeout(() => this.connect(), base * (0.5 + Math.random() / 2));
  }

  reconnectNow() {
    this.attempts = 0;
    if (this.ws) { const ws = this.ws; this.ws = null; ws.close(); }
    this.connect();
  }

  watchdog() {
    if (!navigator.onLine) { this.setStatus("offline"); return; }
    if (this.ws && this.ws.readyState === WebSocket.OPEN && Date.now() - this.lastFrame > SILENCE_MS) {
      const ws = this.ws;
      this.ws = null;
      ws.close();
      this.scheduleReconnect();
    }
  }

  send(obj) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(obj));
  }

  setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    this.onStatus(status);
  }
}

const LABELS = { live: "Live", reconnecting: "Reconnecting…", offline: "Offline", signedout: "Signed out", noaccess: "No access", connecting: "Connecting…" };

export function showStatus(node, status) {
  if (!node) return;
  node.dataset.state = status;
  node.querySelector("span").textContent = LABELS[status] || status;
}
