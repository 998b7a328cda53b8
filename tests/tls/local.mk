# Criterion unit tests for lib/tls.
TLS_TESTS =
check_PROGRAMS += $(TLS_TESTS)
TESTS += $(TLS_TESTS)
