# tests/lmtp: the LMTP command parser and DATA decoder (table-driven),
# and the delivery code against a real Maildir and mbox store.
LMTP_TESTS = tests/lmtp/test-lmtp-proto tests/lmtp/test-deliver
check_PROGRAMS += $(LMTP_TESTS)
TESTS += $(LMTP_TESTS)
tests_lmtp_test_lmtp_proto_SOURCES = tests/lmtp/test-lmtp-proto.c \
	lmtp/lmtp-proto.c lmtp/lmtp-proto.h
tests_lmtp_test_lmtp_proto_CPPFLAGS = $(AM_CPPFLAGS) $(CRITERION_CFLAGS)
tests_lmtp_test_lmtp_proto_LDADD = lib/libmoatcore.a $(CRITERION_LIBS)
tests_lmtp_test_deliver_SOURCES = tests/lmtp/test-deliver.c \
	lmtp/deliver.c lmtp/deliver.h
tests_lmtp_test_deliver_CPPFLAGS = $(AM_CPPFLAGS) $(CRITERION_CFLAGS)
tests_lmtp_test_deliver_LDADD = $(LMTP_DELIVER_LIBS) $(CRITERION_LIBS)
