/* Tests for lib/tls/tls.c: a real handshake against an in-process
 * OpenSSL client over a socketpair, with a throw-away self-signed
 * certificate made at test time. Checks the defaults the header
 * promises: TLS 1.2 minimum, ECDHE-only AEAD for 1.2, no tickets, key
 * and certificate must match, and the I/O result mapping. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls/tls.h"

static char dir[64];
static char cert_path[128], key_path[128], other_key_path[128];

static void
write_key(const char *path, EVP_PKEY *k)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "open %s: %s", path, strerror(errno));
	cr_assert_eq(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
}

static void
write_cert(const char *path, EVP_PKEY *k)
{
	X509 *x = X509_new();
	X509_NAME *name;
	FILE *f;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, name);
	cr_assert(X509_sign(x, k, EVP_sha256()) > 0);
	f = fopen(path, "w");
	cr_assert_not_null(f, "open %s: %s", path, strerror(errno));
	cr_assert_eq(PEM_write_X509(f, x), 1);
	fclose(f);
	X509_free(x);
}

/* A self-signed certificate and key in a fresh directory. EC keys are
 * quick to make; the test of RSA key exchange makes an RSA pair. */
static void
make_files(bool rsa)
{
	EVP_PKEY *k = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
	EVP_PKEY *other = EVP_EC_gen("P-256");

	cr_assert_not_null(k);
	cr_assert_not_null(other);
	if (dir[0] == '\0') {
		strcpy(dir, "/tmp/moat-test-tls.XXXXXX");
		cr_assert_not_null(mkdtemp(dir));
	}
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", dir);
	snprintf(other_key_path, sizeof(other_key_path), "%s/other.pem", dir);
	write_cert(cert_path, k);
	write_key(key_path, k);
	write_key(other_key_path, other);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
}

static void
remove_files(void)
{
	unlink(cert_path);
	unlink(key_path);
	unlink(other_key_path);
	rmdir(dir);
}

static void
setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	make_files(false);
}

TestSuite(tls, .init = setup, .fini = remove_files);

struct pair {
	SSL_CTX *sctx, *cctx;
	struct tls_conn *server;
	SSL *client;
	int fds[2];
};

static void
pair_open(struct pair *p, SSL_CTX *sctx, SSL_CTX *cctx)
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, p->fds), 0);
	for (int i = 0; i < 2; i++)
		fcntl(p->fds[i], F_SETFL, fcntl(p->fds[i], F_GETFL) | O_NONBLOCK);
	p->sctx = sctx;
	p->cctx = cctx;
	p->server = tls_conn_new(sctx, p->fds[0]);
	cr_assert_not_null(p->server);
	p->client = SSL_new(cctx);
	cr_assert_not_null(p->client);
	SSL_set_fd(p->client, p->fds[1]);
	SSL_set_connect_state(p->client);
}

static void
pair_close(struct pair *p)
{
	tls_conn_free(&p->server);
	cr_assert_null(p->server);
	SSL_free(p->client);
	close(p->fds[0]);
	close(p->fds[1]);
	SSL_CTX_free(p->sctx);
	SSL_CTX_free(p->cctx);
}

/* Drives both ends until both finished or one failed. Returns the
 * server's last result. */
static int
handshake(struct pair *p, bool *client_ok)
{
	int s = 0, c = 0;

	for (int i = 0; i < 100; i++) {
		if (s != 1 && s != TLS_ERR)
			s = tls_conn_handshake(p->server);
		if (c != 1 && c >= 0) {
			c = SSL_do_handshake(p->client);
			if (c <= 0) {
				int e = SSL_get_error(p->client, c);

				c = e == SSL_ERROR_WANT_READ ||
				    e == SSL_ERROR_WANT_WRITE ? 0 : -1;
			}
		}
		if ((s == 1 && c == 1) || s == TLS_ERR || c < 0)
			break;
	}
	*client_ok = c == 1;
	return s;
}

static SSL_CTX *
server_ctx(const char *ciphers, const char *suites)
{
	char err[512] = "";
	SSL_CTX *ctx = tls_server_ctx_new(cert_path, key_path, ciphers, suites,
					  err, sizeof(err));

	cr_assert_not_null(ctx, "tls_server_ctx_new: %s", err);
	return ctx;
}

static SSL_CTX *
client_ctx(int minv, int maxv, const char *ciphers)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());

	cr_assert_not_null(c);
	SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	if (minv != 0)
		SSL_CTX_set_min_proto_version(c, minv);
	if (maxv != 0)
		SSL_CTX_set_max_proto_version(c, maxv);
	if (ciphers != NULL)
		cr_assert_eq(SSL_CTX_set_cipher_list(c, ciphers), 1,
			     "client cipher list %s", ciphers);
	return c;
}

