/*
 * tls: the server's OpenSSL context with safe defaults, and thin
 * non-blocking wrappers around SSL_do_handshake/read/write that map
 * OpenSSL's error states to TLS_WANT_READ / TLS_WANT_WRITE / TLS_ERR.
 * Callers: imap-login (context built as root before chroot; one
 * connection per client, also as the TLS proxy after login).
 * Trust: the certificate and key paths come from the admin's config;
 * everything that arrives on the socket is the hostile client's, and
 * OpenSSL parses it. What we decide: protocol floor, ciphers, no
 * compression, no renegotiation, no resumption state that would have to
 * be shared between login processes.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/str.h"
#include "tls/tls.h"

/* TLS 1.2: ECDHE key exchange with AEAD ciphers only (forward secrecy,
 * no CBC padding oracles). TLS 1.3 keeps OpenSSL's own suite list. */
#define TLS_DEFAULT_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

struct tls_conn {
	SSL *ssl;
	int fd;
	/* After a fatal error OpenSSL forbids SSL_shutdown(). */
	bool failed;
};

const char *
tls_last_error(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (len == 0)
		return buf;
	if (e == 0)
		snprintf(buf, len, "no OpenSSL error recorded");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

static SSL_CTX *
ctx_fail(SSL_CTX *ctx, char *err, size_t errlen, const char *what,
	 const char *arg)
{
	char ebuf[256];

	tls_last_error(ebuf, sizeof(ebuf));
	if (errlen > 0)
		snprintf(err, errlen, "%s%s%s: %s", what,
			 arg != NULL ? " " : "", arg != NULL ? arg : "", ebuf);
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *
tls_server_ctx_new(const char *cert, const char *key, const char *ciphers,
		   const char *ciphersuites, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	ERR_clear_error();
	if (cert == NULL || key == NULL) {
		if (errlen > 0)
			snprintf(err, errlen, "certificate and key required");
		return NULL;
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		return ctx_fail(NULL, err, errlen, "SSL_CTX_new", NULL);
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		return ctx_fail(ctx, err, errlen, "minimum TLS version", NULL);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
			    SSL_OP_CIPHER_SERVER_PREFERENCE |
			    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
	/* Partial writes and a moving buffer suit our non-blocking output
	 * buffers; releasing idle buffers saves ~34 KiB per quiet
	 * connection, and a login process may proxy thousands. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			 SSL_MODE_RELEASE_BUFFERS);
	/* Each connection lives in one login process and a session cache
	 * cannot be shared between them: no cache, and no TLS 1.3 tickets
	 * (SSL_OP_NO_TICKET alone would make 1.3 tickets stateful, i.e.
	 * cache entries). Clients do a full handshake every time. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);

	if (ciphers == NULL || *ciphers == '\0')
		ciphers = TLS_DEFAULT_CIPHERS;
	if (SSL_CTX_set_cipher_list(ctx, ciphers) != 1)
		return ctx_fail(ctx, err, errlen, "ciphers", ciphers);
	if (ciphersuites != NULL && *ciphersuites != '\0' &&
	    SSL_CTX_set_ciphersuites(ctx, ciphersuites) != 1)
		return ctx_fail(ctx, err, errlen, "ciphersuites", ciphersuites);

	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		return ctx_fail(ctx, err, errlen, "certificate", cert);
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		return ctx_fail(ctx, err, errlen, "private key", key);
	if (SSL_CTX_check_private_key(ctx) != 1)
		return ctx_fail(ctx, err, errlen,
				"private key does not match certificate", cert);
	return ctx;
}

struct tls_conn *
tls_conn_new(SSL_CTX *ctx, int fd)
{
	struct tls_conn *t;
	SSL *ssl;

	ERR_clear_error();
	if ((ssl = SSL_new(ctx)) == NULL)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	t = xcalloc(1, sizeof(*t));
	t->ssl = ssl;
	t->fd = fd;
	return t;
}

/* The fd stays open: its owner closes it. */
void
tls_conn_free(struct tls_conn **tp)
{
	if (tp == NULL || *tp == NULL)
		return;
	SSL_free((*tp)->ssl);
	free(*tp);
	*tp = NULL;
}

/* Maps the outcome of an SSL_* call that returned ret <= 0. */
static int
map_error(struct tls_conn *t, int ret)
{
	switch (SSL_get_error(t->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return TLS_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		/* close_notify received: a clean end of the stream. */
		return 0;
	case SSL_ERROR_SYSCALL:
	case SSL_ERROR_SSL:
	default:
		/* Includes EOF without close_notify (OpenSSL 3 reports it
		 * as SSL_ERROR_SSL): a truncation, not a clean end. */
		t->failed = true;
		return TLS_ERR;
	}
}

int
tls_conn_handshake(struct tls_conn *t)
{
	int r;

	ERR_clear_error();
	r = SSL_do_handshake(t->ssl);
	if (r == 1)
		return 1;
	r = map_error(t, r);
	/* EOF during the handshake is an error, not a clean close. */
	if (r == 0) {
		t->failed = true;
		return TLS_ERR;
	}
	return r;
}

ssize_t
tls_conn_read(struct tls_conn *t, void *buf, size_t len)
{
	int r;

	if (len > INT_MAX)
		len = INT_MAX;
	/* 0 would read as EOF; a caller with no room has a bug. */
	if (len == 0)
		return TLS_ERR;
	ERR_clear_error();
	r = SSL_read(t->ssl, buf, (int)len);
	if (r > 0)
		return r;
	return map_error(t, r);
}

ssize_t
tls_conn_write(struct tls_conn *t, const void *buf, size_t len)
{
	int r;

	if (len > INT_MAX)
		len = INT_MAX;
	if (len == 0)
		return 0;
	ERR_clear_error();
	r = SSL_write(t->ssl, buf, (int)len);
	if (r > 0)
		return r;
	r = map_error(t, r);
	/* A write never reports a clean EOF: the peer went away. */
	return r == 0 ? TLS_ERR : r;
}

size_t
tls_conn_pending(struct tls_conn *t)
{
	int n = SSL_pending(t->ssl);

	return n > 0 ? (size_t)n : 0;
}

void
tls_conn_shutdown(struct tls_conn *t)
{
	if (t->failed || !SSL_is_init_finished(t->ssl))
		return;
	ERR_clear_error();
	/* One attempt: we do not wait for the peer's close_notify. */
	(void)SSL_shutdown(t->ssl);
	ERR_clear_error();
}

const char *
tls_conn_describe(struct tls_conn *t, char *buf, size_t len)
{
	const char *cipher = SSL_get_cipher_name(t->ssl);

	if (len == 0)
		return buf;
	snprintf(buf, len, "%s %s", SSL_get_version(t->ssl),
		 cipher != NULL ? cipher : "(none)");
	return buf;
}
