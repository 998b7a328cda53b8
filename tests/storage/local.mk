# Criterion unit tests for lib/storage.
STORAGE_TEST_LDADD = lib/libmoatstorage.a lib/libmoatimap.a lib/libmoatcore.a $(CRITERION_LIBS) $(OPENSSL_LIBS)
STORAGE_TESTS = tests/storage/test-maildir-name tests/storage/test-mbox-parse \
	tests/storage/test-uidlist
check_PROGRAMS += $(STORAGE_TESTS)
TESTS += $(STORAGE_TESTS)
tests_storage_test_maildir_name_LDADD = $(STORAGE_TEST_LDADD)
tests_storage_test_mbox_parse_LDADD = $(STORAGE_TEST_LDADD)
tests_storage_test_mbox_parse_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tests_storage_test_uidlist_LDADD = $(STORAGE_TEST_LDADD)