/* Reads exactly n bytes on the server side (non-blocking loop). */
static void
server_read_all(struct pair *p, char *buf, size_t n)
{
	size_t got = 0;

	for (int i = 0; i < 1000 && got < n; i++) {
		ssize_t r = tls_conn_read(p->server, buf + got, n - got);

		if (r > 0)
			got += (size_t)r;
		else
			cr_assert(r == TLS_WANT_READ, "server read: got %zd", r);
	}
	cr_assert_eq(got, n, "server read %zu of %zu", got, n);
}

Test(tls, handshake_and_echo_tls13)
{
	struct pair p;
	bool client_ok;
	char buf[64], desc[128];
	int r;

	pair_open(&p, server_ctx(NULL, NULL), client_ctx(0, 0, NULL));
	r = handshake(&p, &client_ok);
	cr_assert_eq(r, 1, "server handshake: got %d, want 1", r);
	cr_assert(client_ok, "client handshake failed");

	tls_conn_describe(p.server, desc, sizeof(desc));
	cr_assert(strncmp(desc, "TLSv1.3 TLS_", 12) == 0,
		  "describe: got \"%s\", want \"TLSv1.3 TLS_...\"", desc);

	/* Nothing sent yet: the read must say "want read", not EOF. */
	r = (int)tls_conn_read(p.server, buf, sizeof(buf));
	cr_assert_eq(r, TLS_WANT_READ, "idle read: got %d, want WANT_READ", r);

	cr_assert_eq(SSL_write(p.client, "hello world", 11), 11);
	memset(buf, 0, sizeof(buf));
	server_read_all(&p, buf, 5);
	cr_assert_eq(memcmp(buf, "hello", 5), 0);
	cr_assert_eq(tls_conn_pending(p.server), 6,
		     "pending: got %zu, want 6", tls_conn_pending(p.server));
	server_read_all(&p, buf + 5, 6);
	cr_assert_str_eq(buf, "hello world");

	cr_assert_eq(tls_conn_write(p.server, "echo", 4), 4);
	memset(buf, 0, sizeof(buf));
	cr_assert_eq(SSL_read(p.client, buf, sizeof(buf)), 4);
	cr_assert_str_eq(buf, "echo");

	/* No session tickets: the client, having read data after the
	 * handshake, would hold a resumable session if one was sent. */
	cr_assert_not(SSL_SESSION_is_resumable(SSL_get_session(p.client)),
		      "server issued a session ticket");

	/* close_notify from the client is a clean EOF (0). */
	SSL_shutdown(p.client);
	r = (int)tls_conn_read(p.server, buf, sizeof(buf));
	cr_assert_eq(r, 0, "after close_notify: got %d, want 0", r);
	tls_conn_shutdown(p.server);
	pair_close(&p);
}

Test(tls, tls12_uses_ecdhe_aead)
{
	struct pair p;
	bool client_ok;
	char desc[128];
	int r;

	pair_open(&p, server_ctx(NULL, NULL),
		  client_ctx(0, TLS1_2_VERSION, NULL));
	r = handshake(&p, &client_ok);
	cr_assert_eq(r, 1, "server handshake: got %d", r);
	cr_assert(client_ok);
	tls_conn_describe(p.server, desc, sizeof(desc));
	cr_assert(strncmp(desc, "TLSv1.2 ECDHE-ECDSA-", 20) == 0,
		  "describe: got \"%s\", want TLSv1.2 ECDHE-...", desc);
	cr_assert(strstr(desc, "GCM") != NULL || strstr(desc, "CHACHA") != NULL,
		  "describe: got \"%s\", want an AEAD cipher", desc);
	pair_close(&p);
}

