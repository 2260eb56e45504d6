// api.js — every HTTP call the client makes to chatd's REST API, the session (token and
// signed-in user, kept in sessionStorage) and one human sentence for every error.

const KEY = 'chatd.session';

export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

let session = null;
try { session = JSON.parse(sessionStorage.getItem(KEY)); } catch { session = null; }
let onUnauthorized = () => {};

export const getSession = () => session;
export function setSession(token, user) {
  session = { token, user };
  sessionStorage.setItem(KEY, JSON.stringify(session));
}
export function clearSession() {
  session = null;
  sessionStorage.removeItem(KEY);
}
export function whenUnauthorized(fn) { onUnauthorized = fn; }

// A random Idempotency-Key (crypto.randomUUID exists only in secure contexts).
export function newKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

async function call(method, path, body, headers = {}) {
  const h = { ...headers };
  if (session) h.Authorization = 'Bearer ' + session.token;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers: h, cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server.');
  }
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (res.ok) return data;
  const e = (data && data.error) || {};
  const err = new ApiError(res.status, e.code || 'http_' + res.status, e.message || res.statusText,
    Number(res.headers.get('Retry-After')) || 0);
  if (res.status === 401 && session && !path.startsWith('/api/users/login')) onUnauthorized(err);
  throw err;
}

const q = (params) => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) s.set(k, v);
  return s.toString();
};

export const api = {
  register: (username, password, display_name) =>
    call('POST', '/api/users/register', { username, password, ...(display_name ? { display_name } : {}) }),
  login: (username, password) => call('POST', '/api/users/login', { username, password }),
  logout: () => call('POST', '/api/users/logout'),
  user: (id) => call('GET', '/api/users/' + id).then((d) => d.user),
  usersByIds: (ids) => call('GET', '/api/users?' + q({ ids: ids.join(',') })).then((d) => d.users),
  searchUsers: (prefix, limit = 8) =>
    call('GET', '/api/users?' + q({ q: prefix, limit })).then((d) => d.users),
  conversations: () => call('GET', '/api/conversations').then((d) => d.conversations),
  conversation: (id) => call('GET', '/api/conversations/' + id).then((d) => d.conversation),
  createConversation: (body) => call('POST', '/api/conversations', body).then((d) => d.conversation),
  updateConversation: (id, body) => call('PUT', '/api/conversations/' + id, body).then((d) => d.conversation),
  deleteConversation: (id) => call('DELETE', '/api/conversations/' + id),
  markRead: (id, message_id) => call('POST', `/api/conversations/${id}/read`, { message_id }),
  reads: (id) => call('GET', `/api/conversations/${id}/reads`).then((d) => d.reads),
  messages: (conversation_id, before, limit = 50) =>
    call('GET', '/api/messages?' + q({ conversation_id, before, limit })),
  message: (id) => call('GET', '/api/messages/' + id).then((d) => d.message),
  send: (conversation_id, body, reply_to_id, key) =>
    call('POST', '/api/messages', { conversation_id, body, ...(reply_to_id ? { reply_to_id } : {}) },
      { 'Idempotency-Key': key }).then((d) => d.message),
  edit: (id, body) => call('PUT', '/api/messages/' + id, { body }).then((d) => d.message),
  remove: (id) => call('DELETE', '/api/messages/' + id),
};

// One sentence a person can act on, for any error the API (or the network) gives.
export function describe(err) {
  if (!(err instanceof ApiError)) return 'Something went wrong: ' + (err && err.message);
  const wait = err.retryAfter ? ` Try again in ${err.retryAfter} s.` : ' Try again in a moment.';
  switch (err.status) {
    case 0: return 'Cannot reach the server. Check your connection and try again.';
    case 401: return session ? 'Your session has ended. Please sign in again.'
      : 'Wrong username or password.';
    case 403: return err.code === 'wrong_password' ? 'That password is wrong.'
      : 'You are not allowed to do that: ' + err.message;
    case 404: return 'Not found: it may have been deleted, or you are no longer a member.';
    case 409: return err.code === 'username_taken' ? 'That username is taken: choose another.' : err.message;
    case 413: return 'That is too long to send.';
    case 429: return (err.code === 'too_many_streams' ? 'Too many open windows: close one.'
      : err.code === 'rate_limited' ? 'You are sending too fast.' : 'Too many attempts.') + wait;
    case 503: return 'The server is busy.' + wait;
    case 507: return 'The server’s disk is full: nothing was stored. Try again later.';
    default:
      if (err.status >= 500) return `The server failed (${err.status}).` + wait;
      if (!err.message) return 'Request failed.';
      return err.message.charAt(0).toUpperCase() + err.message.slice(1) + '.';
  }
}
