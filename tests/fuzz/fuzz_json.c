/* fuzz_json.c — libFuzzer harness for the JSON decoder and encoder (src/json.h).
 * A parsed document is re-encoded (strings and keys through json_str): the output must be
 * valid UTF-8, parse again and re-encode to the same bytes. Numbers go through json_int,
 * keys through json_get. The raw input also goes through json_str and must come back. */
#include "json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: CHECK failed: %s\n", \
    __FILE__, __LINE__, #c); abort(); } } while (0)

static int same_key(const jval *a, const jval *b)
{
    return a->keylen == b->keylen && memcmp(a->key, b->key, a->keylen) == 0;
}

static void number(buf_t *b, const jval *v)
{
    int64_t i;
    CHECK(v->len && strlen(v->str) == v->len);
    int integral = !strpbrk(v->str, ".eE");
    if (json_int(v, &i) == 0) CHECK(integral && i == strtoll(v->str, NULL, 10));
    else CHECK(!integral || v->len > 18);   /* 18 digits always fit */
    buf_append(b, v->str, v->len);
}

static void emit(buf_t *b, const jval *v)
{
    static const char *const lit[] = { "null", "false", "true" };
    size_t n = 0;
    if (v->type <= J_TRUE) { buf_puts(b, lit[v->type]); return; }
    if (v->type == J_NUM) { number(b, v); return; }
    if (v->type == J_STR) {
        CHECK(utf8_valid(v->str, v->len) && v->str[v->len] == 0);
        json_str(b, v->str, v->len);
        return;
    }
    CHECK(v->type == J_ARR || v->type == J_OBJ);
    CHECK(!json_get(v->type == J_ARR ? v : NULL, ""));
    buf_putc(b, v->type == J_ARR ? '[' : '{');
    for (const jval *m = v->child; m; m = m->next, n++) {
        if (n) buf_putc(b, ',');
        if (v->type == J_OBJ) {
            CHECK(m->key && m->key[m->keylen] == 0 && utf8_valid(m->key, m->keylen));
            if (strlen(m->key) == m->keylen) {   /* json_get: found, and the last one wins */
                const jval *g = json_get(v, m->key);
                CHECK(g && same_key(g, m));
                for (const jval *x = g->next; x; x = x->next) CHECK(!same_key(x, m));
            }
            json_str(b, m->key, m->keylen);
            buf_putc(b, ':');
        }
        emit(b, m);
    }
    CHECK(n == v->len);
    buf_putc(b, v->type == J_ARR ? ']' : '}');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    jdoc d, d2;
    buf_t out, again;
    buf_init(&out), buf_init(&again);
    int shallow = json_parse(&d, s, size, 3);
    json_free(&d);
    if (json_parse(&d, s, size, JSON_MAX_DEPTH) == 0) {
        emit(&out, d.root);
        CHECK(utf8_valid(out.data, out.len));
        CHECK(json_parse(&d2, out.data, out.len, JSON_MAX_DEPTH) == 0);
        emit(&again, d2.root);
        CHECK(again.len == out.len && memcmp(again.data, out.data, out.len) == 0);
        json_free(&d2);
    } else {
        CHECK(shallow != 0);   /* a deeper limit never rejects what a shallower one took */
    }
    json_free(&d);
    buf_reset(&out);
    json_str(&out, s, size);   /* any bytes: valid UTF-8 out, a JSON string that decodes */
    CHECK(utf8_valid(out.data, out.len));
    CHECK(json_parse(&d, out.data, out.len, 1) == 0 && d.root->type == J_STR);
    if (utf8_valid(s, size)) CHECK(d.root->len == size && memcmp(d.root->str, s, size) == 0);
    json_free(&d);
    buf_free(&out), buf_free(&again);
    return 0;
}
