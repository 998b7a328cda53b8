# lib/mail: message parsing (header values here; MIME structure from
# m-mime's part of this file).
noinst_LIBRARIES += lib/libmoatmail.a
lib_libmoatmail_a_SOURCES = \
	lib/mail/utf8.c lib/mail/utf8.h \
	lib/mail/charset.c lib/mail/charset.h \
	lib/mail/encword.c lib/mail/encword.h \
	lib/mail/rfc2231.c lib/mail/rfc2231.h \
	lib/mail/casemap.c lib/mail/casemap.h \
	lib/mail/date.c lib/mail/date.h \
	lib/mail/addr.c lib/mail/addr.h \
	lib/mail/envelope.c lib/mail/envelope.h
lib_libmoatmail_a_CFLAGS = $(AM_CFLAGS) $(UTF8PROC_CFLAGS)
