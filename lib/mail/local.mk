# lib/mail: message parsing -- header values (addresses, dates, encoded
# words, charsets, casemap, ENVELOPE) and MIME structure (header blocks,
# parameters, the MIME tree, transfer decoding, sections, BODYSTRUCTURE).
noinst_LIBRARIES += lib/libmoatmail.a
lib_libmoatmail_a_SOURCES = \
	lib/mail/utf8.c lib/mail/utf8.h \
	lib/mail/charset.c lib/mail/charset.h \
	lib/mail/encword.c lib/mail/encword.h \
	lib/mail/rfc2231.c lib/mail/rfc2231.h \
	lib/mail/casemap.c lib/mail/casemap.h \
	lib/mail/date.c lib/mail/date.h \
	lib/mail/addr.c lib/mail/addr.h \
	lib/mail/envelope.c lib/mail/envelope.h \
	lib/mail/header.c lib/mail/header.h \
	lib/mail/param.c lib/mail/param.h \
	lib/mail/cte.c lib/mail/cte.h \
	lib/mail/mime.c lib/mail/mime-cache.c lib/mail/mime.h \
	lib/mail/section.c lib/mail/section.h \
	lib/mail/bodystructure.c lib/mail/bodystructure.h \
	lib/mail/textnorm.c lib/mail/textnorm.h \
	lib/mail/subject.c lib/mail/subject.h \
	lib/mail/thread.c lib/mail/thread.h
lib_libmoatmail_a_CFLAGS = $(AM_CFLAGS) $(UTF8PROC_CFLAGS)
