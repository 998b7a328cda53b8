# Criterion unit tests for lib/mail, one program per module.
MAIL_TEST_LDADD = lib/libmoatmail.a lib/libmoatimap.a lib/libmoatcore.a \
	$(UTF8PROC_LIBS) $(CRITERION_LIBS) $(OPENSSL_LIBS)
MAIL_TESTS = tests/mail/test-addr tests/mail/test-date \
	tests/mail/test-encword tests/mail/test-charset \
	tests/mail/test-casemap tests/mail/test-envelope \
	tests/mail/test-header tests/mail/test-param \
	tests/mail/test-mime tests/mail/test-cte tests/mail/test-section \
	tests/mail/test-bodystructure tests/mail/test-textnorm \
	tests/mail/test-subject tests/mail/test-thread
check_PROGRAMS += $(MAIL_TESTS)
TESTS += $(MAIL_TESTS)
tests_mail_test_addr_LDADD = $(MAIL_TEST_LDADD)
tests_mail_test_date_LDADD = $(MAIL_TEST_LDADD)
tests_mail_test_encword_LDADD = $(MAIL_TEST_LDADD)
tests_mail_test_charset_LDADD = $(MAIL_TEST_LDADD)
tests_mail_test_casemap_LDADD = $(MAIL_TEST_LDADD)
tests_mail_test_envelope_LDADD = $(MAIL_TEST_LDADD)
tests_mail_test_header_LDADD = $(MAIL_TEST_LDADD)
tests_mail_test_param_LDADD = $(MAIL_TEST_LDADD)
tests_mail_test_mime_LDADD = $(MAIL_TEST_LDADD)
tests_mail_test_cte_LDADD = $(MAIL_TEST_LDADD)
tests_mail_test_section_LDADD = $(MAIL_TEST_LDADD)
tests_mail_test_bodystructure_LDADD = $(MAIL_TEST_LDADD)
tests_mail_test_textnorm_LDADD = $(MAIL_TEST_LDADD)
tests_mail_test_subject_LDADD = $(MAIL_TEST_LDADD)
tests_mail_test_thread_LDADD = $(MAIL_TEST_LDADD)
