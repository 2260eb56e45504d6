// tests/web/chat.mjs — the built-in web client in a real Chromium (Debian's, driven by
// playwright-core), used only through accessible roles and names, as a screen reader would:
// two people in two browser contexts sign up, find each other ("Search people"), chat live in
// a direct conversation (unread counts the server keeps, "Seen by", typing, presence dots,
// edits, deletes, replies, a hostile body shown as text), make a group, page back through
// history, reload; the WebSocket cut while the other sends (every message then there
// exactly once, the send whose answer was lost retried under its Idempotency-Key); the error
// sentences (507, 429 on a send, a revoked token back to sign-in, the login throttle); a third
// person whose browser cannot open a WebSocket, live over the event stream instead; a phone
// screen; sign out. The page must make no request to another origin and log no console error.
// All against the real server; page.route() makes only the error answers and the network drop.
// Prints "ok - …"/"not ok - …" lines for tests/t_web_browser.sh to count.
//   node tests/web/chat.mjs BASE_URL [SCREENSHOT_DIR]
import { chromium } from 'playwright-core';

const BASE = process.argv[2];
const SHOTS = process.argv[3] || '';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const T = 20000;   // generous: the machine may be busy (a full make shell ran it at load 22)
let failures = 0;

function report(ok, what, detail) {
  console.log(`${ok ? 'ok' : 'not ok'} - ${what}${ok || !detail ? '' : ': ' + detail}`);
  if (!ok) failures++;
}
async function check(what, fn) {
  try { await fn(); report(true, what); } catch (e) { report(false, what, String(e.message || e).split('\n')[0]); }
}
async function until(fn, what, timeout = T) {   // poll fn() until it returns true
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try { if (await fn()) return; } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? ' (' + last.message.split('\n')[0] + ')' : ''}`);
}
const visible = (loc) => loc.waitFor({ state: 'visible', timeout: T });
const hidden = (loc) => loc.waitFor({ state: 'hidden', timeout: T });

// The signed-in person's token and user id, from the page's session
const session = (p) => p.page.evaluate(() => JSON.parse(sessionStorage.getItem('chatd.session')));

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
const problems = [];
let netErrorsExpected = false;
async function person(name, { noWebSocket = false } = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  if (noWebSocket) await ctx.addInitScript(() => {   // as behind a proxy that drops upgrades
    window.WebSocket = class extends EventTarget {
      constructor() { super(); this.readyState = 0; setTimeout(() => { this.readyState = 3; this.onclose?.({}); }, 50); }
      send() {}
      close() {}
    };
  });
  const page = await ctx.newPage();
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    // an API answer of 4xx is logged by Chromium itself; the client handles those (and a
    // v2 endpoint an older server lacks is a 404): only the API's may fail, never a file
    if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text()) &&
        new URL(m.location().url).pathname.startsWith('/api/')) return;
    // the failures sections 6 and 7 cause on purpose, as Chromium logs them
    if (netErrorsExpected && /^(Failed to load resource: |WebSocket connection to .* failed: )/.test(m.text())) return;
    problems.push(`${name}: console error: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => problems.push(`${name}: page error: ${e.message}`));
  page.on('request', (r) => { if (!r.url().startsWith(BASE + '/')) problems.push(`${name}: request to ${r.url()}`); });
  page.setDefaultTimeout(T);
  const p = { name, ctx, page, posts: [], reads: [], wsUrls: [], ws: null, hold: null };
  page.on('request', (r) => {   // every send, for the Idempotency-Key check; every read marker posted
    const path = new URL(r.url()).pathname;
    if (r.method() === 'POST' && path === '/api/messages')
      p.posts.push({ key: r.headers()['idempotency-key'], body: JSON.parse(r.postData()).body });
    if (r.method() === 'POST' && /^\/api\/conversations\/\d+\/read$/.test(path))
      p.reads.push(JSON.parse(r.postData()).message_id);
  });
  // The WebSocket through Playwright, so the test can cut it and hold the reconnect (p.hold)
  if (!noWebSocket) await ctx.routeWebSocket(/\/api\/ws/, async (ws) => {
    p.wsUrls.push(ws.url());
    while (p.hold) await p.hold;
    p.ws = ws;
    ws.connectToServer();
  });
  return p;
}
const shot = async (p, file) => { if (SHOTS) await p.page.screenshot({ path: `${SHOTS}/${file}.png` }); };

