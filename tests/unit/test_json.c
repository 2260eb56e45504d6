/* test_json.c — unit tests for src/json.c: valid and invalid corpora, tree shape,
 * json_int, json_get, the string encoder (escapes, U+FFFD replacement, round trips) and
 * utf8_valid. Every expected value is written out literally. */
#include "json.h"
#include "t.h"
#include <stdlib.h>
#include <time.h>

typedef struct { const char *s; size_t n; } tcase;
#define C(lit) { lit, sizeof(lit) - 1 }   /* length-aware: literals may hold \0 */
#define PARSE(d, lit, depth) json_parse((d), (lit), sizeof(lit) - 1, (depth))

#define DIG10 "1234567890"
#define DIG100 DIG10 DIG10 DIG10 DIG10 DIG10 DIG10 DIG10 DIG10 DIG10 DIG10

static const tcase valid[] = {
    C("{}"), C("[]"), C("0"), C("-0"), C("1"), C("-1"), C("123"), C("1.5"), C("-0.0"),
    C("1e5"), C("1E5"), C("1e+5"), C("1e-5"), C("-0.0e-0"), C("0E+1"), C("1.25E-10"),
    C("1e400"), C("-1e-400"), C(DIG100), C("-" DIG100), C("[1e400]"),
    C("true"), C("false"), C("null"), C("\"\""), C("\"abc\""),
    C(" \t\r\n1 \t\r\n"), C("\n[ 1 ,\t2 ]\r\n"), C("{ \"a\" : 1 }"), C("\t\"x\""),
    C("[[[]]]"), C("[1,[2,[3,[4]]]]"), C("{\"a\":{\"b\":[{}]}}"), C("[{},[],\"\",0]"),
    C("{\"\":0}"), C("{\"a\":1,\"a\":2}"), C("[true,false,null]"),
    C("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""), C("\"\\u0000\""), C("\"\\u0041\\u00e9\\u00E9\""),
    C("\"\\ud83d\\ude00\""), C("\"\\uD83D\\uDE00\""), C("\"\\udbff\\udfff\""),
    C("\"\\uffff\""), C("\"/\""), C("\"\x7f\""),
    C("\"\xC3\xA9\""), C("\"\xE2\x82\xAC\""), C("\"\xF0\x9F\x98\x80\""),
    C("\"\xF4\x8F\xBF\xBF\""), C("\"\xED\x9F\xBF\""), C("\"\xEE\x80\x80\""),
    C("\"\xEF\xBB\xBF\""), C("{\"\xC3\xA9\":\"\xE2\x82\xAC\"}"),
};

static const tcase invalid[] = {
    /* empty, structure, trailing garbage */
    C(""), C(" "), C("\t\r\n"), C("["), C("]"), C("{"), C("}"), C("[1"), C("{\"a\":1"),
    C("[1,]"), C("[1,2,]"), C("{\"a\":1,}"), C("[,]"), C("[,1]"), C("[1,,2]"), C("{,}"),
    C("[1 2]"), C("{\"a\" 1}"), C("{\"a\"}"), C("{\"a\":}"), C("{a:1}"), C("{1:1}"),
    C("{\"a\":1 \"b\":2}"), C("{\"a\",1}"), C("[}"), C("{]"), C("[]]"), C("{}}"),
    C("{} x"), C("1 2"), C("[1]x"), C("[1]\0"), C("\"a\"\"b\""), C("nulll"), C("truex"),
    /* literals */
    C("tru"), C("nul"), C("f"), C("True"), C("NULL"), C("NaN"), C("Infinity"),
    C("-Infinity"), C("undefined"),
    /* numbers */
    C("01"), C("-01"), C("00"), C("-00"), C("+1"), C(".5"), C("-.5"), C("1."), C("1.e5"),
    C("1e"), C("1e+"), C("1E-"), C("-"), C("--1"), C("0x10"), C("0X1F"), C("1_000"),
    C("1.5.5"), C("1e5e5"), C("[01]"), C("[-]"), C("- 1"),
    /* comments, quotes, whitespace outside RFC 8259's four */
    C("[1]//c"), C("/*c*/1"), C("[1,/*c*/2]"), C("# c\n1"), C("'a'"), C("{'a':1}"),
    C("\f1"), C("\v1"), C("\xC2\xA0" "1"), C("\xEF\xBB\xBF{}"),
    /* strings: unterminated, control bytes, bad escapes */
    C("\""), C("\"abc"), C("\"\\\""), C("\"\\"), C("\"\x01\""), C("\"\x1f\""), C("\"\t\""),
    C("\"\n\""), C("\"a\0b\""), C("\"\\x41\""), C("\"\\a\""), C("\"\\U0041\""),
    C("\"\\'\""), C("\"\\0\""), C("\"\\u12\""), C("\"\\u12G4\""), C("\"\\u\""),
    C("\"\\u004\""), C("\"\\\x01\""),
    /* lone or unpaired surrogates */
    C("\"\\ud800\""), C("\"\\udbff\""), C("\"\\udc00\""), C("\"\\udfff\""),
    C("\"\\ud800\\u0041\""), C("\"\\ud800\\ud800\""), C("\"\\ud800x\""),
    C("\"\\ud800\\\""), C("\"\\ud800\\n\""), C("\"\\ude00\\ud83d\""), C("\"\\ud83d\\u\""),
    /* invalid UTF-8 in strings and elsewhere */
    C("\"\xC0\x80\""), C("\"\xC1\xBF\""), C("\"\xE0\x80\x80\""), C("\"\xE0\x9F\xBF\""),
    C("\"\xF0\x8F\xBF\xBF\""), C("\"\xED\xA0\x80\""), C("\"\xED\xBF\xBF\""),
    C("\"\xF4\x90\x80\x80\""), C("\"\xF5\x80\x80\x80\""), C("\"\xFF\""), C("\"\xFE\""),
    C("\"\xE2\x82\""), C("\"\xF0\x9F\x98\""), C("\"\xC3\""), C("\"\x80\""), C("\"\xBF\""),
    C("\"a\xC3\xA9\x80\""), C("[\"\xC3\"]"), C("\xC3\xA9"), C("[1]\xFF"),
};

