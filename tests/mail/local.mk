# Criterion unit tests for lib/mail (header values).
MAIL_TEST_LDADD = lib/libmoatmail.a lib/libmoatimap.a lib/libmoatcore.a \
	$(UTF8PROC_LIBS) $(CRITERION_LIBS) $(OPENSSL_LIBS)
MAIL_TESTS = tests/mail/test-addr tests/mail/test-date \
	tests/mail/test-encword tests/mail/test-charset \
	tests/mail/test-casemap tests/mail/test-envelope
check_PROGRAMS += $(MAIL_TESTS)
TESTS += $(MAIL_TESTS)
tests_mail_test_addr_LDADD = $(MAIL_TEST_LDADD)
tests_mail_test_date_LDADD = $(MAIL_TEST_LDADD)
tests_mail_test_encword_LDADD = $(MAIL_TEST_LDADD)
tests_mail_test_charset_LDADD = $(MAIL_TEST_LDADD)
tests_mail_test_casemap_LDADD = $(MAIL_TEST_LDADD)
tests_mail_test_envelope_LDADD = $(MAIL_TEST_LDADD)