const tag = Date.now().toString(36).slice(-5);
const A = await person('alice'), B = await person('bob');
A.user = 'alice_' + tag; B.user = 'bob_' + tag;

const convs = (p) => p.page.getByRole('list', { name: 'Conversations' });
const convItem = (p, text) => convs(p).getByRole('listitem').filter({ hasText: text });
// the entry of the direct conversation with NAME (not a group whose last message NAME wrote)
const directItem = (p, name) => convs(p).getByRole('listitem')
  .filter({ has: p.page.getByRole('button', { name: new RegExp(`^(?:(?:on|off)line )?${name}(?: |$)`) }) });
const log = (p) => p.page.getByRole('log');
const msg = (p, text) => log(p).getByRole('listitem').filter({ hasText: text });
async function send(p, text) {
  await p.page.getByRole('textbox', { name: 'Message' }).fill(text);
  await p.page.getByRole('button', { name: 'Send' }).click();
  await visible(msg(p, text).filter({ hasNotText: 'Sending' }).last());
}

// ---- 1. the sign-in page, and accounts
for (const p of [A, B]) {
  await check(`${p.name}: the page loads with the sign-in form`, async () => {
    await p.page.goto(BASE + '/');
    await visible(p.page.getByRole('textbox', { name: 'Username' }));
    await visible(p.page.getByLabel('Password'));
    await visible(p.page.getByRole('button', { name: 'Sign in' }));
  });
}
await shot(A, 'sign-in');
await check('a wrong password is told, not thrown', async () => {
  await A.page.getByRole('textbox', { name: 'Username' }).fill('nobody_' + tag);
  await A.page.getByLabel('Password').fill('wrong-password');
  await A.page.getByRole('button', { name: 'Sign in' }).click();
  await visible(A.page.getByRole('alert').filter({ hasText: 'Wrong username or password' }));
});
for (const p of [A, B]) {
  await check(`${p.name}: creates an account and is signed in`, async () => {
    await p.page.getByRole('textbox', { name: 'Username' }).fill(p.user);
    await p.page.getByLabel('Password').fill('password123');
    await p.page.getByRole('textbox', { name: 'Display name' }).fill(p.name[0].toUpperCase() + p.name.slice(1));
    await p.page.getByRole('button', { name: 'Create account' }).click();
    await visible(p.page.getByRole('button', { name: 'Sign out' }));
    await visible(p.page.getByRole('textbox', { name: 'Search people' }));
    await visible(p.page.getByRole('status').filter({ hasText: 'Live' }));
  });
}

// ---- 2. Alice finds Bob with "Search people" and writes to him
const bobId = (await session(B)).user.id;
await check('alice finds bob with "Search people" and opens a conversation with him', async () => {
  await A.page.getByRole('textbox', { name: 'Search people' }).fill(B.user.slice(0, 6));
  await A.page.getByRole('list', { name: 'People found' }).getByRole('button', { name: 'Bob' }).click();
  await visible(directItem(A, 'Bob'));
  await visible(A.page.getByRole('heading', { name: 'Bob' }));
});
await check('it is a direct conversation: no title, no members to add; on the server direct, [alice, bob]', async () => {
  await A.page.getByRole('button', { name: 'Details' }).click();
  await visible(A.page.getByRole('region', { name: 'Conversation details' }).getByText('Bob'));
  for (const box of ['New title', 'Add people']) await hidden(A.page.getByRole('textbox', { name: box }));
  await A.page.getByRole('button', { name: 'Details' }).click();
  const { token, user } = await session(A);
  const list = (await (await fetch(BASE + '/api/conversations', { headers: { Authorization: 'Bearer ' + token } }))
    .json()).conversations;
  const c = list[0];
  if (list.length !== 1 || c.direct !== true || c.title !== '' || `${c.member_ids}` !== `${user.id},${bobId}`)
    throw new Error('on the server: ' + JSON.stringify(list));
});
await check('bob is online: a dot by his name in alice\'s list', () => visible(directItem(A, 'Bob').filter({ hasText: 'online' })));
await check('alice sends; the message shows in her log', () => send(A, 'hello bob'));
await check('bob gets the conversation live, with 1 unread', async () => {
  await visible(directItem(B, 'Alice').filter({ hasText: '1 unread' }));
  // a screen reader hears the entry as words: "Alice 1 unread Alice: hello bob"
  await visible(convs(B).getByRole('button', { name: /\bAlice 1 unread Alice: hello bob$/ }));
});
await shot(B, 'unread');
await check('bob opens it: the message is there and the unread count clears', async () => {
  await directItem(B, 'Alice').getByRole('button').click();
  await visible(msg(B, 'hello bob'));
  await hidden(directItem(B, 'Alice').filter({ hasText: 'unread' }));
});
await check('alice sees "Seen by Bob" (his read marker, live)', () =>
  visible(msg(A, 'hello bob').filter({ hasText: 'Seen by Bob' })));
