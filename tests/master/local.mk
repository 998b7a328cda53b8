# tests/master: Criterion unit tests for moatd's self-contained modules
# (htab, spawn, ipgroup); the rest of moatd is exercised end to end by
# tests/integration.
MASTER_TESTS = tests/master/test-htab tests/master/test-spawn \
	tests/master/test-ipgroup
check_PROGRAMS += $(MASTER_TESTS)
TESTS += $(MASTER_TESTS)
tests_master_test_htab_SOURCES = tests/master/test-htab.c master/htab.c \
	master/htab.h
tests_master_test_htab_LDADD = lib/libmoatcore.a $(CRITERION_LIBS)
tests_master_test_htab_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
tests_master_test_spawn_SOURCES = tests/master/test-spawn.c master/spawn.c \
	master/spawn.h
tests_master_test_spawn_LDADD = lib/libmoatcore.a $(CRITERION_LIBS)
tests_master_test_spawn_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
tests_master_test_ipgroup_SOURCES = tests/master/test-ipgroup.c \
	master/ipgroup.c master/ipgroup.h
tests_master_test_ipgroup_LDADD = lib/libmoatcore.a $(CRITERION_LIBS)
tests_master_test_ipgroup_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
# moatctl's requests on the control socket (master/control-req.c).
MASTER_TESTS_CTL = tests/master/test-control-req
check_PROGRAMS += $(MASTER_TESTS_CTL)
TESTS += $(MASTER_TESTS_CTL)
tests_master_test_control_req_SOURCES = tests/master/test-control-req.c \
	master/control-req.c master/control-req.h
tests_master_test_control_req_LDADD = lib/libmoatcore.a $(CRITERION_LIBS)
tests_master_test_control_req_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
