// render.js — building the page's pieces from data: an element helper that only ever makes
// text nodes from strings (never HTML), names and times, conversation list items, message
// items with their quote, state and actions, and day separators. No state of its own.

// h('li', {class: 'x', onclick: f}, 'text', child...): strings become text nodes.
export function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of kids.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

// users: Map id -> user, or null for one known to be gone.
export function userName(users, id) {
  const u = users.get(id);
  if (u === null) return 'Deleted user';
  return u ? u.display_name || u.username : 'User #' + id;
}

export const others = (c, me) => (c.member_ids || []).filter((id) => id !== me);

// The other person of a direct conversation (null when they deleted their account).
export const peerOf = (c, me) => (c.direct && others(c, me)[0]) || null;

export function convName(c, users, me) {
  if (c.title && !c.direct) return c.title;
  const o = others(c, me);
  if (!o.length) return c.direct ? 'Deleted user' : 'Just you';
  const names = o.slice(0, 3).map((id) => userName(users, id)).join(', ');
  return names + (o.length > 3 ? ` +${o.length - 3}` : '');
}

// A presence dot; its tooltip says when an offline person was last seen.
export function dot(user) {
  if (!user) return null;
  const label = user.online ? 'online' : 'offline';
  const seen = !user.online && user.last_seen_at
    ? ', last seen ' + new Date(user.last_seen_at).toLocaleString() : '';
  return h('span', { class: 'dot' + (user.online ? ' on' : ''), title: label + seen },
    h('span', { class: 'sr' }, label));
}

const dayKey = (iso) => new Date(iso).toDateString();
function dayLabel(iso) {
  const d = new Date(iso), now = new Date();
  if (d.toDateString() === now.toDateString()) return 'Today';
  if (d.toDateString() === new Date(now - 86400000).toDateString()) return 'Yesterday';
  return d.toLocaleDateString(undefined, { weekday: 'long', day: 'numeric', month: 'long',
    year: d.getFullYear() === now.getFullYear() ? undefined : 'numeric' });
}
const timeLabel = (iso) =>
  new Date(iso).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });

export const snippet = (s, n = 80) => (s.length > n ? s.slice(0, n - 1) + '…' : s).replace(/\s+/g, ' ');

// One entry of the conversation list: name (presence for a direct one), unread, preview.
export function convItem(c, ctx) {
  const peer = peerOf(c, ctx.me);
  const n = c.unread_count || 0;
  const last = c.last_message;
  return h('li', {},
    h('button', { type: 'button', 'aria-current': c.id === ctx.current ? 'true' : null,
      onclick: () => ctx.open(c.id) },
      peer ? [dot(ctx.users.get(peer)), ' '] : null,   // spaces: the button's name reads as words
      h('span', { class: 'name' }, convName(c, ctx.users, ctx.me)),
      n ? [' ', h('span', { class: 'badge' }, String(n), h('span', { class: 'sr' }, ' unread'))] : null,
      last ? [' ', h('span', { class: 'preview' }, (last.author_id === ctx.me ? 'You'
        : userName(ctx.users, last.author_id)) + ': ' + snippet(last.body, 60))] : null));
}

export function daySeparator(iso) {
  const label = dayLabel(iso);
  return h('li', { class: 'day', role: 'separator', 'aria-label': label }, label);
}
export { dayKey };

// The quote above a reply: the original's author and start, or that it is gone.
function quote(m, ctx) {
  const q = ctx.quoted(m.reply_to_id);   // message, null (deleted) or undefined (loading)
  const text = q === undefined ? 'an earlier message' : q === null || q.deleted ? 'a deleted message'
    : userName(ctx.users, q.author_id) + ': ' + snippet(q.body);
  return h('a', { class: 'quote', href: '#m' + m.reply_to_id,
    onclick: (e) => { e.preventDefault(); ctx.jump(m.reply_to_id); } }, '↪ ' + text);
}

// A message of the log. ctx: me, users, quoted(id), jump(id), editing, confirming, seen(m),
// and the actions reply(m), edit(m), save(m, text), cancel(), askDelete(m), remove(m), retry(m), discard(m).
export function messageItem(m, ctx) {
  const mine = m.author_id === ctx.me;
  const cls = ['msg', mine && 'mine', m.deleted && 'deleted', m.pending && 'pending', m.failed && 'failed'];
  const li = h('li', { class: cls.filter(Boolean).join(' '), id: 'm' + m.id, 'data-id': m.id });
  if (m.reply_to_id && !m.deleted) li.append(quote(m, ctx));
  li.append(h('div', { class: 'meta' },
    h('span', { class: 'author' }, mine ? 'You' : userName(ctx.users, m.author_id)),
    h('time', { datetime: m.created_at, title: new Date(m.created_at).toLocaleString() },
      timeLabel(m.created_at)),
    m.edited && !m.deleted ? h('span', { class: 'edited' }, '(edited)') : null));
  if (ctx.editing === m.id) {
    const ta = h('textarea', { 'aria-label': 'Edit text', rows: 2, maxlength: 16384 });
    ta.value = m.body;
    const save = () => ctx.save(m, ta.value);
    ta.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); save(); }
      if (e.key === 'Escape') ctx.cancel();
    });
    li.append(ta, h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'link', onclick: save }, 'Save'),
      h('button', { type: 'button', class: 'link', onclick: ctx.cancel }, 'Cancel')));
    return li;
  }
  li.append(h('p', { class: 'body' }, m.deleted ? 'This message was deleted.' : m.body));
  if (m.pending) {
    li.append(h('p', { class: 'state' }, m.failed ? 'Not sent: ' + m.failed : m.note || 'Sending…'));
    if (m.failed) li.append(h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'link', onclick: () => ctx.retry(m) }, 'Retry'),
      h('button', { type: 'button', class: 'link', onclick: () => ctx.discard(m) }, 'Discard')));
    return li;
  }
  if (m.deleted) return li;
  if (ctx.confirming === m.id) {
    li.append(h('div', { class: 'actions' }, h('span', { class: 'hint' }, 'Delete this for everyone?'),
      h('button', { type: 'button', class: 'link', onclick: () => ctx.remove(m) }, 'Yes, delete'),
      h('button', { type: 'button', class: 'link', onclick: ctx.cancel }, 'Keep')));
  } else {
    const act = (label, fn) => h('button', { type: 'button', class: 'link', onclick: () => fn(m) }, label);
    li.append(h('div', { class: 'actions' },
      act('Reply', ctx.reply),
      mine ? act('Edit', ctx.edit) : null,
      mine ? act('Delete', ctx.askDelete) : null));
  }
  const seen = ctx.seen(m);
  if (seen) li.append(h('p', { class: 'seen' }, seen));
  return li;
}

// Puts `nodes` into `parent` in order, moving only what changed (a focused node that stays
// in place keeps its focus; the scroll position holds).
export function reconcile(parent, nodes) {
  let cur = parent.firstChild;
  for (const n of nodes) {
    if (n === cur) { cur = cur.nextSibling; continue; }
    parent.insertBefore(n, cur);
  }
  while (cur) { const next = cur.nextSibling; cur.remove(); cur = next; }
}