await check('bob types: alice sees "Bob is typing…"', async () => {
  await B.page.getByRole('textbox', { name: 'Message' }).pressSequentially('hi al', { delay: 30 });
  await visible(A.page.getByText('Bob is typing…'));
});
await check('bob sends with Enter; alice gets it live', async () => {
  await B.page.getByRole('textbox', { name: 'Message' }).pressSequentially('ice');
  await B.page.getByRole('textbox', { name: 'Message' }).press('Enter');
  await visible(msg(A, 'hi alice'));
  await hidden(A.page.getByText('Bob is typing…'));
});

// ---- 3. hostile text stays text; replies; edit; delete
const evil = '<img src=x onerror="window.__pwned=1"><b>bold</b>';
await check('a hostile body is shown as text, not run', async () => {
  await send(A, evil);
  await visible(msg(B, evil));
  await until(async () => (await msg(B, evil).locator('p').first().textContent()).includes(evil), 'the body as text');
  if (await log(B).getByRole('img').count()) throw new Error('an <img> was made from the body');
  if (await B.page.evaluate(() => window.__pwned)) throw new Error('the onerror handler ran');
});
await check('bob replies to "hello bob": both see the quote', async () => {
  await msg(B, 'hello bob').getByRole('button', { name: 'Reply' }).click();
  await send(B, 'a reply');
  for (const p of [A, B]) await visible(msg(p, 'a reply').getByRole('link', { name: 'hello bob' }));
});
await check('alice edits her message: bob sees the new text, marked edited', async () => {
  await msg(A, 'hello bob').first().getByRole('button', { name: 'Edit' }).click();
  await A.page.getByRole('textbox', { name: 'Edit text' }).fill('hello bob, edited');
  await A.page.getByRole('button', { name: 'Save' }).click();
  await visible(msg(B, 'hello bob, edited').filter({ hasText: '(edited)' }));
});
await check('alice deletes the hostile message: bob sees it deleted', async () => {
  await msg(A, evil).getByRole('button', { name: 'Delete' }).click();
  await msg(A, evil).getByRole('button', { name: 'Yes, delete' }).click();
  await hidden(msg(B, evil));
  await visible(msg(B, 'This message was deleted.'));
});
await check('only her own messages have Edit and Delete', async () => {
  if (await msg(A, 'hi alice').getByRole('button', { name: 'Edit' }).count()) throw new Error('Edit on bob\'s message');
});
await shot(A, 'conversation');

