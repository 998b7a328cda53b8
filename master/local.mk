sbin_PROGRAMS += master/moatd
master_moatd_SOURCES = \
	master/main.c \
	master/master.h \
	master/children.c \
	master/listeners.c \
	master/logpipe.c \
	master/login-conn.c \
	master/auth-conn.c \
	master/session.c \
	master/htab.c master/htab.h \
	master/list.h
master_moatd_LDADD = lib/libmoatcore.a
# Unit test for the one self-contained module (htab); the rest of moatd
# is exercised end to end by tests/integration.
check_PROGRAMS += master/test-htab
TESTS += master/test-htab
master_test_htab_SOURCES = master/test-htab.c master/htab.c master/htab.h
master_test_htab_LDADD = lib/libmoatcore.a $(CRITERION_LIBS)
master_test_htab_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
