/* json.h — strict RFC 8259 decoder (into a small tree) and encoder helpers (into a buf_t).
 * The decoder rejects: trailing commas, leading zeros, comments, bad escapes, lone
 * surrogates, invalid or overlong UTF-8, control characters in strings, trailing garbage,
 * nesting deeper than the given limit. A jdoc owns every node and string it hands out. */
#ifndef CHATD_JSON_H
#define CHATD_JSON_H
#include "buf.h"
#include <stdint.h>

typedef enum { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jval {
    jtype type;
    const char *str;      /* J_STR: decoded UTF-8, NUL-terminated (may hold \0: use len);
                             J_NUM: the number's source text, NUL-terminated */
    size_t len;           /* J_STR/J_NUM: byte length; J_ARR/J_OBJ: number of children */
    struct jval *child;   /* J_ARR/J_OBJ: first element / member */
    struct jval *next;    /* next sibling in the parent array/object */
    const char *key;      /* member of an object: decoded key, NUL-terminated */
    size_t keylen;
} jval;

typedef struct jdoc {
    jval *root;
    void *arena;          /* private: the decoder's allocations, freed by json_free */
} jdoc;

#define JSON_MAX_DEPTH 64

/* Parse exactly one JSON text from s[0..n). 0 on success (d->root set), -1 on any error.
 * On error nothing needs freeing, but json_free is safe to call anyway. */
int json_parse(jdoc *d, const char *s, size_t n, int max_depth);
void json_free(jdoc *d);

/* Object member by key (the last one wins when a key repeats); NULL if absent or obj is
 * not an object. */
const jval *json_get(const jval *obj, const char *key);

/* A J_NUM written as an integer (no fraction, no exponent) that fits in int64_t: 0 and
 * *out set; otherwise (not a number, fraction/exponent, out of range) -1. */
int json_int(const jval *v, int64_t *out);

/* Encoder: append s[0..n) as a quoted JSON string. Escapes '"', '\\' and all control
 * characters (\b \f \n \r \t, others as \u00XX); invalid UTF-8 bytes become U+FFFD so
 * the output is always valid UTF-8. */
void json_str(buf_t *b, const char *s, size_t n);
void json_cstr(buf_t *b, const char *s);   /* json_str(b, s, strlen(s)) */

/* 1 if s[0..n) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF), else 0. */
int utf8_valid(const char *s, size_t n);

#endif
