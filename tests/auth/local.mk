# tests/auth: Criterion unit tests for auth's parts (passwd-file parsing
# and verification, the cookie table, the throttle, the account policy,
# PAM via pam_wrapper),
# plus an end-to-end test of the auth program with a passwd-file backend.
AUTH_TESTS = tests/auth/test-passwd-file tests/auth/test-cookie \
	tests/auth/test-throttle tests/auth/test-pam tests/auth/test-auth-proc \
	tests/auth/test-auth-util
check_PROGRAMS += $(AUTH_TESTS)
TESTS += $(AUTH_TESTS)
AUTH_TEST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir) $(CRITERION_CFLAGS)
AUTH_TEST_LDADD = lib/libmoatcore.a $(CRITERION_LIBS)

tests_auth_test_passwd_file_SOURCES = tests/auth/test-passwd-file.c \
	auth/passwd-file.c auth/auth-util.c
tests_auth_test_passwd_file_CPPFLAGS = $(AUTH_TEST_CPPFLAGS)
tests_auth_test_passwd_file_LDADD = $(AUTH_TEST_LDADD) $(CRYPT_LIBS)

tests_auth_test_cookie_SOURCES = tests/auth/test-cookie.c \
	auth/cookie.c auth/auth-util.c
tests_auth_test_cookie_CPPFLAGS = $(AUTH_TEST_CPPFLAGS)
tests_auth_test_cookie_LDADD = $(AUTH_TEST_LDADD)

tests_auth_test_throttle_SOURCES = tests/auth/test-throttle.c \
	auth/throttle.c
tests_auth_test_throttle_CPPFLAGS = $(AUTH_TEST_CPPFLAGS)
tests_auth_test_throttle_LDADD = $(AUTH_TEST_LDADD)

tests_auth_test_auth_util_SOURCES = tests/auth/test-auth-util.c \
	auth/auth-util.c
tests_auth_test_auth_util_CPPFLAGS = $(AUTH_TEST_CPPFLAGS)
tests_auth_test_auth_util_LDADD = $(AUTH_TEST_LDADD)

# Uses pam_wrapper + pam_matrix (libpam-wrapper) when installed.
tests_auth_test_pam_SOURCES = tests/auth/test-pam.c auth/auth-pam.c \
	auth/auth-util.c
tests_auth_test_pam_CPPFLAGS = $(AUTH_TEST_CPPFLAGS)
tests_auth_test_pam_LDADD = $(AUTH_TEST_LDADD) $(PAM_LIBS)

# Runs the built auth/auth binary: it must exist before this test runs.
tests_auth_test_auth_proc_SOURCES = tests/auth/test-auth-proc.c
tests_auth_test_auth_proc_CPPFLAGS = $(AUTH_TEST_CPPFLAGS) \
	-DAUTH_BIN='"$(abs_top_builddir)/auth/auth"'
tests_auth_test_auth_proc_LDADD = $(AUTH_TEST_LDADD) $(CRYPT_LIBS)
tests_auth_test_auth_proc_DEPENDENCIES = auth/auth lib/libmoatcore.a
