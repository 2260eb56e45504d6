// view.js — what is on screen, drawn from app.js's state S with render.js's builders: opening
// and closing a conversation, the message log (with its actions: reply, edit, delete, retry),
// the conversation list, the header and the details panel (rename, members, delete).
import { api } from './api.js';
import { h, userName, convName, peerOf, dot, convItem, messageItem, daySeparator, dayKey, reconcile }
  from './render.js';
import { S, $, deliver, ensureUsers, fail, gotMessage, loadOlder, loadReads, lostConv, lostMessage, notice,
  readLatest, restConv, setReply } from './app.js';

// ---- the open conversation
export async function openConv(cid) {
  if (S.current !== cid) {
    S.nodes.clear();
    Object.assign(S, { editing: null, confirming: null });
    setReply(null);
  }
  S.current = cid;
  history.replaceState(null, '', '#c' + cid);
  document.body.classList.add('in-chat');
  $('pick').hidden = true;
  $('chat-view').hidden = false;
  showDetails(false);
  renderHeader();
  renderList();
  renderLog({ stick: true });
  if (!S.logs.has(cid)) await loadOlder(cid);
  loadReads(cid);
  readLatest();
  if (S.current === cid && document.activeElement?.closest('#chat-view') == null) $('compose').focus();
}

export function closeConv() {
  S.current = null;
  document.body.classList.remove('in-chat');
  $('pick').hidden = false;
  $('chat-view').hidden = true;
  if (location.hash) history.replaceState(null, '', location.pathname);
  renderList();
}

function quoted(id) {   // the original of a reply: message, null (deleted) or undefined (loading)
  const m = S.logs.get(S.current)?.msgs.get(id);
  if (m) return m;
  if (!S.quotes.has(id)) {
    S.quotes.set(id, undefined);
    api.message(id).then((q) => S.quotes.set(id, q), () => S.quotes.set(id, null))
      .then(() => ensureUsers([S.quotes.get(id)?.author_id]).catch(() => {})).then(() => renderLog());
  }
  return S.quotes.get(id);
}

function seenBy(list) {   // "Seen by …" under my newest message the others have read
  const reads = S.reads.get(S.current);
  const mine = [...list].reverse().find((m) => m.author_id === S.me && !m.pending && !m.deleted);
  if (!reads || !mine) return {};
  const who = [...reads].filter(([uid, rid]) => uid !== S.me && rid >= mine.id)
    .map(([uid]) => userName(S.users, uid));
  return who.length ? { id: mine.id, text: 'Seen by ' + who.join(', ') } : {};
}

function cached(key, sig, make) {
  const hit = S.nodes.get(key);
  if (hit && hit.sig === sig) return hit.el;
  const el = make();
  S.nodes.set(key, { sig, el });
  return el;
}

export const msgCtx = {
  get me() { return S.me; }, get users() { return S.users; },
  get editing() { return S.editing; }, get confirming() { return S.confirming; },
  quoted, seen: () => null,
  jump(id) {
    const el = $('m' + id);
    if (!el) return notice('That message is further back: scroll up to load it.');
    el.scrollIntoView({ block: 'center' });
    el.classList.add('flash');
    setTimeout(() => el.classList.remove('flash'), 1500);
  },
  reply(m) { setReply(m); $('compose').focus(); },
  edit(m) {
    S.editing = m.id; S.confirming = null; renderLog();
    document.querySelector(`#m${m.id} textarea`)?.focus();
  },
  askDelete(m) {
    S.confirming = m.id; S.editing = null; renderLog();
    document.querySelector(`#m${m.id} .actions button`)?.focus();
  },
  cancel() {
    const id = S.editing || S.confirming;
    S.editing = S.confirming = null; renderLog(); focusMsg(id);
  },
  async save(m, text) {
    if (!text.trim()) return notice('A message cannot be empty: delete it instead.');
    try {
      if (text !== m.body) gotMessage(await api.edit(m.id, text), false);
      S.editing = null;
      renderLog();
      focusMsg(m.id);
    } catch (e) { fail(e); }
  },
  async remove(m) {
    try {
      await api.remove(m.id);
      S.confirming = null;
      lostMessage(m);
      $('compose').focus();
    } catch (e) { fail(e); }
  },
  retry: (m) => deliver(m),
  discard(m) {
    const log = S.logs.get(m.conversation_id);
    log.pending = log.pending.filter((x) => x !== m);
    renderLog();
  },
};
const focusMsg = (id) => document.querySelector(`#m${id} .actions button`)?.focus();

