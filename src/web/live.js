// live.js — the live connection: a WebSocket to /api/ws (Server-Sent Events from /api/events
// when WebSockets fail), reconnecting with backoff and asking for a replay from the last event
// id seen, so nothing is missed while offline. Typing notices go out over the WebSocket.
// It knows nothing of the page: events go to onEvent, connection state to onState.

const TYPES = ['message.created', 'message.updated', 'message.deleted', 'conversation.created',
  'conversation.updated', 'conversation.deleted', 'conversation.read', 'typing', 'presence', 'resync'];

export class Live {
  // token(): the current token; onEvent(ev); onState('connecting'|'live'|'offline', detail);
  // onDown(): called after a connection that never opened, to check the token is still good.
  constructor({ token, onEvent, onState, onDown }) {
    Object.assign(this, { token, onEvent, onState, onDown });
    this.lastId = null;     // the last stored event's id: the replay point
    this.sock = null;
    this.useSse = typeof WebSocket === 'undefined';
    this.wsFailures = 0;
    this.retries = 0;
    this.timer = null;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.close();
  }

  close() {
    const s = this.sock;
    this.sock = null;
    if (s) { s.onclose = s.onerror = s.onmessage = s.onopen = null; s.close(); }
  }

  url(path) {
    const p = new URLSearchParams({ token: this.token() });
    if (this.lastId) p.set('last_event_id', this.lastId);
    return path + '?' + p;
  }

  connect() {
    this.close();
    this.onState('connecting');
    if (this.useSse) return this.connectSse();
    const proto = location.protocol === 'https:' ? 'wss://' : 'ws://';
    let ws;
    try { ws = new WebSocket(proto + location.host + this.url('/api/ws')); } catch { return this.fallback(); }
    this.sock = ws;
    let opened = false;
    ws.onopen = () => { opened = true; this.opened(); };
    ws.onmessage = (m) => this.receive(m.data);
    ws.onerror = () => {};
    ws.onclose = () => {
      if (this.sock !== ws) return;
      this.sock = null;
      if (!opened && ++this.wsFailures >= 3) return this.fallback();
      this.down(opened);
    };
  }

  fallback() {   // WebSockets do not get through (a proxy, say): use SSE from now on
    this.useSse = typeof EventSource !== 'undefined';
    if (!this.useSse) return this.down(false);
    this.connectSse();
  }

  connectSse() {
    const es = new EventSource(this.url('/api/events'));
    this.sock = es;
    let opened = false;
    es.onopen = () => { opened = true; this.opened(); };
    const on = (m) => this.receive(m.data);
    for (const t of TYPES) es.addEventListener(t, on);
    es.onmessage = on;
    es.onerror = () => {   // EventSource would retry by itself, but from the first URL's id
      if (this.sock !== es) return;
      this.close();
      this.down(opened);
    };
  }

  opened() {
    this.retries = 0;
    this.wsFailures = 0;
    this.onState('live', this.useSse ? 'sse' : 'ws');
  }

  receive(text) {
    let ev;
    try { ev = JSON.parse(text); } catch { return; }
    if (!ev || typeof ev.type !== 'string') return;
    if (typeof ev.id === 'number' && ev.id > (this.lastId || 0)) this.lastId = ev.id;
    this.onEvent(ev);
  }

  down(wasOpen) {
    if (this.stopped) return;
    const delay = Math.min(30000, 1000 * 2 ** Math.min(this.retries++, 5)) * (0.75 + Math.random() / 2);
    this.onState('offline', Math.round(delay / 1000));
    if (!wasOpen) this.onDown();
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  // Reconnect now (the browser came back online, the tab became visible).
  kick() {
    if (!this.stopped && !this.sock) { clearTimeout(this.timer); this.connect(); }
  }

  typing(conversation_id) {
    const s = this.sock;
    if (s && typeof WebSocket !== 'undefined' && s instanceof WebSocket && s.readyState === WebSocket.OPEN)
      s.send(JSON.stringify({ type: 'typing', conversation_id }));
  }
}
