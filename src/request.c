/* request.c — what handlers need from a request: the caller's user from a bearer token (the
 * token -> user map, with the last token's hash cached per connection), a JSON object body,
 * a string field, character counts, the 400 validation answer, and the caller's write rate. */
#include "server.h"
#include "crypto.h"
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* A positive decimal id without sign, zeros in front or overflow; else -1. */
int64_t parse_id(const char *p, size_t n) { uint64_t v; return http_uint(p, n, 0, 18, &v) ? -1 : (int64_t)v; }

void invalid(server *s, conn *c, const char *why) { respond_error(s, c, 400, "validation_failed", why); }

int get_str(const jval *obj, const char *key, const jval **v)
{
    *v = json_get(obj, key);
    if (!*v || (*v)->type == J_NULL) return 0;
    return (*v)->type == J_STR ? 1 : -1;
}

size_t utf8_chars(const char *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)p[i] & 0xC0) != 0x80;
    return k;
}

/* The user of a presented token, or NULL (nothing answered). */
static user *token_find(server *s, conn *c, const char *text, size_t n, uint32_t *uid, uint8_t tokhash[32])
{
    uint8_t hash[32];
    int ok;
    if (text && n == c->auth_len && ct_equal(text, c->auth_text, n)) {   /* as last time */
        memcpy(hash, c->auth_hash, sizeof hash);
        ok = 1;
    } else if ((ok = text && token_hash(text, n, hash) == 0) && n <= sizeof c->auth_text) {
        memcpy(c->auth_text, text, n);   /* clients send the same token again: skip the SHA-256 */
        memcpy(c->auth_hash, hash, sizeof hash);
        c->auth_len = n;
    }
    uint64_t *v = ok ? map_get(&s->db.tokens, hash, sizeof hash) : NULL;
    int live = v && !policy_token_expired(*v, s->cfg.token_ttl_s, s->now_ms);
    user *u = live ? db_user(&s->db, (uint32_t)*v) : NULL;
    if (!u) return NULL;
    *uid = (uint32_t)*v;
    if (tokhash) memcpy(tokhash, hash, sizeof hash);
    return u;
}

/* The user of a presented token (text, n), or NULL after answering 401. */
user *token_user(server *s, conn *c, const char *text, size_t n, uint32_t *uid, uint8_t tokhash[32])
{
    user *u = token_find(s, c, text, n, uid, tokhash);
    if (!u) respond_error(s, c, 401, "unauthorized", "missing or invalid token");
    return u;
}

/* The bearer token's user; answer: 401 when there is none (else NULL, nothing answered). */
static user *bearer_user(server *s, conn *c, http_req *r, uint32_t *uid, uint8_t tokhash[32], int answer)
{
    const http_header *h = http_header_get(r, "Authorization");
    int bearer = h && h->value_len > 7 && strncasecmp(h->value, "Bearer ", 7) == 0;
    const char *t = bearer ? h->value + 7 : NULL;
    size_t n = bearer ? h->value_len - 7 : 0;
    return answer ? token_user(s, c, t, n, uid, tokhash) : token_find(s, c, t, n, uid, tokhash);
}

user *auth_user(server *s, conn *c, http_req *r, uint32_t *uid, uint8_t tokhash[32])
{
    return bearer_user(s, c, r, uid, tokhash, 1);
}

const jval *parse_body(server *s, conn *c, http_req *r, jdoc *doc)
{
    if (json_parse(doc, r->body, r->body_len, JSON_MAX_DEPTH) < 0) {
        respond_error(s, c, 400, "invalid_json", "the body is not valid JSON");
        return NULL;
    }
    if (doc->root->type != J_OBJ) {
        json_free(doc);
        respond_error(s, c, 400, "validation_failed", "the body must be a JSON object");
        return NULL;
    }
    return doc->root;
}

/* --write-rate N: each user's writes pass a token bucket of N a second with bursts of 5N,
 * kept as one number per user (GCRA's "theoretical arrival time", in microseconds). Over it:
 * 429 rate_limited with Retry-After, and 1. Without a valid token the handler answers 401. */
int over_write_rate(server *s, conn *c, http_req *r)
{
    uint32_t uid;
    if (!bearer_user(s, c, r, &uid, NULL, 0)) return 0;
    uint8_t k[4];
    put_le32(k, uid);
    int64_t now = s->now_ms * 1000, every = 1000000 / s->cfg.write_rate;
    int64_t burst = every * (5 * (int64_t)s->cfg.write_rate - 1);
    uint64_t *v = map_get(&s->write_tat, k, sizeof k);
    int64_t tat = v && (int64_t)*v > now ? (int64_t)*v : now;
    if (tat - now > burst) {
        char h[48];
        snprintf(h, sizeof h, "Retry-After: %lld\r\n", (long long)((tat - now - burst + 999999) / 1000000));
        respond_error_x(s, c, 429, "rate_limited", "too many writes; try again later", h);
        return 1;
    }
    if (v) *v = (uint64_t)(tat + every);
    else map_put(&s->write_tat, k, sizeof k, (uint64_t)(tat + every));
    return 0;
}