export function renderLog(opts = {}) {
  const log = S.logs.get(S.current), el = $('log');
  if (!log) return reconcile($('msgs'), []);
  const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 60;
  const list = [...log.msgs.values()].sort((a, b) => a.id - b.id).concat(log.pending);
  const seen = seenBy(list);
  const ctx = Object.create(msgCtx, { seen: { value: (m) => (m.id === seen.id ? seen.text : null) } });
  const nodes = [];
  let day = null;
  for (const m of list) {
    const d = dayKey(m.created_at);
    if (d !== day) nodes.push(cached('day ' + (day = d), d, () => daySeparator(m.created_at)));
    const q = m.reply_to_id ? quoted(m.reply_to_id) : undefined;
    const sig = JSON.stringify([m.body, m.edited, m.deleted, m.failed, m.note, S.editing === m.id,
      S.confirming === m.id, seen.id === m.id && seen.text, userName(S.users, m.author_id), q && q.body,
      q === null, q && userName(S.users, q.author_id)]);
    nodes.push(cached(m.id, sig, () => messageItem(m, ctx)));
  }
  reconcile($('msgs'), nodes);
  if (opts.stick || atBottom) el.scrollTop = el.scrollHeight;
  renderOlder();
  renderTyping();
}

export function renderOlder() {
  const log = S.logs.get(S.current);
  $('older-btn').hidden = !log || !log.hasMore || log.loading;
  $('older-text').textContent = !log ? '' : log.loading ? 'Loading…'
    : log.hasMore ? '' : 'This is the start of the conversation.';
}

export function renderTyping() {
  const now = Date.now(), t = S.typing.get(S.current);
  const who = t ? [...t].filter(([, until]) => until > now).map(([uid]) => userName(S.users, uid)) : [];
  $('typing').textContent = !who.length ? '' : who.length === 1 ? `${who[0]} is typing…`
    : who.slice(0, 3).join(', ') + ' are typing…';
}

export function renderHeader() {
  const c = S.convs.get(S.current);
  if (!c) return;
  $('chat-title').textContent = convName(c, S.users, S.me);
  renderDetails();
}

export function renderList() {
  const list = [...S.convs.values()].sort((a, b) =>
    (a.updated_at < b.updated_at) - (a.updated_at > b.updated_at) || b.id - a.id);
  const ctx = { me: S.me, users: S.users, current: S.current, open: (id) => openConv(id).catch(fail) };
  reconcile($('convs'), list.map((c) => {
    const peer = S.users.get(peerOf(c, S.me));
    const sig = JSON.stringify([convName(c, S.users, S.me), c.unread_count, c.id === S.current,
      c.last_message?.id,
      c.last_message?.body, peer?.online, peer?.last_seen_at]);
    return cached('conv ' + c.id, sig, () => convItem(c, ctx));
  }));
  $('no-convs').hidden = list.length > 0;
  const n = list.reduce((a, c) => a + (c.unread_count || 0), 0);
  document.title = n ? `(${n}) chatd` : 'chatd';
}

// ---- the details panel: rename, members, delete
export function showDetails(on) {
  $('details').hidden = !on;
  $('details-btn').setAttribute('aria-expanded', String(on));
  if (on) renderDetails();
}

export function renderDetails() {
  const c = S.convs.get(S.current);
  if (!c || $('details').hidden) return;
  const owner = c.owner_id, mayDrop = c.direct || owner === S.me;
  $('rename-form').hidden = $('add-form').hidden = !!c.direct;
  if (document.activeElement !== $('rename-title')) $('rename-title').value = c.title || '';
  $('delete-conv').hidden = !mayDrop;
  reconcile($('members'), c.member_ids.map((id) => h('li', {}, dot(S.users.get(id)),
    h('span', { class: 'grow' },
      userName(S.users, id) + (id === S.me ? ' (you)' : '') + (id === owner ? ' · owner' : '')),
    !c.direct && (id === S.me || mayDrop) ? h('button', { type: 'button', class: 'link',
      onclick: () => setMembers(c.member_ids.filter((x) => x !== id)) },
    id === S.me ? 'Leave' : 'Remove') : null)));
}

export async function setMembers(ids) {
  try { gotConvRest(await api.updateConversation(S.current, { member_ids: ids })); } catch (e) { fail(e); }
}

export function gotConvRest(c) {
  if (!c.member_ids.includes(S.me)) return lostConv(c.id);
  restConv(c);
  ensureUsers(c.member_ids).catch(() => {}).then(() => { renderList(); renderHeader(); });
}
