# Criterion unit tests for lib/tls.
TLS_TESTS = tests/tls/test-tls
check_PROGRAMS += $(TLS_TESTS)
TESTS += $(TLS_TESTS)
tests_tls_test_tls_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tests_tls_test_tls_LDADD = lib/libmoattls.a lib/libmoatcore.a $(CRITERION_LIBS) $(OPENSSL_LIBS)
