/* tls.c — TLS for chatd's sockets with mbedtls 2.28 (Debian's libmbedtls-dev), compiled
 * only with `make TLS=1` (CHATD_TLS; without it, just the two stubs at the end).
 * Non-blocking: mbedtls's WANT_READ/WANT_WRITE become EAGAIN, and the handshake advances
 * inside tls_read/tls_write as poll() allows. */
#include "tls.h"
#ifdef CHATD_TLS
#include "buf.h"
#include <errno.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <stdlib.h>

struct tls_server {
    mbedtls_ssl_config conf;
    mbedtls_x509_crt cert;
    mbedtls_pk_context key;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context rng;
};

struct tls_conn {
    mbedtls_ssl_context ssl;
    mbedtls_net_context net;   /* the socket, for mbedtls's own non-blocking send/recv */
    int want_write;
};

tls_server *tls_server_new(const char *cert, const char *key, char *err, size_t errlen)
{
    tls_server *t = xcalloc(1, sizeof *t);
    mbedtls_ssl_config_init(&t->conf);
    mbedtls_x509_crt_init(&t->cert);
    mbedtls_pk_init(&t->key);
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->rng);
    const char *what;   /* the first step that fails names the error */
    int rc;
    if ((rc = mbedtls_ctr_drbg_seed(&t->rng, mbedtls_entropy_func, &t->entropy,
                                    (const unsigned char *)"chatd", 5)))
        what = "seeding the RNG";
    else if ((rc = mbedtls_x509_crt_parse_file(&t->cert, cert)))
        what = cert;
    else if ((rc = mbedtls_pk_parse_keyfile(&t->key, key, NULL)))
        what = key;
    else if ((rc = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                               MBEDTLS_SSL_PRESET_DEFAULT)))
        what = "TLS defaults";
    else {
        /* TLS 1.2+ */
        mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
        mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->rng);
        if (!(rc = mbedtls_ssl_conf_own_cert(&t->conf, &t->cert, &t->key))) return t;
        what = "certificate/key";
    }
    char msg[128];
    mbedtls_strerror(rc, msg, sizeof msg);
    snprintf(err, errlen, "%s: %s", what, msg);
    tls_server_free(t);
    return NULL;
}

void tls_server_free(tls_server *t)
{
    if (!t) return;
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_x509_crt_free(&t->cert);
    mbedtls_pk_free(&t->key);
    mbedtls_ctr_drbg_free(&t->rng);
    mbedtls_entropy_free(&t->entropy);
    free(t);
}

tls_conn *tls_conn_new(tls_server *t, int fd)
{
    tls_conn *c = xcalloc(1, sizeof *c);
    c->net.fd = fd;
    mbedtls_ssl_init(&c->ssl);
    if (mbedtls_ssl_setup(&c->ssl, &t->conf)) { tls_conn_free(c); return NULL; }
    mbedtls_ssl_set_bio(&c->ssl, &c->net, mbedtls_net_send, mbedtls_net_recv, NULL);
    return c;
}

void tls_conn_free(tls_conn *c) { if (!c) return; mbedtls_ssl_free(&c->ssl); free(c); }

/* mbedtls result -> read()/write() convention. */
static ssize_t result(tls_conn *c, int rc)
{
    c->want_write = rc == MBEDTLS_ERR_SSL_WANT_WRITE;
    if (rc >= 0) return rc;
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) errno = EAGAIN;
    else if (rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) return 0;
    else errno = EPROTO;
    return -1;
}

ssize_t tls_read(tls_conn *c, void *p, size_t n) { return result(c, mbedtls_ssl_read(&c->ssl, p, n)); }
ssize_t tls_write(tls_conn *c, const void *p, size_t n)
{
    return result(c, mbedtls_ssl_write(&c->ssl, p, n));
}
int tls_want_write(const tls_conn *c) { return c->want_write; }
size_t tls_pending(const tls_conn *c) { return mbedtls_ssl_get_bytes_avail(&c->ssl); }
#else
int tls_want_write(const tls_conn *c) { return 0; }
size_t tls_pending(const tls_conn *c) { return 0; }
#endif