/* Parse from an exactly-sized heap copy so ASan catches any read past n. */
static int parse_exact(jdoc *d, const char *s, size_t n, int max_depth)
{
    char *copy = malloc(n ? n : 1);
    memcpy(copy, s, n);
    int rc = json_parse(d, copy, n, max_depth);
    free(copy);             /* the tree must not point into the input */
    return rc;
}

static void test_corpora(void)
{
    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++) {
        jdoc d;
        int rc = parse_exact(&d, valid[i].s, valid[i].n, JSON_MAX_DEPTH);
        if (rc) fprintf(stderr, "valid[%zu] rejected: %s\n", i, valid[i].s);
        CHECK_EQ_INT(rc, 0);
        CHECK(d.root != NULL);
        json_free(&d);
        CHECK(d.root == NULL);
    }
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        jdoc d;
        int rc = parse_exact(&d, invalid[i].s, invalid[i].n, JSON_MAX_DEPTH);
        if (!rc) fprintf(stderr, "invalid[%zu] accepted: %s\n", i, invalid[i].s);
        CHECK_EQ_INT(rc, -1);
        CHECK(d.root == NULL && d.arena == NULL);
        json_free(&d);       /* documented as safe after an error */
    }
}

/* n is honoured: the input need not be NUL-terminated, and bytes past n are ignored. */
static void test_length(void)
{
    jdoc d;
    CHECK_EQ_INT(json_parse(&d, "[1]garbage", 3, 8), 0);
    CHECK_EQ_INT(d.root->type, J_ARR);
    json_free(&d);
    CHECK_EQ_INT(json_parse(&d, "\"ab\"", 3, 8), -1);
    CHECK_EQ_INT(json_parse(&d, "123", 2, 8), 0);
    CHECK_STR(d.root->str, "12");
    json_free(&d);
    CHECK_EQ_INT(PARSE(&d, "", 8), -1);
    CHECK_EQ_INT(json_parse(&d, NULL, 0, 8), -1);
}

