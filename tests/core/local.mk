# Criterion unit tests for lib/core, one program per module.
CORE_TEST_LDADD = lib/libmoatcore.a $(CRITERION_LIBS) $(OPENSSL_LIBS)
CORE_TESTS = tests/core/test-buf tests/core/test-str tests/core/test-arr \
	tests/core/test-pool tests/core/test-log tests/core/test-num \
	tests/core/test-rand tests/core/test-base64 tests/core/test-net \
	tests/core/test-fdpass tests/core/test-privs tests/core/test-ipc \
	tests/core/test-ev tests/core/test-config tests/core/test-siphash \
	tests/core/test-sandbox tests/core/test-sha256 tests/core/test-fdio
check_PROGRAMS += $(CORE_TESTS)
TESTS += $(CORE_TESTS)
tests_core_test_buf_LDADD = $(CORE_TEST_LDADD)
tests_core_test_str_LDADD = $(CORE_TEST_LDADD)
tests_core_test_arr_LDADD = $(CORE_TEST_LDADD)
tests_core_test_pool_LDADD = $(CORE_TEST_LDADD)
tests_core_test_log_LDADD = $(CORE_TEST_LDADD)
tests_core_test_num_LDADD = $(CORE_TEST_LDADD)
tests_core_test_rand_LDADD = $(CORE_TEST_LDADD)
tests_core_test_base64_LDADD = $(CORE_TEST_LDADD)
tests_core_test_net_LDADD = $(CORE_TEST_LDADD)
tests_core_test_fdpass_LDADD = $(CORE_TEST_LDADD)
tests_core_test_privs_LDADD = $(CORE_TEST_LDADD)
tests_core_test_ipc_LDADD = $(CORE_TEST_LDADD)
tests_core_test_ev_LDADD = $(CORE_TEST_LDADD)
tests_core_test_config_LDADD = $(CORE_TEST_LDADD)
tests_core_test_siphash_LDADD = $(CORE_TEST_LDADD)
tests_core_test_siphash_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tests_core_test_config_CPPFLAGS = $(AM_CPPFLAGS) -DTOP_SRCDIR='"$(abs_top_srcdir)"'
tests_core_test_sandbox_LDADD = $(CORE_TEST_LDADD) $(SECCOMP_LIBS)
tests_core_test_sha256_LDADD = $(CORE_TEST_LDADD)
tests_core_test_sha256_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tests_core_test_fdio_LDADD = $(CORE_TEST_LDADD)
