# Integration tests: a real moatd on loopback, real clients (Python's
# imaplib, openssl s_client, curl, mbsync; test_clients.py: the Debian
# client matrix, doc/clients.md). tests/integration/run runs them all.
check_PROGRAMS += tests/integration/evil-login tests/integration/stopper
tests_integration_evil_login_SOURCES = tests/integration/evil-login.c
tests_integration_evil_login_LDADD = lib/libmoatcore.a
tests_integration_stopper_SOURCES = tests/integration/stopper.c
# imap-login with the XTESTHOOK command (login-hook.c): built for the
# tests only, never installed.
check_PROGRAMS += tests/integration/imap-login-hook
tests_integration_imap_login_hook_SOURCES = $(IMAP_LOGIN_SOURCES) \
	tests/integration/login-hook.c
tests_integration_imap_login_hook_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/imap-login -DMOAT_TEST_HOOKS
tests_integration_imap_login_hook_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tests_integration_imap_login_hook_LDADD = $(IMAP_LOGIN_LDADD)
TESTS += tests/integration/run
AM_TESTS_ENVIRONMENT = MOAT_BUILDDIR='$(abs_top_builddir)'; \
	MOAT_SRCDIR='$(abs_top_srcdir)'; export MOAT_BUILDDIR MOAT_SRCDIR;
EXTRA_DIST += tests/integration/run tests/integration/run.py tests/integration/moatenv.py tests/integration/postfixenv.py \
	tests/integration/test_preauth.py tests/integration/test_clients.py \
	tests/integration/test_privsep.py tests/integration/test_pam.py \
	tests/integration/test_evil_login.py tests/integration/test_moatd_check.py \
	tests/integration/test_preauth_limits.py \
	tests/integration/test_auth_flood.py \
	tests/integration/test_auth_hardening.py \
	tests/integration/test_sigstop.py tests/integration/test_session_start.py \
	tests/integration/test_log_spoof.py \
	tests/integration/test_sandbox.py \
	tests/integration/test_mailbox.py tests/integration/test_interop.py
EXTRA_DIST += tests/integration/test_external.py \
	tests/integration/test_migration.py \
	tests/integration/test_store_edges.py \
	tests/integration/test_spool.py tests/integration/test_crash.py \
	tests/integration/test_search.py tests/integration/test_condstore.py \
	tests/integration/test_lmtp.py tests/integration/test_sort_thread.py \
	tests/integration/test_fetch.py
EXTRA_DIST += tests/integration/test_compress.py tests/integration/test_flow.py
EXTRA_DIST += tests/integration/test_fts.py
EXTRA_DIST += tests/integration/test_moatctl.py
EXTRA_DIST += tests/integration/test_sdnotify.py