static void test_tree(void)
{
    static const char doc[] =
        "{\"a\":[1,\"x\",true,false,null,{},[]],\"b\":{\"c\":\"d\"},"
        "\"\":-1.5e3,\"k\\u0000\":7}";
    jdoc d;
    CHECK_EQ_INT(parse_exact(&d, doc, sizeof doc - 1, JSON_MAX_DEPTH), 0);
    const jval *r = d.root, *a, *e, *b;
    CHECK_EQ_INT(r->type, J_OBJ);
    CHECK_EQ_INT(r->len, 4);
    CHECK(r->key == NULL && r->next == NULL);
    a = r->child;
    CHECK_STR(a->key, "a");
    CHECK_EQ_INT(a->keylen, 1);
    CHECK_EQ_INT(a->type, J_ARR);
    CHECK_EQ_INT(a->len, 7);
    e = a->child;
    CHECK(e->key == NULL);
    CHECK_EQ_INT(e->type, J_NUM);
    CHECK_STR(e->str, "1");
    CHECK_EQ_INT(e->len, 1);
    e = e->next;
    CHECK_EQ_INT(e->type, J_STR);
    CHECK_STR(e->str, "x");
    CHECK_EQ_INT(e->len, 1);
    e = e->next;
    CHECK_EQ_INT(e->type, J_TRUE);
    e = e->next;
    CHECK_EQ_INT(e->type, J_FALSE);
    e = e->next;
    CHECK_EQ_INT(e->type, J_NULL);
    e = e->next;
    CHECK_EQ_INT(e->type, J_OBJ);
    CHECK_EQ_INT(e->len, 0);
    CHECK(e->child == NULL);
    e = e->next;
    CHECK_EQ_INT(e->type, J_ARR);
    CHECK_EQ_INT(e->len, 0);
    CHECK(e->child == NULL);
    CHECK(e->next == NULL);
    b = a->next;
    CHECK_STR(b->key, "b");
    CHECK_EQ_INT(b->type, J_OBJ);
    CHECK_EQ_INT(b->len, 1);
    CHECK_STR(b->child->key, "c");
    CHECK_STR(b->child->str, "d");
    e = b->next;
    CHECK_STR(e->key, "");
    CHECK_EQ_INT(e->keylen, 0);
    CHECK_EQ_INT(e->type, J_NUM);
    CHECK_STR(e->str, "-1.5e3");
    CHECK_EQ_INT(e->len, 6);
    e = e->next;
    CHECK_EQ_INT(e->keylen, 2);
    CHECK_MEM(e->key, "k\0", 3);
    CHECK(e->next == NULL);
    json_free(&d);
}

static void check_string(const char *json, const char *want, size_t wantlen)
{
    jdoc d;
    CHECK_EQ_INT(parse_exact(&d, json, strlen(json), 4), 0);
    if (!d.root) return;
    CHECK_EQ_INT(d.root->type, J_STR);
    CHECK_EQ_INT(d.root->len, wantlen);
    if (d.root->len == wantlen) CHECK_MEM(d.root->str, want, wantlen + 1);  /* + NUL */
    json_free(&d);
}

