/* tls.h — optional TLS 1.2+ on the same poll() loop, with mbedtls (`make TLS=1`).
 * The default build has no TLS: tls.c then only answers tls_want_write/tls_pending with 0. */
#ifndef CHATD_TLS_H
#define CHATD_TLS_H
#include <stddef.h>
#include <sys/types.h>

typedef struct tls_server tls_server;   /* certificate, key, RNG, shared config */
typedef struct tls_conn tls_conn;       /* one connection's TLS session */

tls_server *tls_server_new(const char *cert_pem, const char *key_pem, char *err, size_t errlen);
void tls_server_free(tls_server *t);
tls_conn *tls_conn_new(tls_server *t, int fd);
void tls_conn_free(tls_conn *c);

/* Like read()/write() on a non-blocking socket: > 0 bytes, 0 peer closed (read), -1 with
 * errno (EAGAIN: try again when poll says so; the handshake runs inside these calls). */
ssize_t tls_read(tls_conn *c, void *p, size_t n);
ssize_t tls_write(tls_conn *c, const void *p, size_t n);
int tls_want_write(const tls_conn *c);   /* the last call waits for the socket to be writable */
size_t tls_pending(const tls_conn *c);   /* decrypted bytes buffered inside the session */
#endif
