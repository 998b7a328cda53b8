# tests/login: imap-login. test-sasl unit-tests the SASL decoding;
# test_login.py runs the real imap-login against a fake moatd
# (fakemoatd.py) over the IPC protocol and real sockets.
LOGIN_TESTS = tests/login/test-sasl tests/login/test-sandbox-policy
check_PROGRAMS += $(LOGIN_TESTS)
TESTS += $(LOGIN_TESTS) tests/login/test_login.py
tests_login_test_sasl_SOURCES = tests/login/test-sasl.c imap-login/sasl.c \
	imap-login/sasl.h
tests_login_test_sasl_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/imap-login
tests_login_test_sasl_LDADD = lib/libmoatcore.a $(CRITERION_LIBS) \
	$(OPENSSL_LIBS)
tests_login_test_sandbox_policy_SOURCES = tests/login/test-sandbox-policy.c \
	imap-login/sandbox-policy.c imap-login/sandbox-policy.h
tests_login_test_sandbox_policy_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/imap-login -DTOP_SRCDIR='"$(abs_top_srcdir)"'
tests_login_test_sandbox_policy_LDADD = lib/libmoatcore.a $(CRITERION_LIBS) \
	$(SECCOMP_LIBS)
EXTRA_DIST += tests/login/test_login.py tests/login/fakemoatd.py