// ---- 4. a group: made with a title and members, renamed, seen by the other
let holding = true;   // the first such request only
await B.page.route(/\/api\/conversations\/\d+$/, async (route) => {
  if (!holding) return route.fallback();
  holding = false;
  const res = await route.fetch();
  await new Promise((go) => { B.held = go; });
  await route.fulfill({ response: res });
  B.held = 'answered';
});
await check('alice makes a group with bob; bob sees it', async () => {
  await A.page.getByRole('button', { name: 'New group' }).click();
  await A.page.getByRole('textbox', { name: 'Group title' }).fill('Team ' + tag);
  await A.page.getByRole('textbox', { name: 'Members' }).fill(B.user);
  await A.page.getByRole('button', { name: 'Create group' }).click();
  await visible(A.page.getByRole('heading', { name: 'Team ' + tag }));
  await visible(convItem(B, 'Team ' + tag));
});
// Bob's client asks for the new group when its event comes; the test holds that answer (made
// before alice's first message) until the message's event is in: it must not undo it
await check('an answer older than the events does not undo them: bob keeps the group\'s unread message', async () => {
  await until(() => B.held, 'bob asking for the new group');
  await send(A, 'first in team');
  await visible(convItem(B, 'Team').filter({ hasText: '1 unread' }));
  B.held();
  await until(() => B.held === 'answered', 'the old answer given');
  await B.page.unroute(/\/api\/conversations\/\d+$/);
  await B.page.waitForTimeout(1000);   // and taken in
  if (!await convItem(B, 'Team').filter({ hasText: '1 unread Alice: first in team' }).count())
    throw new Error('bob\'s entry now reads: ' + await convItem(B, 'Team').textContent());
});
await check('alice renames it; bob sees the new title', async () => {
  await A.page.getByRole('button', { name: 'Details' }).click();
  await A.page.getByRole('textbox', { name: 'New title' }).fill('Crew ' + tag);
  await A.page.getByRole('button', { name: 'Rename' }).click();
  await visible(convItem(B, 'Crew ' + tag));
});
await check('the list is ordered by activity: the group first, then the direct one after a new message', async () => {
  await until(async () => (await convs(B).getByRole('listitem').first().textContent()).includes('Crew'), 'group first');
  await directItem(A, 'Bob').getByRole('button').click();
  await send(A, 'back to you');
  await until(async () => (await convs(B).getByRole('listitem').first().textContent()).includes('Alice'), 'direct first');
});
await visible(msg(B, 'back to you'));
await shot(B, 'main');   // the README's docs/web-client.png

