// The agents' WebSocket (/chat/agent/ws): reconnects by itself and replays the frames that set up state
// (console, view) after every reconnect.

export class Live {
  constructor() {
    this.handlers = new Map();
    this.sticky = new Map(); // key -> frame to send again after a reconnect
    this.delay = 500;
    this.ws = null;
    this.stopped = false;
    this.connected = false;
  }

  on(type, handler) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(handler);
    return this;
  }

  emit(type, frame) {
    for (const handler of this.handlers.get(type) || []) handler(frame);
    for (const handler of this.handlers.get("*") || []) handler(frame);
  }

  start() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/chat/agent/ws`);
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.delay = 500;
      this.connected = true;
      this.emit("open", { type: "open" });
      for (const frame of this.sticky.values()) ws.send(JSON.stringify(frame));
    });
    ws.addEventListener("message", (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      if (frame && typeof frame.type === "string") this.emit(frame.type, frame);
    });
    ws.addEventListener("close", () => {
      this.connected = false;
      this.emit("close", { type: "close" });
      if (this.stopped) return;
      setTimeout(() => this.start(), this.delay);
      this.delay = Math.min(this.delay * 2, 10000);
    });
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  keep(key, frame) {
    this.sticky.set(key, frame);
    this.send(frame);
  }

  drop(key, frame) {
    this.sticky.delete(key);
    if (frame) this.send(frame);
  }
}
