// app.js — the client's state and behaviour: signing in and out, loading and syncing the
// conversations and messages, applying live events, read state, typing, presence, finding
// people, sending (with an Idempotency-Key and retries), and wiring the page's controls.
// HTTP is api.js's, the connection live.js's, what is on screen view.js's (with render.js).
// It follows contract v2 (/work/shared/API.md): no detection of older servers.
import { api, ApiError, describe, getSession, setSession, clearSession, whenUnauthorized, newKey }
  from './api.js';
import { Live } from './live.js';
import { h, userName, dot, reconcile, snippet } from './render.js';
import { closeConv, gotConvRest, msgCtx, openConv, renderDetails, renderHeader, renderList, renderLog,
  renderOlder, renderTyping, setMembers, showDetails } from './view.js';

export const $ = (id) => document.getElementById(id);
export const S = {};   // all state; reset() gives its shape
let live = null;

function reset() {
  Object.assign(S, {
    me: null,
    users: new Map(),     // id -> user, or null when deleted
    convs: new Map(),     // id -> conversation
    current: null,        // the open conversation's id
    logs: new Map(),      // conversation id -> { msgs: Map id -> message, pending: [], hasMore, loading }
    quotes: new Map(),    // message id -> message | null: originals of replies not in a loaded page
    reads: new Map(),     // conversation id -> Map user id -> last read message id (v2)
    typing: new Map(),    // conversation id -> Map user id -> until (ms)
    nodes: new Map(),     // render cache: key -> { sig, el }
    marking: new Map(),   // conversation id -> timer of a read marker to post
    editing: null, confirming: null, replyTo: null, typedAt: 0,
    syncing: false, again: false, buffer: [], synced: false,
  });
}

// ---- errors and notices
export function notice(text) {
  $('alert-text').textContent = text;
  $('alert').hidden = false;
}
export function fail(e) {
  if (e instanceof ApiError && e.status === 401 && !getSession()) return;   // already back at sign-in
  notice(e instanceof ApiError ? describe(e) : e.message);
}

// ---- signing in and out
async function authSubmit(register) {
  const u = $('auth-user').value.trim(), p = $('auth-pass').value, n = $('auth-name').value.trim();
  if (!/^[A-Za-z0-9_.-]{3,32}$/.test(u))
    return notice('A username is 3 to 32 letters, digits, “_”, “.” or “-”.');
  if (p.length < 8) return notice('A password has at least 8 characters.');
  $('alert').hidden = true;
  try {
    const r = register ? await api.register(u, p, n || undefined) : await api.login(u, p);
    setSession(r.token, r.user);
    $('auth-pass').value = '';
    start();
  } catch (e) { notice(describe(e)); }
}

function showAuth() {
  $('shell').hidden = true;
  $('auth').hidden = false;
  $('auth-user').focus();
}

function start() {
  const s = getSession();
  if (!s) return showAuth();
  reset();
  S.me = s.user.id;
  S.users.set(s.user.id, s.user);
  $('auth').hidden = true;
  $('shell').hidden = false;
  renderMe();
  const onDown = () => api.user(S.me).catch(() => {});   // a 401 there signs out
  live = new Live({ token: () => getSession().token, onEvent, onState, onDown });
  live.start();
  setTimeout(() => { if (!S.synced) sync(); }, 1500);   // show what there is even while offline
}

async function signOut(why) {
  if (live) live.stop();
  live = null;
  if (getSession() && !why) await api.logout().catch(() => {});
  clearSession();
  reset();
  closeConv();
  reconcile($('convs'), []);
  history.replaceState(null, '', location.pathname);
  showAuth();
  if (why) notice(why);
}
whenUnauthorized((e) => signOut(describe(e)));

function renderMe() {
  const u = S.users.get(S.me);
  $('me').textContent = `${u.display_name || u.username} (@${u.username})`;
}

// ---- loading: the conversation list, users' names, message pages, read receipts
// A conversation from a REST answer (events leave out the read fields). One made before a
// message whose event is in already is asked for again, once (`again`: that answer counts).
export function restConv(c, again = false) {
  const old = S.convs.get(c.id);
  if (!old) return S.convs.set(c.id, c).get(c.id);
  if (!again && (old.last_message_id || 0) > (c.last_message_id || 0)) {
    const { last_message_id, last_message, unread_count, updated_at, ...rest } = c;
    c = rest;
    setTimeout(() => refreshConv(old.id, true));
  }
  return Object.assign(old, c);
}

