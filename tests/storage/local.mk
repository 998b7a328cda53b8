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
# The store (s-store): the generic part and the Maildir++ backend.
STORE_TEST_LDADD = lib/libmoatstorage.a lib/libmoatmail.a lib/libmoatindex.a \
	lib/libmoatimap.a \
	lib/libmoatcore.a $(CRITERION_LIBS) $(OPENSSL_LIBS) $(DB_LIBS) \
	$(LOCKFILE_LIBS) $(ZLIB_LIBS) $(UTF8PROC_LIBS)
STORE_TEST_UTIL = tests/storage/store-util.h tests/index/util.c \
	tests/index/util.h
STORE_TESTS = tests/storage/test-store tests/storage/test-maildir
check_PROGRAMS += $(STORE_TESTS)
TESTS += $(STORE_TESTS)
tests_storage_test_store_SOURCES = tests/storage/test-store.c $(STORE_TEST_UTIL)
tests_storage_test_store_LDADD = $(STORE_TEST_LDADD)
tests_storage_test_maildir_SOURCES = tests/storage/test-maildir.c \
	$(STORE_TEST_UTIL)
tests_storage_test_maildir_LDADD = $(STORE_TEST_LDADD)
# mbox backend tests (s-mbox); the index test helpers fork and wait.
MBOX_TEST_LDADD = lib/libmoatstorage.a lib/libmoatmail.a lib/libmoatindex.a \
	lib/libmoatimap.a \
	lib/libmoatcore.a $(DB_LIBS) $(LOCKFILE_LIBS) $(CRITERION_LIBS) \
	$(OPENSSL_LIBS) $(ZLIB_LIBS) $(UTF8PROC_LIBS)
MBOX_TESTS = tests/storage/test-mbox-lock tests/storage/test-mbox
check_PROGRAMS += $(MBOX_TESTS)
TESTS += $(MBOX_TESTS)
tests_storage_test_mbox_lock_SOURCES = tests/storage/test-mbox-lock.c \
	tests/index/util.c tests/index/util.h
tests_storage_test_mbox_lock_LDADD = $(MBOX_TEST_LDADD)
tests_storage_test_mbox_SOURCES = tests/storage/test-mbox.c \
	tests/index/util.c tests/index/util.h
tests_storage_test_mbox_LDADD = $(MBOX_TEST_LDADD)
