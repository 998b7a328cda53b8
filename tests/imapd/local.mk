# Criterion tests for the imap process: command dispatch and handlers on
# a socketpair (test-commands), SESSION_INIT and session control
# (test-session). They link the session sources of imap/local.mk, i.e.
# everything of imap/imap except main.c.
IMAPD_TEST_LDADD = $(IMAP_SESSION_LIBS) $(CRITERION_LIBS)
IMAPD_TESTS = tests/imapd/test-commands tests/imapd/test-session \
	tests/imapd/test-mailbox tests/imapd/test-compress \
	tests/imapd/test-search tests/imapd/test-sort
check_PROGRAMS += $(IMAPD_TESTS)
TESTS += $(IMAPD_TESTS)
tests_imapd_test_commands_SOURCES = tests/imapd/test-commands.c \
	tests/imapd/harness.c tests/imapd/harness.h $(IMAP_SESSION_SOURCES)
tests_imapd_test_commands_LDADD = $(IMAPD_TEST_LDADD)
tests_imapd_test_session_SOURCES = tests/imapd/test-session.c \
	tests/imapd/harness.c tests/imapd/harness.h $(IMAP_SESSION_SOURCES)
tests_imapd_test_session_LDADD = $(IMAPD_TEST_LDADD)
# The command layer against an in-memory store (fake-store.c stands in
# for lib/storage, so no index or files are involved).
tests_imapd_test_mailbox_SOURCES = tests/imapd/test-mailbox.c \
	tests/imapd/harness.c tests/imapd/harness.h \
	tests/imapd/fake-store.c tests/imapd/fake-store.h \
	$(IMAP_SESSION_SOURCES)
tests_imapd_test_mailbox_LDADD = lib/libmoatmail.a lib/libmoatimap.a lib/libmoatcore.a \
	$(ZLIB_LIBS) $(UTF8PROC_LIBS) $(CRITERION_LIBS)
# imap/compress.c alone, against zlib as a client uses it.
tests_imapd_test_compress_SOURCES = tests/imapd/test-compress.c \
	imap/compress.c imap/compress.h
tests_imapd_test_compress_LDADD = lib/libmoatcore.a $(ZLIB_LIBS) \
	$(CRITERION_LIBS)
# SEARCH against the same in-memory store.
tests_imapd_test_search_SOURCES = tests/imapd/test-search.c \
	tests/imapd/harness.c tests/imapd/harness.h \
	tests/imapd/fake-store.c tests/imapd/fake-store.h \
	$(IMAP_SESSION_SOURCES)
tests_imapd_test_search_LDADD = lib/libmoatmail.a lib/libmoatimap.a lib/libmoatcore.a \
	$(ZLIB_LIBS) $(UTF8PROC_LIBS) $(CRITERION_LIBS)
# SORT and THREAD against the same in-memory store.
tests_imapd_test_sort_SOURCES = tests/imapd/test-sort.c \
	tests/imapd/harness.c tests/imapd/harness.h \
	tests/imapd/fake-store.c tests/imapd/fake-store.h \
	$(IMAP_SESSION_SOURCES)
tests_imapd_test_sort_LDADD = $(tests_imapd_test_search_LDADD)
# FETCH's message-structure items against the same in-memory store.
IMAPD_TESTS += tests/imapd/test-fetch
check_PROGRAMS += tests/imapd/test-fetch
TESTS += tests/imapd/test-fetch
tests_imapd_test_fetch_SOURCES = tests/imapd/test-fetch.c \
	tests/imapd/harness.c tests/imapd/harness.h \
	tests/imapd/fake-store.c tests/imapd/fake-store.h \
	$(IMAP_SESSION_SOURCES)
tests_imapd_test_fetch_LDADD = lib/libmoatmail.a lib/libmoatimap.a \
	lib/libmoatcore.a $(ZLIB_LIBS) $(UTF8PROC_LIBS) $(CRITERION_LIBS)
