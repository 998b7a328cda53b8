# tests/index: Criterion tests for lib/index. test-crash kills real
# processes (fork before opening the index, never with it open).
INDEX_TEST_LDADD = lib/libmoatindex.a lib/libmoatcore.a $(DB_LIBS) \
	$(CRITERION_LIBS)
INDEX_TEST_UTIL = tests/index/util.c tests/index/util.h
INDEX_TESTS = tests/index/test-record tests/index/test-index \
	tests/index/test-crash tests/index/test-memory \
	tests/index/test-remote-fs tests/index/test-fts
check_PROGRAMS += $(INDEX_TESTS)
TESTS += $(INDEX_TESTS)
tests_index_test_record_SOURCES = tests/index/test-record.c
tests_index_test_record_LDADD = $(INDEX_TEST_LDADD)
tests_index_test_index_SOURCES = tests/index/test-index.c $(INDEX_TEST_UTIL)
tests_index_test_index_LDADD = $(INDEX_TEST_LDADD)
tests_index_test_crash_SOURCES = tests/index/test-crash.c $(INDEX_TEST_UTIL)
tests_index_test_crash_LDADD = $(INDEX_TEST_LDADD)
tests_index_test_remote_fs_SOURCES = tests/index/test-remote-fs.c \
	$(INDEX_TEST_UTIL)
tests_index_test_remote_fs_LDADD = $(INDEX_TEST_LDADD)
tests_index_test_memory_SOURCES = tests/index/test-memory.c $(INDEX_TEST_UTIL)
tests_index_test_memory_LDADD = $(INDEX_TEST_LDADD)
tests_index_test_memory_CPPFLAGS = $(AM_CPPFLAGS) \
	-DIDX_PSS='"$(abs_top_builddir)/tests/index/idx-pss"'
# idx-pss is linked like imap/imap (a static PIE outside sanitizer
# builds): it proves that libmoatindex with Berkeley DB links that way.
check_PROGRAMS += tests/index/idx-pss
tests_index_idx_pss_SOURCES = tests/index/idx-pss.c
tests_index_idx_pss_LDADD = lib/libmoatindex.a lib/libmoatcore.a $(DB_LIBS)
tests_index_idx_pss_LDFLAGS = $(AM_LDFLAGS) $(IMAP_LDFLAGS)
tests_index_test_fts_SOURCES = tests/index/test-fts.c $(INDEX_TEST_UTIL)
tests_index_test_fts_LDADD = $(INDEX_TEST_LDADD)
