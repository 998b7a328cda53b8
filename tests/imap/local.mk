# Criterion unit tests for lib/imap.
IMAP_TEST_LDADD = lib/libmoatimap.a lib/libmoatcore.a $(CRITERION_LIBS)
IMAP_TESTS =
check_PROGRAMS += $(IMAP_TESTS)
TESTS += $(IMAP_TESTS)
