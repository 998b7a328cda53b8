noinst_LIBRARIES += lib/libmoatmail.a
lib_libmoatmail_a_SOURCES = \
	lib/mail/header.c lib/mail/header.h \
	lib/mail/param.c lib/mail/param.h \
	lib/mail/cte.c lib/mail/cte.h \
	lib/mail/mime.c lib/mail/mime-cache.c lib/mail/mime.h \
	lib/mail/section.c lib/mail/section.h \
	lib/mail/bodystructure.c lib/mail/bodystructure.h