async function sync() {   // everything again from the REST API; events meanwhile wait in S.buffer
  if (S.syncing) { S.again = true; return; }
  S.syncing = true;
  try {
    const list = await api.conversations();
    const keep = new Set(list.map((c) => c.id));
    for (const id of S.convs.keys()) if (!keep.has(id)) S.convs.delete(id);
    list.forEach((c) => restConv(c, true));   // events meanwhile wait: this is the truth
    await ensureUsers([...S.users.keys(), ...list.flatMap(nameIds)], true);   // names, presence now
    renderMe();
    const want = S.current || Number((/^#c(\d+)$/.exec(location.hash) || [])[1]);
    if (want && S.convs.has(want)) {
      S.logs.delete(want);
      S.nodes.clear();
      await openConv(want);
    } else if (S.current) closeConv();
    S.synced = true;
  } catch (e) { fail(e); }
  S.syncing = false;
  const buf = S.buffer;
  S.buffer = [];
  buf.forEach(apply);
  renderList();
  if (S.again) { S.again = false; sync(); }
}

// The users whose names a conversation's entry shows.
const nameIds = (c) => [...(c.title && !c.direct ? [] : (c.member_ids || []).slice(0, 4)),
  ...(c.last_message ? [c.last_message.author_id] : [])];

export async function ensureUsers(ids, again = false) {   // again: fetch known ones too
  const want = [...new Set(ids)].filter((id) => typeof id === 'number' && (again || !S.users.has(id)));
  if (!want.length) return;
  for (let i = 0; i < want.length; i += 100)
    for (const u of await api.usersByIds(want.slice(i, i + 100))) S.users.set(u.id, u);
  for (const id of want) if (!S.users.has(id)) S.users.set(id, null);   // deleted
}

function logOf(cid) {
  let log = S.logs.get(cid);
  if (!log) S.logs.set(cid, log = { msgs: new Map(), pending: [], hasMore: true, loading: false });
  return log;
}

export async function loadOlder(cid) {
  const log = logOf(cid);
  if (log.loading || !log.hasMore) return;
  log.loading = true;
  renderOlder();
  const first = log.msgs.size === 0;
  let oldest;
  for (const id of log.msgs.keys()) if (!oldest || id < oldest) oldest = id;
  try {
    const page = await api.messages(cid, oldest);
    for (const m of page.messages) if (!log.msgs.has(m.id)) log.msgs.set(m.id, m);
    log.hasMore = page.has_more;
    await ensureUsers(page.messages.map((m) => m.author_id));
  } catch (e) { fail(e); log.hasMore = false; }
  log.loading = false;
  if (S.current !== cid) return;
  const el = $('log'), fromBottom = el.scrollHeight - el.scrollTop;
  renderLog();
  el.scrollTop = first ? el.scrollHeight : el.scrollHeight - fromBottom;   // keep what was in view
  if (log.hasMore && el.scrollTop < 40) loadOlder(cid);   // the page does not fill the view yet
}

export function loadReads(cid) {
  api.reads(cid).then((list) => {
    S.reads.set(cid, new Map(list.map((r) => [r.user_id, r.last_read_message_id || 0])));
    if (S.current === cid) renderLog();
  }, () => {});
}

// ---- live events
function onEvent(ev) {
  if (S.syncing) S.buffer.push(ev); else apply(ev);
}

function onState(state, detail) {
  const el = $('conn');
  el.classList.toggle('bad', state === 'offline');
  el.textContent = state === 'live' ? (detail === 'sse' ? 'Live (event stream)' : 'Live')
    : state === 'offline' ? `Offline: reconnecting in ${detail} s…` : 'Connecting…';
  if (state !== 'live') return;
  // no event id to replay from (a first connection, or none came before a drop): fetch instead
  if (live.lastId === null || !S.synced) return sync();
  // presence events are not replayed: ask again who is online
  ensureUsers([...S.users.keys()], true).then(() => { renderList(); renderDetails(); }, () => {});
}

function apply(ev) {
  switch (ev.type) {
    case 'message.created': return gotMessage(ev.message, true);
    case 'message.updated': return gotMessage(ev.message, false);
    case 'message.deleted': return lostMessage(ev.message);
    case 'conversation.created': case 'conversation.updated': return gotConv(ev.conversation);
    case 'conversation.deleted': return lostConv(ev.conversation.id);
    case 'conversation.read': return gotRead(ev);
    case 'typing': return gotTyping(ev);
    case 'presence': return gotPresence(ev);
    case 'resync': return sync();
  }
}

const reading = (cid) => S.current === cid && document.visibilityState === 'visible';

export function gotMessage(m, created) {
  const cid = m.conversation_id, c = S.convs.get(cid), log = S.logs.get(cid);
  if (!c) return refreshConv(cid);
  if (log) log.msgs.set(m.id, m);
  if (S.quotes.has(m.id)) S.quotes.set(m.id, m);
  if (created && m.id > (c.last_message_id || 0)) {   // new to us (not in the list we loaded)
    Object.assign(c, { last_message_id: m.id, last_message: m, updated_at: m.created_at });
    S.typing.get(cid)?.delete(m.author_id);
    S.reads.get(cid)?.set(m.author_id, m.id);   // posting moves the author's marker
    if (m.author_id === S.me) c.last_read_message_id = Math.max(m.id, c.last_read_message_id || 0);
    else {
      if (reading(cid)) markRead(cid, m.id); else c.unread_count = (c.unread_count || 0) + 1;
    }
  } else if (c.last_message && c.last_message.id === m.id) c.last_message = m;
  ensureUsers([m.author_id]).catch(() => {}).then(() => {
    renderList();
    if (S.current === cid) renderLog({ stick: created && m.author_id === S.me });
  });
}

export function lostMessage({ id, conversation_id: cid }) {
  const log = S.logs.get(cid), m = log && log.msgs.get(id);
  if (m) log.msgs.set(id, { ...m, deleted: true, body: '' });
  if (S.quotes.has(id) || m) S.quotes.set(id, null);
  if (S.editing === id || S.confirming === id) S.editing = S.confirming = null;
  const c = S.convs.get(cid);
  if (c && c.last_message && c.last_message.id === id) {   // the preview falls back a message
    const left = log ? [...log.msgs.values()].filter((x) => !x.deleted).sort((a, b) => b.id - a.id) : [];
    c.last_message = left[0] || null;
    renderList();
  }
  if (c && c.last_message_id === id) {   // ours until the server says which is the last now
    c.last_message_id = c.last_message?.id ?? null;
    refreshConv(cid);
  } else if (c && c.unread_count) refreshConv(cid);
  if (S.current === cid) renderLog();
}

function gotConv(c) {
  if (!(c.member_ids || []).includes(S.me)) return lostConv(c.id);   // we were removed
  const old = S.convs.get(c.id);
  if (!old) {   // new to us: list it now (so its first messages count as unread), details from REST
    S.convs.set(c.id, { ...c, unread_count: 0 });
    renderList();
    return refreshConv(c.id);
  }
  Object.assign(old, c);
  ensureUsers(nameIds(old).concat(S.current === c.id ? old.member_ids : [])).catch(() => {}).then(() => {
    renderList();
    if (S.current === c.id) { renderHeader(); renderLog(); }
  });
}

async function refreshConv(cid, again) {
  try {
    const c = restConv(await api.conversation(cid), again);
    await ensureUsers(nameIds(c));
  } catch (e) {
    if (e.status === 404) return lostConv(cid);
    return fail(e);
  }
  renderList();
  if (S.current === cid) renderHeader();
}

export function lostConv(cid) {
  if (!S.convs.delete(cid)) return;
  S.logs.delete(cid);
  if (S.current === cid) {
    closeConv();
    notice('That conversation was deleted, or you are no longer in it.');
  }
  renderList();
}

function gotRead(ev) {
  const cid = ev.conversation_id, c = S.convs.get(cid);
  S.reads.get(cid)?.set(ev.user_id, ev.last_read_message_id);
  if (ev.user_id === S.me && c && ev.last_read_message_id > (c.last_read_message_id || 0)) refreshConv(cid);
  if (S.current === cid) renderLog();
}

function gotTyping(ev) {
  if (ev.user_id === S.me) return;
  if (!S.typing.has(ev.conversation_id)) S.typing.set(ev.conversation_id, new Map());
  S.typing.get(ev.conversation_id).set(ev.user_id, Date.now() + 5000);
  ensureUsers([ev.user_id]).catch(() => {}).then(renderTyping);
  setTimeout(renderTyping, 5100);
}

function gotPresence(ev) {
  const u = S.users.get(ev.user_id);
  if (!u) return;
  Object.assign(u, { online: ev.online, last_seen_at: ev.last_seen_at });
  renderList();
  if (S.current) renderDetails();
}

// ---- read state
function markRead(cid, mid) {
  const c = S.convs.get(cid);
  if (!c) return;
  if (c.unread_count) { c.unread_count = 0; renderList(); }
  if (typeof mid !== 'number' || mid <= (c.last_read_message_id || 0)) return;
  c.last_read_message_id = mid;
  postRead(cid, S.marking);
}

// At most one POST .../read per conversation every half second: a burst read is one move.
function postRead(cid, marks, wait = 500) {
  if (marks.has(cid) || marks !== S.marking) return;
  marks.set(cid, setTimeout(async () => {
    const c = S.convs.get(cid);
    let mid = c?.last_read_message_id, next = 500;
    try { if (c && marks === S.marking) await api.markRead(cid, mid); } catch (e) {
      if (e.status === 429 || e.status === 503) { mid = null; next = 1000 * (e.retryAfter || 1); }   // again
    }
    marks.delete(cid);
    if (c && c.last_read_message_id !== mid) postRead(cid, marks, next);
  }, wait));
}

export function readLatest() {
  const log = S.current && S.logs.get(S.current);
  if (!log || !reading(S.current)) return;
  let last = 0;
  for (const id of log.msgs.keys()) if (id > last && !log.msgs.get(id).deleted) last = id;
  markRead(S.current, last || undefined);
}

// ---- finding people by username (the members of a new group, people to add)
async function findUser(word) {
  const n = word.replace(/^@/, '');
  const u = (await api.searchUsers(n, 5)).find((x) => x.username.toLowerCase() === n.toLowerCase());
  if (!u) throw new Error(`There is nobody called “${n}”.`);
  return u;
}

async function findUsers(text) {
  const out = [];
  for (const w of text.split(/[\s,]+/).filter(Boolean)) {
    const u = await findUser(w);
    S.users.set(u.id, u);
    if (u.id !== S.me && !out.includes(u.id)) out.push(u.id);
  }
  return out;
}

let searchSeq = 0;
async function searchPeople() {
  const q = $('people').value.trim().replace(/^@/, ''), seq = ++searchSeq, hint = $('people-hint');
  let users = [];
  if (q) {
    try { users = (await api.searchUsers(q, 8)).filter((u) => u.id !== S.me); } catch (e) {
      if (e.status !== 400) fail(e);   // 400: over 32 bytes, nobody has such a name
    }
  }
  if (seq !== searchSeq) return;
  hint.textContent = q && !users.length ? 'Nobody found.' : '';
  hint.hidden = !hint.textContent;
  users.forEach((u) => S.users.set(u.id, u));
  reconcile($('people-results'), users.map((u) => h('li', {},
    h('button', { type: 'button', onclick: () => talkTo(u) },
      dot(u), ' ', h('span', {}, u.display_name || u.username), ' ',
      h('span', { class: 'hint' }, '@' + u.username)))));
}

async function talkTo(u) {   // the direct conversation with u: the server's, or made now (201)
  try {
    const c = restConv(await api.createConversation({ direct: true, member_ids: [u.id] }));
    $('people').value = '';
    searchPeople();
    renderList();
    await openConv(c.id);
  } catch (e) { fail(e); }
}

// ---- writing
export function setReply(m) {
  S.replyTo = m;
  $('replying').hidden = !m;
  if (m) $('replying-text').textContent = `Replying to ${userName(S.users, m.author_id)}: `
    + snippet(m.body, 60);
}

function send() {
  const ta = $('compose'), body = ta.value, cid = S.current;
  if (!body.trim() || !cid) return;
  if (new TextEncoder().encode(body).length > 16384) return notice('A message can be at most 16 KiB.');
  const p = { id: 'p' + newKey(), key: newKey(), conversation_id: cid, author_id: S.me, body, pending: true,
    reply_to_id: S.replyTo ? S.replyTo.id : null, created_at: new Date().toISOString() };
  logOf(cid).pending.push(p);
  ta.value = '';
  grow();
  setReply(null);
  renderLog({ stick: true });
  deliver(p);
}

// Sent with its own Idempotency-Key, so a retry after a lost answer is never stored twice.
// 429 (too fast) waits its Retry-After and tries again, saying so meanwhile.
export async function deliver(p, tries = 0) {
  p.failed = null;
  try {
    const m = await api.send(p.conversation_id, p.body, p.reply_to_id, p.key);
    const log = logOf(p.conversation_id);
    log.pending = log.pending.filter((x) => x !== p);
    gotMessage(m, true);
  } catch (e) {
    const transient = e.status === 0 || e.status === 429 || (e.status >= 500 && e.status !== 507);
    if (transient && tries < 4) {
      p.note = e.status === 429 ? describe(e).replace(/Try again in/, 'Sending again in') : null;
      if (S.current === p.conversation_id) renderLog();
      return setTimeout(() => deliver(p, tries + 1), 1000 * (e.retryAfter || 2 ** tries));
    }
    if (e.status === 401) return;
    p.failed = describe(e);
  }
  p.note = null;
  if (S.current === p.conversation_id) renderLog();
}

function grow() {
  const ta = $('compose');
  ta.style.height = 'auto';
  ta.style.height = ta.scrollHeight + 2 + 'px';
}

// ---- wiring
function on(id, ev, fn) { $(id).addEventListener(ev, fn); }
const submit = (id, fn) => on(id, 'submit', (e) => { e.preventDefault(); fn(); });

function wire() {
  submit('auth-form', () => authSubmit(false));
  on('register', 'click', () => authSubmit(true));
  on('sign-out', 'click', () => signOut());
  on('alert-close', 'click', () => { $('alert').hidden = true; });
  let t;
  on('people', 'input', () => { clearTimeout(t); t = setTimeout(searchPeople, 200); });
  on('new-group', 'click', () => {
    const f = $('group-form');
    f.hidden = !f.hidden;
    $('new-group').setAttribute('aria-expanded', String(!f.hidden));
    if (!f.hidden) $('group-title').focus();
  });
  submit('group-form', async () => {
    try {
      const ids = await findUsers($('group-members').value);
      const title = $('group-title').value.trim();
      const c = restConv(await api.createConversation({ title, member_ids: ids }));
      $('group-form').hidden = true;
      $('group-title').value = $('group-members').value = '';
      await ensureUsers(c.member_ids);
      renderList();
      await openConv(c.id);
    } catch (e) { fail(e); }
  });
  on('back', 'click', closeConv);
  on('details-btn', 'click', () => showDetails($('details').hidden));
  submit('rename-form', async () => {
    const title = $('rename-title').value.trim();
    try { gotConvRest(await api.updateConversation(S.current, { title })); } catch (e) { fail(e); }
  });
  submit('add-form', async () => {
    try {
      const c = S.convs.get(S.current), ids = await findUsers($('add-members').value);
      await setMembers([...c.member_ids, ...ids.filter((id) => !c.member_ids.includes(id))]);
      $('add-members').value = '';
    } catch (e) { fail(e); }
  });
  on('delete-conv', 'click', async () => {
    const b = $('delete-conv');
    if (!b.dataset.sure) {
      b.dataset.sure = '1';
      b.textContent = 'Delete conversation: click again to confirm';
      return;
    }
    delete b.dataset.sure;
    b.textContent = 'Delete conversation';
    try { const id = S.current; await api.deleteConversation(id); lostConv(id); } catch (e) { fail(e); }
  });
  on('older-btn', 'click', () => S.current && loadOlder(S.current));
  new IntersectionObserver((es) => {
    const shown = es.some((e) => e.isIntersecting);
    if (shown && S.current && S.logs.get(S.current)?.msgs.size) loadOlder(S.current);
  }, { root: $('log') }).observe($('older'));
  on('log', 'scroll', () => {
    const el = $('log');
    if (el.scrollHeight - el.scrollTop - el.clientHeight < 60) readLatest();
  });
  submit('composer', send);
  on('reply-cancel', 'click', () => { setReply(null); $('compose').focus(); });
  on('compose', 'keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
    if (e.key === 'Escape' && S.replyTo) setReply(null);
    if (e.key === 'ArrowUp' && !$('compose').value) {   // edit my last message
      const log = S.logs.get(S.current);
      const m = log && [...log.msgs.values()].filter((x) => x.author_id === S.me && !x.deleted)
        .sort((a, b) => b.id - a.id)[0];
      if (m) { e.preventDefault(); msgCtx.edit(m); }
    }
  });
  on('compose', 'input', () => {
    grow();
    if ($('compose').value && live && Date.now() - S.typedAt > 2000) {
      S.typedAt = Date.now();
      live.typing(S.current);
    }
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !$('alert').hidden) $('alert').hidden = true;
  });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') { readLatest(); live?.kick(); }
  });
  window.addEventListener('online', () => live?.kick());
}

reset();
wire();
$('noscript').hidden = true;
start();