static void test_strings(void)
{
    check_string("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8);
    check_string("\"\\u0041\\u00e9\\u00E9\\u20ac\"", "A\xC3\xA9\xC3\xA9\xE2\x82\xAC", 8);
    check_string("\"\\ud83d\\ude00\"", "\xF0\x9F\x98\x80", 4);
    check_string("\"\\uD83D\\uDE00\"", "\xF0\x9F\x98\x80", 4);
    check_string("\"\\udbff\\udfff\"", "\xF4\x8F\xBF\xBF", 4);
    check_string("\"\\ud800\\udc00\"", "\xF0\x90\x80\x80", 4);
    check_string("\"\\u0000\"", "\0", 1);
    check_string("\"a\\u0000b\"", "a\0b", 3);
    check_string("\"\\u007f\\u0080\\u07ff\\u0800\\uffff\"",
                 "\x7F\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF", 11);
    check_string("\"\xC3\xA9\xF0\x9F\x98\x80/\"", "\xC3\xA9\xF0\x9F\x98\x80/", 7);
    check_string("\"\"", "", 0);
}

/* depth 1 = one level of [] or {}; arrays and objects both count. */
static void test_depth(void)
{
    size_t big = 100000;
    char *s = malloc(2 * big + 8);
    jdoc d;
    memset(s, '[', 64);
    memset(s + 64, ']', 64);
    CHECK_EQ_INT(json_parse(&d, s, 128, 64), 0);
    json_free(&d);
    memset(s, '[', 65);
    memset(s + 65, ']', 65);
    CHECK_EQ_INT(json_parse(&d, s, 130, 64), -1);
    CHECK_EQ_INT(json_parse(&d, s, 130, 65), 0);
    json_free(&d);
    CHECK_EQ_INT(PARSE(&d, "[]", 1), 0);
    json_free(&d);
    CHECK_EQ_INT(PARSE(&d, "[[]]", 1), -1);
    CHECK_EQ_INT(PARSE(&d, "[{}]", 1), -1);
    CHECK_EQ_INT(PARSE(&d, "{\"a\":[]}", 1), -1);
    CHECK_EQ_INT(PARSE(&d, "{\"a\":{\"b\":[1]}}", 3), 0);
    json_free(&d);
    CHECK_EQ_INT(PARSE(&d, "{\"a\":{\"b\":[1]}}", 2), -1);
    CHECK_EQ_INT(PARSE(&d, "[[1],[2],[3]]", 2), 0);   /* siblings don't add up */
    json_free(&d);
    CHECK_EQ_INT(PARSE(&d, "7", 0), 0);                /* scalars need no depth */
    json_free(&d);
    CHECK_EQ_INT(PARSE(&d, "[]", 0), -1);

    /* 100000 '[': rejected at the limit, fast, without deep C recursion. */
    memset(s, '[', big);
    clock_t t0 = clock();
    CHECK_EQ_INT(json_parse(&d, s, big, JSON_MAX_DEPTH), -1);
    CHECK((double)(clock() - t0) / CLOCKS_PER_SEC < 0.1);
    /* With a huge limit it must still not overflow the stack (the parser is iterative). */
    CHECK_EQ_INT(json_parse(&d, s, big, 1 << 30), -1);
    memset(s + big, ']', big);
    CHECK_EQ_INT(json_parse(&d, s, 2 * big, (int)big), 0);
    if (d.root) CHECK_EQ_INT(d.root->len, 1);
    json_free(&d);
    CHECK_EQ_INT(json_parse(&d, s, 2 * big, (int)big - 1), -1);
    free(s);
}

/* Wide and long inputs stay linear; a quadratic parser would take seconds here. */
static void test_large(void)
{
    buf_t b;
    jdoc d;
    buf_init(&b);
    buf_putc(&b, '[');
    for (int i = 0; i < 200000; i++) buf_puts(&b, i ? ",\"ab\\n\"" : "\"ab\\n\"");
    buf_putc(&b, ']');
    clock_t t0 = clock();
    CHECK_EQ_INT(json_parse(&d, b.data, b.len, 4), 0);
    CHECK_EQ_INT(d.root->len, 200000);
    CHECK_EQ_INT(d.root->child->len, 3);
    json_free(&d);
    buf_reset(&b);
    buf_putc(&b, '"');
    for (int i = 0; i < 500000; i++) buf_puts(&b, "\\u00e9");
    buf_putc(&b, '"');
    CHECK_EQ_INT(json_parse(&d, b.data, b.len, 4), 0);
    CHECK_EQ_INT(d.root->len, 1000000);
    json_free(&d);
    CHECK((double)(clock() - t0) / CLOCKS_PER_SEC < 2.0);
    buf_free(&b);
}

static void test_int(void)
{
    static const struct { const char *s; int ok; int64_t v; } cases[] = {
        { "0", 0, 0 }, { "-0", 0, 0 }, { "7", 0, 7 }, { "-7", 0, -7 },
        { "1234567890", 0, 1234567890 }, { "-1234567890123", 0, -1234567890123LL },
        { "9223372036854775807", 0, INT64_MAX },
        { "-9223372036854775807", 0, -INT64_MAX },
        { "-9223372036854775808", 0, INT64_MIN },
        { "9223372036854775808", -1, 0 }, { "-9223372036854775809", -1, 0 },
        { "9223372036854775810", -1, 0 }, { "18446744073709551616", -1, 0 },
        { "99999999999999999999", -1, 0 }, { DIG100, -1, 0 }, { "-" DIG100, -1, 0 },
        { "1.0", -1, 0 }, { "1e2", -1, 0 }, { "1E2", -1, 0 }, { "-0.0", -1, 0 },
        { "1e400", -1, 0 }, { "\"1\"", -1, 0 }, { "true", -1, 0 }, { "null", -1, 0 },
        { "[1]", -1, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        jdoc d;
        int64_t v = 42;
        CHECK_EQ_INT(json_parse(&d, cases[i].s, strlen(cases[i].s), 4), 0);
        int rc = json_int(d.root, &v);
        if (rc != cases[i].ok) fprintf(stderr, "json_int(%s) = %d\n", cases[i].s, rc);
        CHECK_EQ_INT(rc, cases[i].ok);
        CHECK(v == (cases[i].ok ? 42 : cases[i].v));   /* untouched on failure */
        json_free(&d);
    }
    int64_t v;
    CHECK_EQ_INT(json_int(NULL, &v), -1);
}

static void test_get(void)
{
    static const char doc[] = "{\"a\":1,\"b\":\"x\",\"a\":2,\"\":3,\"n\\u0000\":4,\"A\":5,"
                              "\"\xC3\xA9\":6,\"long\":7}";
    jdoc d;
    int64_t v = 0;
    CHECK_EQ_INT(json_parse(&d, doc, sizeof doc - 1, 4), 0);
    const jval *o = d.root;
    CHECK(json_get(o, "a") && json_int(json_get(o, "a"), &v) == 0 && v == 2);
    CHECK(json_get(o, "b") && json_get(o, "b")->type == J_STR);
    CHECK(json_get(o, "") && json_int(json_get(o, ""), &v) == 0 && v == 3);
    CHECK(json_get(o, "A") && json_int(json_get(o, "A"), &v) == 0 && v == 5);
    CHECK(json_get(o, "\xC3\xA9") && json_int(json_get(o, "\xC3\xA9"), &v) == 0 && v == 6);
    CHECK(json_get(o, "n") == NULL);      /* "n\0" must not match the shorter "n" */
    CHECK(json_get(o, "lon") == NULL);
    CHECK(json_get(o, "longer") == NULL);
    CHECK(json_get(o, "c") == NULL);
    CHECK(json_get(NULL, "a") == NULL);
    CHECK(json_get(o->child, "a") == NULL); /* a number is not an object */
    json_free(&d);
    CHECK_EQ_INT(PARSE(&d, "[{\"a\":1}]", 4), 0);
    CHECK(json_get(d.root, "a") == NULL);   /* arrays have no keys */
    json_free(&d);
    CHECK_EQ_INT(PARSE(&d, "{\"a\":1,\"a\":\"s\",\"a\":null}", 4), 0);
    CHECK(json_get(d.root, "a") && json_get(d.root, "a")->type == J_NULL);
    json_free(&d);
}

typedef struct { const char *in; size_t inlen; const char *out; } enc_case;
#define E(in, out) { in, sizeof(in) - 1, out }

static void test_encode(void)
{
    static const enc_case cases[] = {
        E("", "\"\""), E("abc", "\"abc\""), E("\"", "\"\\\"\""), E("\\", "\"\\\\\""),
        E("/", "\"/\""), E("\b", "\"\\b\""), E("\f", "\"\\f\""), E("\n", "\"\\n\""),
        E("\r", "\"\\r\""), E("\t", "\"\\t\""), E("\0", "\"\\u0000\""),
        E("\x01", "\"\\u0001\""), E("\x0b", "\"\\u000b\""), E("\x1f", "\"\\u001f\""),
        E("\x7f", "\"\\u007f\""), E("a\0b", "\"a\\u0000b\""), E(" ~", "\" ~\""),
        E("x\"y\\z\n", "\"x\\\"y\\\\z\\n\""),
        /* valid multi-byte kept as is */
        E("\xC3\xA9", "\"\xC3\xA9\""), E("\xE2\x82\xAC", "\"\xE2\x82\xAC\""),
        E("\xF0\x9F\x98\x80", "\"\xF0\x9F\x98\x80\""),
        E("\xF4\x8F\xBF\xBF", "\"\xF4\x8F\xBF\xBF\""),
        E("\xC2\x80\xDF\xBF", "\"\xC2\x80\xDF\xBF\""),
        /* invalid: one U+FFFD per bad byte or per truncated sequence */
        E("\xFF", "\"\xEF\xBF\xBD\""), E("\x80", "\"\xEF\xBF\xBD\""),
        E("\xC0\x80", "\"\xEF\xBF\xBD\xEF\xBF\xBD\""),
        E("\xE0\x80\x80", "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""),
        E("\xED\xA0\x80", "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""),
        E("\xF4\x90\x80\x80", "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""),
        E("\xE2\x82", "\"\xEF\xBF\xBD\""), E("\xF0\x9F\x98", "\"\xEF\xBF\xBD\""),
        E("\xE2\x82" "A", "\"\xEF\xBF\xBD" "A\""), E("\xC3", "\"\xEF\xBF\xBD\""),
        E("a\xC3" "b\xC3\xA9", "\"a\xEF\xBF\xBD" "b\xC3\xA9\""),
        E("\xF0\x9F\x98\xC3\xA9", "\"\xEF\xBF\xBD\xC3\xA9\""),
    };
    buf_t b;
    buf_init(&b);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        buf_reset(&b);
        json_str(&b, cases[i].in, cases[i].inlen);
        if (strcmp(b.data, cases[i].out) != 0) fprintf(stderr, "encode case %zu\n", i);
        CHECK_EQ_INT(b.len, strlen(cases[i].out));
        CHECK_STR(b.data, cases[i].out);
        CHECK_EQ_INT(utf8_valid(b.data, b.len), 1);
    }
    buf_reset(&b);
    buf_puts(&b, "x=");
    json_cstr(&b, "h\"i");
    CHECK_STR(b.data, "x=\"h\\\"i\"");
    buf_free(&b);
}

/* encode then parse gives back exactly the original bytes for valid UTF-8 input. */
static void test_roundtrip(void)
{
    static const tcase cases[] = {
        C(""), C("plain"), C("a\0b"), C("\0\0"), C("\"\\/\b\f\n\r\t"), C("\x01\x1f\x7f"),
        C("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF"), C("tab\there"),
    };
    char all[128];
    for (int i = 0; i < 128; i++) all[i] = (char)i;
    buf_t b;
    buf_init(&b);
    for (size_t i = 0; i <= sizeof cases / sizeof *cases; i++) {
        const char *in = i < sizeof cases / sizeof *cases ? cases[i].s : all;
        size_t n = i < sizeof cases / sizeof *cases ? cases[i].n : sizeof all;
        jdoc d;
        buf_reset(&b);
        json_str(&b, in, n);
        CHECK_EQ_INT(json_parse(&d, b.data, b.len, 1), 0);
        if (!d.root) continue;
        CHECK_EQ_INT(d.root->type, J_STR);
        CHECK_EQ_INT(d.root->len, n);
        if (d.root->len == n) CHECK_MEM(d.root->str, in, n);
        json_free(&d);
    }
    buf_free(&b);
}

static void test_utf8(void)
{
    static const struct { const char *s; size_t n; int ok; } cases[] = {
        { "", 0, 1 }, { "\0", 1, 1 }, { "abc", 3, 1 }, { "\x7F", 1, 1 },
        { "\xC2\x80", 2, 1 }, { "\xDF\xBF", 2, 1 }, { "\xE0\xA0\x80", 3, 1 },
        { "\xED\x9F\xBF", 3, 1 }, { "\xEE\x80\x80", 3, 1 }, { "\xEF\xBF\xBF", 3, 1 },
        { "\xF0\x90\x80\x80", 4, 1 }, { "\xF4\x8F\xBF\xBF", 4, 1 },
        { "a\xC3\xA9z", 4, 1 },
        { "\x80", 1, 0 }, { "\xBF", 1, 0 }, { "\xC0\x80", 2, 0 }, { "\xC1\xBF", 2, 0 },
        { "\xE0\x80\x80", 3, 0 }, { "\xE0\x9F\xBF", 3, 0 }, { "\xED\xA0\x80", 3, 0 },
        { "\xED\xBF\xBF", 3, 0 }, { "\xF0\x80\x80\x80", 4, 0 }, { "\xF0\x8F\xBF\xBF", 4, 0 },
        { "\xF4\x90\x80\x80", 4, 0 }, { "\xF5\x80\x80\x80", 4, 0 },
        { "\xF8\x88\x80\x80\x80", 5, 0 },
        { "\xFE", 1, 0 }, { "\xFF", 1, 0 }, { "\xC3", 1, 0 }, { "\xE2\x82", 2, 0 },
        { "\xF0\x9F\x98", 3, 0 }, { "\xC3\x41", 2, 0 }, { "\xE2\x41\x82", 3, 0 },
        { "\xC3\xA9\x80", 3, 0 }, { "\xC3\xA9", 1, 0 },   /* n cuts the sequence */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int got = utf8_valid(cases[i].s, cases[i].n);
        if (got != cases[i].ok) fprintf(stderr, "utf8 case %zu\n", i);
        CHECK_EQ_INT(got, cases[i].ok);
    }
}

int main(void)
{
    test_corpora();
    test_length();
    test_tree();
    test_strings();
    test_depth();
    test_large();
    test_int();
    test_get();
    test_encode();
    test_roundtrip();
    test_utf8();
    return t_report("json");
}