Test(tls, tls12_rsa_key_exchange_refused)
{
	struct pair p;
	bool client_ok;
	int r;
	char err[256];

	/* With an RSA certificate plain RSA key exchange would work, were
	 * it allowed; ECDHE-RSA does. */
	make_files(true);
	pair_open(&p, server_ctx(NULL, NULL),
		  client_ctx(0, TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256"));
	cr_assert_eq(handshake(&p, &client_ok), 1, "ECDHE-RSA refused");
	pair_close(&p);

	pair_open(&p, server_ctx(NULL, NULL),
		  client_ctx(0, TLS1_2_VERSION, "AES128-GCM-SHA256"));
	r = handshake(&p, &client_ok);
	cr_assert_eq(r, TLS_ERR, "server handshake: got %d, want TLS_ERR", r);
	cr_assert_not(client_ok);
	tls_last_error(err, sizeof(err));
	cr_assert(strlen(err) > 0);
	pair_close(&p);
}

Test(tls, tls11_refused)
{
	struct pair p;
	SSL_CTX *c = client_ctx(TLS1_1_VERSION, TLS1_1_VERSION,
				"DEFAULT:@SECLEVEL=0");
	bool client_ok;
	char err[256];
	int r;

	SSL_CTX_set_security_level(c, 0);
	pair_open(&p, server_ctx(NULL, NULL), c);
	r = handshake(&p, &client_ok);
	/* TLS_ERR from the server proves the client's hello arrived and
	 * was refused (a client that sent nothing would leave the server
	 * wanting to read). */
	cr_assert_eq(r, TLS_ERR, "server handshake: got %d, want TLS_ERR", r);
	cr_assert_not(client_ok, "TLS 1.1 client connected");
	tls_last_error(err, sizeof(err));
	cr_assert(strstr(err, "protocol") != NULL,
		  "error: got \"%s\", want a protocol version error", err);
	pair_close(&p);
}

Test(tls, configured_suites)
{
	struct pair p;
	bool client_ok;
	char desc[128];

	pair_open(&p, server_ctx(NULL, "TLS_CHACHA20_POLY1305_SHA256"),
		  client_ctx(0, 0, NULL));
	cr_assert_eq(handshake(&p, &client_ok), 1);
	tls_conn_describe(p.server, desc, sizeof(desc));
	cr_assert_str_eq(desc, "TLSv1.3 TLS_CHACHA20_POLY1305_SHA256",
			 "describe: got \"%s\"", desc);
	pair_close(&p);
}

Test(tls, truncation_is_error)
{
	struct pair p;
	bool client_ok;
	char buf[16];
	ssize_t r;

	pair_open(&p, server_ctx(NULL, NULL), client_ctx(0, 0, NULL));
	cr_assert_eq(handshake(&p, &client_ok), 1);
	/* The peer vanishes without close_notify. */
	shutdown(p.fds[1], SHUT_RDWR);
	r = tls_conn_read(p.server, buf, sizeof(buf));
	cr_assert_eq(r, TLS_ERR, "EOF without close_notify: got %zd, want "
		     "TLS_ERR", r);
	/* And shutdown after an error must be harmless. */
	tls_conn_shutdown(p.server);
	r = tls_conn_write(p.server, "x", 1);
	cr_assert_eq(r, TLS_ERR, "write after failure: got %zd", r);
	pair_close(&p);
}

Test(tls, garbage_handshake_is_error)
{
	struct pair p;
	int r = 0;

	pair_open(&p, server_ctx(NULL, NULL), client_ctx(0, 0, NULL));
	cr_assert_eq(write(p.fds[1], "a001 CAPABILITY\r\n", 17), 17);
	for (int i = 0; i < 10 && r != TLS_ERR; i++)
		r = tls_conn_handshake(p.server);
	cr_assert_eq(r, TLS_ERR, "plaintext as handshake: got %d", r);
	pair_close(&p);
}

Test(tls, ctx_errors)
{
	char err[512];
	SSL_CTX *ctx;

	err[0] = '\0';
	ctx = tls_server_ctx_new(cert_path, other_key_path, NULL, NULL, err,
				 sizeof(err));
	cr_assert_null(ctx, "mismatched key accepted");
	cr_assert(strlen(err) > 0, "no error text for mismatched key");
	cr_assert(strstr(err, "key") != NULL, "error: got \"%s\"", err);

	err[0] = '\0';
	ctx = tls_server_ctx_new("/nonexistent/cert.pem", key_path, NULL, NULL,
				 err, sizeof(err));
	cr_assert_null(ctx);
	cr_assert(strstr(err, "/nonexistent/cert.pem") != NULL,
		  "error should name the file: got \"%s\"", err);

	err[0] = '\0';
	ctx = tls_server_ctx_new(cert_path, "/nonexistent/key.pem", NULL, NULL,
				 err, sizeof(err));
	cr_assert_null(ctx);
	cr_assert(strstr(err, "/nonexistent/key.pem") != NULL,
		  "got \"%s\"", err);

	/* A key file given as the certificate. */
	err[0] = '\0';
	ctx = tls_server_ctx_new(key_path, key_path, NULL, NULL, err,
				 sizeof(err));
	cr_assert_null(ctx);
	cr_assert(strlen(err) > 0);

	err[0] = '\0';
	ctx = tls_server_ctx_new(cert_path, key_path, "NO-SUCH-CIPHER", NULL,
				 err, sizeof(err));
	cr_assert_null(ctx);
	cr_assert(strstr(err, "ciphers") != NULL, "got \"%s\"", err);

	err[0] = '\0';
	ctx = tls_server_ctx_new(cert_path, key_path, NULL, "TLS_NO_SUCH",
				 err, sizeof(err));
	cr_assert_null(ctx);
	cr_assert(strstr(err, "ciphersuites") != NULL, "got \"%s\"", err);

	ctx = tls_server_ctx_new(cert_path, key_path, NULL, NULL, err,
				 sizeof(err));
	cr_assert_not_null(ctx, "valid pair refused: %s", err);
	cr_assert_eq(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	cr_assert(SSL_CTX_get_options(ctx) & SSL_OP_NO_COMPRESSION);
	cr_assert(SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION);
	cr_assert(SSL_CTX_get_options(ctx) & SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_free(ctx);
}
