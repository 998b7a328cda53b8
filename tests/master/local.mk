# tests/master: Criterion unit test for moatd's one self-contained module
# (htab); the rest of moatd is exercised end to end by tests/integration.
MASTER_TESTS = tests/master/test-htab
check_PROGRAMS += $(MASTER_TESTS)
TESTS += $(MASTER_TESTS)
tests_master_test_htab_SOURCES = tests/master/test-htab.c master/htab.c \
	master/htab.h
tests_master_test_htab_LDADD = lib/libmoatcore.a $(CRITERION_LIBS)
tests_master_test_htab_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
