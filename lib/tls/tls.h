/*
 * tls: OpenSSL server setup with safe defaults and non-blocking I/O
 * helpers for the login process.
 *
 * Defaults: TLS 1.2 minimum, modern AEAD ciphers (ECDHE only) for 1.2,
 * OpenSSL's TLS 1.3 suites, server cipher preference, no compression, no
 * renegotiation, no session tickets across processes. The key and
 * certificate are loaded before the process chroots.
 */
#ifndef MOAT_TLS_H
#define MOAT_TLS_H

#include <stddef.h>
#include <sys/types.h>
#include <openssl/ssl.h>

struct moat_config;

/* Loads cert and key (checking they match). NULL + err on failure. */
SSL_CTX *tls_server_ctx_new(const char *cert, const char *key,
			    const char *ciphers, const char *ciphersuites,
			    char *err, size_t errlen);

struct tls_conn;

/* Wraps a connected non-blocking socket as the server side. */
struct tls_conn *tls_conn_new(SSL_CTX *ctx, int fd);
void tls_conn_free(struct tls_conn **t);

/* Results of the I/O calls below. */
#define TLS_WANT_READ  (-2)
#define TLS_WANT_WRITE (-3)
#define TLS_ERR        (-1)

/* 1 when the handshake is complete, TLS_WANT_*, or TLS_ERR. */
int tls_conn_handshake(struct tls_conn *t);
/* >0 bytes, 0 clean EOF, TLS_WANT_*, TLS_ERR. */
ssize_t tls_conn_read(struct tls_conn *t, void *buf, size_t len);
/* >0 bytes written, TLS_WANT_*, TLS_ERR. */
ssize_t tls_conn_write(struct tls_conn *t, const void *buf, size_t len);
/* Bytes already decrypted and buffered inside OpenSSL. */
size_t tls_conn_pending(struct tls_conn *t);
/* Best-effort close_notify. */
void tls_conn_shutdown(struct tls_conn *t);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" style, for logs. */
const char *tls_conn_describe(struct tls_conn *t, char *buf, size_t len);
/* Last OpenSSL error as text, for logs. */
const char *tls_last_error(char *buf, size_t len);

#endif
