# Criterion unit tests for lib/imap.
IMAP_TEST_LDADD = lib/libmoatimap.a lib/libmoatcore.a $(CRITERION_LIBS) $(OPENSSL_LIBS)
IMAP_TESTS = tests/imap/test-reader tests/imap/test-parser \
	tests/imap/test-writer tests/imap/test-id \
	tests/imap/test-mutf7 tests/imap/test-mailbox-name \
	tests/imap/test-seqset
check_PROGRAMS += $(IMAP_TESTS)
TESTS += $(IMAP_TESTS)
tests_imap_test_reader_LDADD = $(IMAP_TEST_LDADD)
tests_imap_test_parser_LDADD = $(IMAP_TEST_LDADD)
tests_imap_test_writer_LDADD = $(IMAP_TEST_LDADD)
tests_imap_test_id_LDADD = $(IMAP_TEST_LDADD)
tests_imap_test_mutf7_LDADD = $(IMAP_TEST_LDADD)
tests_imap_test_mailbox_name_LDADD = $(IMAP_TEST_LDADD)
tests_imap_test_seqset_LDADD = $(IMAP_TEST_LDADD)
