# Criterion unit tests for lib/core, one program per module.
CORE_TEST_LDADD = lib/libmoatcore.a $(CRITERION_LIBS) $(OPENSSL_LIBS)
CORE_TESTS =
check_PROGRAMS += $(CORE_TESTS)
TESTS += $(CORE_TESTS)
