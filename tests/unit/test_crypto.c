/* test_crypto.c — known-answer tests for crypto.c (SHA-256, HMAC, PBKDF2, ct_equal,
 * SHA-1, base64). Expected values are hard-coded from FIPS 180-4, RFC 4231,
 * RFC 6455 and RFC 4648; PBKDF2 from the widely published SHA-256 analogues of the
 * RFC 6070 vectors (cross-checked against Python's hashlib when written). */
#include "crypto.h"
#include "t.h"
#include <stdlib.h>

static const char ABC448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

/* Lower-case hex of n bytes into a static buffer (tests are single-threaded). */
static const char *hex(const uint8_t *p, size_t n)
{
    static char s[2 * 64 + 1];
    for (size_t i = 0; i < n; i++) snprintf(s + 2 * i, 3, "%02x", p[i]);
    s[2 * n] = '\0';
    return s;
}

static const char *sha256_hex(const void *p, size_t n)
{
    uint8_t d[32];
    sha256(p, n, d);
    return hex(d, 32);
}

static void test_sha256(void)
{
    CHECK_STR(sha256_hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK_STR(sha256_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_STR(sha256_hex(ABC448, 56), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

    const char *million = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    CHECK_STR(sha256_hex(a, 1000000), million);
    sha256_ctx c;
    uint8_t d[32];
    sha256_init(&c);
    for (int i = 0; i < 1000; i++) sha256_update(&c, a, 1000);   /* 1000 is not a multiple of 64 */
    sha256_final(&c, d);
    CHECK_STR(hex(d, 32), million);
    free(a);

    /* Every split point of a 130-byte message (crosses two block boundaries). */
    uint8_t msg[130], one[32];
    for (int i = 0; i < 130; i++) msg[i] = (uint8_t)(i * 7 + 3);
    sha256(msg, sizeof msg, one);
    CHECK_STR(hex(one, 32), "4d5e47a2e8510a314576c238f6ff19d389d3ef3aaaca8b2e530263a5d15741da");
    int bad = 0;
    for (size_t i = 0; i <= sizeof msg; i++) {
        sha256_init(&c);
        sha256_update(&c, msg, i);
        sha256_update(&c, msg + i, sizeof msg - i);
        sha256_final(&c, d);
        bad += memcmp(d, one, 32) != 0;
    }
    CHECK_EQ_INT(bad, 0);
}

static const char *hmac_hex(const void *k, size_t kn, const void *m, size_t mn, size_t outn)
{
    uint8_t d[32];
    hmac_sha256(k, kn, m, mn, d);
    return hex(d, outn);
}

static void test_hmac(void)   /* RFC 4231 test cases 1-7 */
{
    uint8_t k[131], m[50];
    memset(k, 0x0b, 20);
    CHECK_STR(hmac_hex(k, 20, "Hi There", 8, 32),
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    CHECK_STR(hmac_hex("Jefe", 4, "what do ya want for nothing?", 28, 32),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(k, 0xaa, 20);
    memset(m, 0xdd, 50);
    CHECK_STR(hmac_hex(k, 20, m, 50, 32),
              "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    for (int i = 0; i < 25; i++) k[i] = (uint8_t)(i + 1);
    memset(m, 0xcd, 50);
    CHECK_STR(hmac_hex(k, 25, m, 50, 32),
              "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    memset(k, 0x0c, 20);
    CHECK_STR(hmac_hex(k, 20, "Test With Truncation", 20, 16), "a3b6167473100ee06e0c796c2955552b");
    memset(k, 0xaa, 131);
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    CHECK_STR(hmac_hex(k, 131, m6, strlen(m6), 32),
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    const char *m7 = "This is a test using a larger than block-size key and a larger than block-size "
                     "data. The key needs to be hashed before being used by the HMAC algorithm.";
    CHECK_STR(hmac_hex(k, 131, m7, strlen(m7), 32),
              "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

static const char *pbkdf2_hex(const char *pw, size_t pn, const char *s, size_t sn, uint32_t c, size_t n)
{
    uint8_t d[64];
    pbkdf2_sha256(pw, pn, s, sn, c, d, n);
    return hex(d, n);
}

static void test_pbkdf2(void)
{
    CHECK_STR(pbkdf2_hex("password", 8, "salt", 4, 1, 32),
              "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
    CHECK_STR(pbkdf2_hex("password", 8, "salt", 4, 2, 32),
              "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43");
    CHECK_STR(pbkdf2_hex("password", 8, "salt", 4, 4096, 32),
              "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a");
    CHECK_STR(pbkdf2_hex("passwordPASSWORDpassword", 24, "saltSALTsaltSALTsaltSALTsaltSALTsalt", 36, 4096, 40),
              "348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1c635518c7dac47e9");
    CHECK_STR(pbkdf2_hex("pass\0word", 9, "sa\0lt", 5, 4096, 16), "89b69d0516f829893c696226650a8687");
}

static const char *sha1_hex(const void *p, size_t n)
{
    uint8_t d[20];
    sha1(p, n, d);
    return hex(d, 20);
}

static void test_sha1(void)
{
    CHECK_STR(sha1_hex("abc", 3), "a9993e364706816aba3e25717850c26c9cd0d89d");
    CHECK_STR(sha1_hex("", 0), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    CHECK_STR(sha1_hex(ABC448, 56), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    CHECK_STR(sha1_hex(a, 1000000), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    free(a);

    /* RFC 6455 §1.3: Sec-WebSocket-Accept for the sample key. */
    const char *ka = "dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    uint8_t d[20];
    char acc[BASE64_ENC_LEN(20) + 1];
    sha1(ka, strlen(ka), d);
    CHECK_EQ_INT(base64_encode(d, 20, acc), 28);
    CHECK_STR(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static long dec(const char *s, uint8_t *out) { return base64_decode(s, strlen(s), out); }
static long decu(const char *s, uint8_t *out) { return base64url_decode(s, strlen(s), out); }

static void test_base64(void)
{
    static const char *plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    static const char *enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
    char out[64];
    uint8_t raw[64];
    for (int i = 0; i < 7; i++) {
        size_t n = strlen(plain[i]);
        CHECK_EQ_INT(base64_encode((const uint8_t *)plain[i], n, out), strlen(enc[i]));
        CHECK_STR(out, enc[i]);
        memset(raw, 0, sizeof raw);
        CHECK_EQ_INT(dec(enc[i], raw), n);
        CHECK_MEM(raw, plain[i], n);
    }
    /* base64url: the two alphabet differences, and no padding. */
    static const uint8_t u[] = { 0xfb, 0xff, 0xfe, 0x3e, 0x3f };
    CHECK_EQ_INT(base64url_encode(u, 5, out), 7);
    CHECK_STR(out, "-__-Pj8");
    CHECK_EQ_INT(base64_encode(u, 5, out), 8);
    CHECK_STR(out, "+//+Pj8=");
    CHECK_EQ_INT(decu("-__-Pj8", raw), 5);
    CHECK_MEM(raw, u, 5);

    /* base64url round trips of every length 0..64. */
    uint8_t src[64];
    uint32_t x = 12345;
    for (int i = 0; i < 64; i++) { x = x * 1103515245u + 12345u; src[i] = (uint8_t)(x >> 16); }
    char e[BASE64_ENC_LEN(64) + 1];
    int bad = 0;
    for (size_t n = 0; n <= 64; n++) {
        size_t el = base64url_encode(src, n, e);
        bad += el != (n * 4 + 2) / 3 || strlen(e) != el || strchr(e, '=') != NULL;
        memset(raw, 0, sizeof raw);
        bad += base64url_decode(e, el, raw) != (long)n || memcmp(raw, src, n) != 0;
    }
    CHECK_EQ_INT(bad, 0);

    /* Rejections: padded. */
    static const char *badstd[] = { "Zg=", "Zg", "Z===", "====", "Zg=a", "Z=g=", "Zm9v=", "Zm 9v",
                                    "Zm9v\n", "Zm-v", "Zm_v", "Zh==", "Zm9=", "Zg==Zg==" };
    for (size_t i = 0; i < sizeof badstd / sizeof *badstd; i++) {
        long r = dec(badstd[i], raw);
        if (r != -1) fprintf(stderr, "base64_decode accepted \"%s\"\n", badstd[i]);
        CHECK_EQ_INT(r, -1);
    }
    CHECK_EQ_INT(base64_decode("Zm9v\0Zm9", 8, raw), -1);   /* embedded NUL */
    /* Rejections: url. */
    static const char *badurl[] = { "Z", "Zm9vY", "Zg==", "Zg=", "Zm+v", "Zm/v", "Zm9v!", "Zh", "Zm9" };
    for (size_t i = 0; i < sizeof badurl / sizeof *badurl; i++) {
        long r = decu(badurl[i], raw);
        if (r != -1) fprintf(stderr, "base64url_decode accepted \"%s\"\n", badurl[i]);
        CHECK_EQ_INT(r, -1);
    }
    CHECK_EQ_INT(decu("Zg", raw), 1);
    CHECK_EQ_INT(decu("Zm8", raw), 2);
    CHECK_EQ_INT(decu("", raw), 0);
}

static void test_ct_equal(void)
{
    uint8_t a[32], b[32];
    for (int i = 0; i < 32; i++) a[i] = b[i] = (uint8_t)(i * 13);
    CHECK(ct_equal(a, b, 32));
    CHECK(ct_equal(a, b, 0));
    b[0] ^= 1;
    CHECK(!ct_equal(a, b, 32));
    b[0] ^= 1;
    b[31] ^= 0x80;
    CHECK(!ct_equal(a, b, 32));
    CHECK(ct_equal(a, b, 31));
    CHECK(!ct_equal("secret", "secreT", 6));
}

int main(void)
{
    test_sha256();
    test_hmac();
    test_pbkdf2();
    test_sha1();
    test_base64();
    test_ct_equal();
    return t_report("crypto");
}