// ---- 5. a reload keeps the session and the history; infinite scroll upward
await check('bob reloads: still signed in, the conversation and its history are back', async () => {
  await B.page.reload();
  await visible(B.page.getByRole('button', { name: 'Sign out' }));
  await visible(msg(B, 'hello bob, edited').first());
  await visible(msg(B, 'back to you'));
});
await shot(B, 'after-reload');
await check('bob scrolls up through 130 older messages (before=)', async () => {
  const { token } = await session(A);
  const cid = Number((await A.page.evaluate(() => location.hash)).slice(2)), reads = B.reads.length;
  for (let i = 1; i <= 130; i++) {
    const r = await fetch(BASE + '/api/messages', { method: 'POST', body: JSON.stringify({ conversation_id: cid,
      body: `old ${i}` }), headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' } });
    if (r.status === 429) { await new Promise((ok) => setTimeout(ok, 1000 * (+r.headers.get('Retry-After') || 1))); i--; }
    else if (r.status !== 201) throw new Error('POST /api/messages: ' + r.status);
  }
  await convItem(B, 'Crew').getByRole('button').click();
  await directItem(B, 'Alice').getByRole('button').click();
  await visible(msg(B, 'old 130'));
  console.log(`# bob posted ${B.reads.length - reads} read markers for the 130 messages`);
  const start = B.page.getByText('This is the start of the conversation.');
  await until(async () => {
    await log(B).evaluate((el) => { el.scrollTop = 0; });
    return start.isVisible();
  }, 'the start of the conversation', 30000);
  const n = await log(B).getByRole('listitem').filter({ hasText: /old \d+/ }).count();
  if (n !== 130) throw new Error(`${n} of the 130 in the log`);
  await visible(msg(B, 'hello bob, edited').first());
});

// ---- 5b. carol's browser cannot open a WebSocket: the client falls back to the event stream;
// alice adds her to the group, and she gets it and its messages live
const C = await person('carol', { noWebSocket: true });
C.user = 'carol_' + tag;
await check('carol (no WebSocket) signs up and is live over the event stream', async () => {
  await C.page.goto(BASE + '/');
  await C.page.getByRole('textbox', { name: 'Username' }).fill(C.user);
  await C.page.getByLabel('Password').fill('password123');
  await C.page.getByRole('button', { name: 'Create account' }).click();
  await visible(C.page.getByRole('status').filter({ hasText: 'Live (event stream)' }));
});
await check('alice adds carol to the group: carol sees it and a new message live, unread', async () => {
  await convItem(A, 'Crew').getByRole('button').click();
  await A.page.getByRole('button', { name: 'Details' }).click();
  await A.page.getByRole('textbox', { name: 'Add people' }).fill(C.user);
  await A.page.getByRole('button', { name: 'Add', exact: true }).click();
  await visible(convItem(C, 'Crew'));
  await send(A, 'welcome carol');
  await visible(convItem(C, 'Crew').filter({ hasText: '2 unread' }));   // and "first in team": no marker yet
  await convItem(C, 'Crew').getByRole('button').click();
  await visible(msg(C, 'welcome carol'));
});
await check('alice removes carol from the group: it leaves carol\'s list, and she is told', async () => {
  await A.page.getByRole('region', { name: 'Conversation details' }).getByRole('listitem')
    .filter({ hasText: C.user }).getByRole('button', { name: 'Remove' }).click();
  await hidden(convItem(C, 'Crew'));
  await visible(C.page.getByRole('alert').filter({ hasText: 'you are no longer in it' }));
  await directItem(A, 'Bob').getByRole('button').click();
});
await C.ctx.close();
// Read state: bob has the direct conversation open while alice writes in the group
await check('read state: unread counts are the server\'s (a reload keeps them), reading clears them for good', async () => {
  const reads = A.reads.length;
  await convItem(A, 'Crew').getByRole('button').click();
  await send(A, 'crew one');
  await send(A, 'crew two');
  if (A.reads.length !== reads) throw new Error(`alice posted /read for her own messages: ${A.reads.slice(reads)}`);
  await visible(convItem(B, 'Crew').filter({ hasText: '3 unread' }));   // with "welcome carol"
  await B.page.reload();
  await visible(convItem(B, 'Crew').filter({ hasText: '3 unread' }));   // unread_count from the server
  await visible(msg(B, 'old 130'));
  if (await directItem(B, 'Alice').filter({ hasText: 'unread' }).count()) throw new Error('the direct one is unread');
  await convItem(B, 'Crew').getByRole('button').click();
  await hidden(convItem(B, 'Crew').filter({ hasText: 'unread' }));
  await visible(msg(A, 'crew two').filter({ hasText: 'Seen by Bob' }));   // conversation.read, live
  await directItem(B, 'Alice').getByRole('button').click();
  await B.page.reload();
  await visible(msg(B, 'old 130'));
  await visible(convItem(B, 'Crew'));
  if (await convItem(B, 'Crew').filter({ hasText: 'unread' }).count()) throw new Error('the group is unread again');
  const { token } = await session(B);
  const crew = (await (await fetch(BASE + '/api/conversations', { headers: { Authorization: 'Bearer ' + token } }))
    .json()).conversations.find((c) => c.title === 'Crew ' + tag);
  if (crew.unread_count !== 0 || crew.last_read_message_id !== crew.last_message_id)
    throw new Error(`the server has bob's marker at ${crew.last_read_message_id} of ${crew.last_message_id}`);
  await directItem(A, 'Bob').getByRole('button').click();   // bob reads a new one live: "Seen by"
  await send(A, 'are you there');
  await visible(msg(A, 'are you there').filter({ hasText: 'Seen by Bob' }));
});

await check('people search: nobody found; found by name ignoring case, it opens the same conversation', async () => {
  await A.page.getByRole('textbox', { name: 'Search people' }).fill('zz' + tag);
  await visible(A.page.getByText('Nobody found.'));
  await A.page.getByRole('textbox', { name: 'Search people' }).fill(B.user.toUpperCase());
  await A.page.getByRole('list', { name: 'People found' }).getByRole('button', { name: 'Bob' }).click();
  await visible(A.page.getByRole('heading', { name: 'Bob' }));
  if (await convs(A).getByRole('listitem').count() !== 2) throw new Error('a second conversation with bob');
});
await check('bob finds alice: the same direct conversation opens (the server\'s, not a second one)', async () => {
  await B.page.getByRole('textbox', { name: 'Search people' }).fill(A.user);
  await B.page.getByRole('list', { name: 'People found' }).getByRole('button', { name: 'Alice' }).click();
  await visible(B.page.getByRole('heading', { name: 'Alice' }));
  await visible(msg(B, 'old 130'));
  if (await convs(B).getByRole('listitem').count() !== 2) throw new Error('a second conversation with alice');
});

// ---- 6. the network drops: bob's WebSocket is cut and his reconnect held while alice sends
// (the answer to her first send is lost too, so it is sent again with the same key)
const exactly = async (p, text, n = 1) => {
  const c = await log(p).getByRole('listitem').filter({ has: p.page.getByText(text, { exact: true }) }).count();
  if (c !== n) throw new Error(`${p.name} has "${text}" ${c} times`);
};
netErrorsExpected = true;
let release;
await check('bob\'s WebSocket is cut: alice sees him go offline (presence, the server\'s grace 0)', async () => {
  B.hold = new Promise((r) => { release = r; });
  const conns = B.wsUrls.length;
  await B.ws.close();
  await until(() => B.wsUrls.length > conns, 'bob trying to reconnect');
  await visible(B.page.getByRole('status').filter({ hasText: 'Connecting…' }));
  await shot(B, 'reconnecting');
  await visible(directItem(A, 'Bob').filter({ hasText: 'offline' }));
});
await check('alice sends while bob is cut off: after the reconnect each message is there exactly once', async () => {
  const texts = [1, 2, 3].map((i) => `drop ${i} ${tag}`);
  let lost = 0;
  await A.page.route('**/api/messages', async (route) => {
    if (route.request().method() !== 'POST' || lost++) return route.fallback();
    await route.fetch();                     // stored on the server...
    await route.abort('connectionreset');    // ...but the answer never reaches alice
  });
  for (const t of texts) await send(A, t);
  await A.page.unroute('**/api/messages');
  if (await msg(B, 'drop 1').count()) throw new Error('bob got a message while cut off');
  B.hold = null;
  release();
  await visible(B.page.getByRole('status').filter({ hasText: /^Live$/ }));
  if (!/[?&]last_event_id=\d+/.test(B.wsUrls.at(-1))) throw new Error('reconnected without last_event_id: ' + B.wsUrls.at(-1));
  for (const t of texts) await visible(msg(B, t));
  await B.page.waitForTimeout(1000);   // let any duplicate arrive
  for (const p of [A, B]) for (const t of texts) await exactly(p, t);
  await visible(directItem(A, 'Bob').filter({ hasText: 'online' }));   // and he is back online
  const first = A.posts.filter((x) => x.body === texts[0]);
  if (lost < 1 || first.length !== 2 || first[0].key !== first[1].key)
    throw new Error(`the lost send was posted ${first.length} times, keys ${first.map((x) => x.key)}`);
});

// ---- 7. errors: each told in a sentence (507 and 429 answers made by the test; 401 and the
// login throttle's 429 real)
const fake = (status, code, extra = {}) => (route) => (route.request().method() !== 'POST' ? route.fallback()
  : route.fulfill({ status, contentType: 'application/json', headers: extra,
    body: JSON.stringify({ error: { code, message: code.replace(/_/g, ' ') } }) }));
await check('a 507 on send: "the disk is full: nothing was stored"; Retry sends it once', async () => {
  const t = 'after the disk filled ' + tag;
  await A.page.route('**/api/messages', fake(507, 'insufficient_storage'));
  await A.page.getByRole('textbox', { name: 'Message' }).fill(t);
  await A.page.getByRole('button', { name: 'Send' }).click();
  await visible(msg(A, t).filter({ hasText: 'Not sent: The server’s disk is full: nothing was stored.' }));
  await shot(A, 'disk-full');
  await A.page.unroute('**/api/messages');
  await msg(A, t).getByRole('button', { name: 'Retry' }).click();
  await visible(msg(B, t));
  await visible(msg(A, t).filter({ hasNotText: 'Not sent' }));
  for (const p of [A, B]) await exactly(p, t);
});
await check('a 429 on send: "sending too fast", with the wait; then it goes by itself, once', async () => {
  const t = 'too fast ' + tag;
  await A.page.route('**/api/messages', fake(429, 'rate_limited', { 'Retry-After': '2' }), { times: 1 });
  await A.page.getByRole('textbox', { name: 'Message' }).fill(t);
  await A.page.getByRole('button', { name: 'Send' }).click();
  await visible(msg(A, t).filter({ hasText: 'You are sending too fast. Sending again in 2 s.' }));
  await visible(msg(B, t));
  for (const p of [A, B]) await exactly(p, t);
});
await check('every send carried an Idempotency-Key, one per message', async () => {
  const all = [...A.posts, ...B.posts], byKey = new Map();
  if (all.length < 10) throw new Error(`only ${all.length} sends seen`);
  for (const x of all) {
    if (!x.key || x.key.length > 128) throw new Error(`a send of "${x.body}" with key ${x.key}`);
    if (byKey.has(x.key) && byKey.get(x.key) !== x.body) throw new Error(`key ${x.key} used for two messages`);
    byKey.set(x.key, x.body);
  }
  if (new Set(all.map((x) => x.body)).size !== byKey.size) throw new Error('a message sent under two keys');
});
await check('alice\'s token is revoked: she is back at sign-in, told why; signing in brings her back', async () => {
  const { token } = await session(A);
  const r = await fetch(BASE + '/api/users/logout', { method: 'POST', headers: { Authorization: 'Bearer ' + token } });
  if (r.status !== 204) throw new Error('logout: ' + r.status);
  await visible(A.page.getByRole('alert').filter({ hasText: 'Your session has ended. Please sign in again.' }));
  await visible(A.page.getByRole('textbox', { name: 'Username' }));
  await shot(A, 'signed-out');
  await A.page.getByRole('textbox', { name: 'Username' }).fill(A.user);
  await A.page.getByLabel('Password').fill('password123');
  await A.page.getByRole('button', { name: 'Sign in' }).click();
  await visible(A.page.getByRole('button', { name: 'Sign out' }));
  await visible(convItem(A, 'Crew'));
});
await check('ten failed sign-ins: the next is refused with the wait in seconds', async () => {
  const who = 'mallory_' + tag;
  for (let i = 0; i < 10; i++)
    await fetch(BASE + '/api/users/login', { method: 'POST', body: JSON.stringify({ username: who, password: 'nopenopenope' }) });
  await A.page.getByRole('button', { name: 'Sign out' }).click();
  await A.page.getByRole('textbox', { name: 'Username' }).fill(who);
  await A.page.getByLabel('Password').fill('nopenopenope');
  await A.page.getByRole('button', { name: 'Sign in' }).click();
  await visible(A.page.getByRole('alert').filter({ hasText: /^Too many attempts\. Try again in [1-6]?\d s\./ }));
  await A.page.getByRole('textbox', { name: 'Username' }).fill(A.user);   // and back as herself
  await A.page.getByLabel('Password').fill('password123');
  await A.page.getByRole('button', { name: 'Sign in' }).click();
  await visible(directItem(A, 'Bob').filter({ hasText: 'online' }));
});

netErrorsExpected = false;

// ---- 8. phone-sized: one column, with a way back
await check('on a phone-sized screen the list and the conversation take turns', async () => {
  await B.page.setViewportSize({ width: 380, height: 700 });
  await hidden(convs(B));
  await B.page.getByRole('button', { name: 'Back' }).click();
  await visible(convs(B));
  await shot(B, 'phone');
  await B.page.setViewportSize({ width: 1000, height: 700 });
});

// ---- 9. sign out
await check('bob signs out: back to the sign-in form, and a reload stays there', async () => {
  await B.page.getByRole('button', { name: 'Sign out' }).click();
  await visible(B.page.getByRole('textbox', { name: 'Username' }));
  await B.page.reload();
  await visible(B.page.getByRole('textbox', { name: 'Username' }));
  if (await B.page.evaluate(() => sessionStorage.length)) throw new Error('sessionStorage still holds the session');
});
await check('bob is offline for alice now, and her list says when he was last seen', async () => {
  const item = directItem(A, 'Bob').filter({ hasText: 'offline' });
  await visible(item);
  if (!/^offline, last seen /.test(await item.locator('[title]').first().getAttribute('title')))
    throw new Error('no "last seen" on the dot');
});

report(problems.length === 0, 'no console errors, no page errors, no request to another origin', problems.join('; '));
await browser.close();
console.log(`# ${failures} failed`);
process.exit(failures ? 1 : 0);
