moatlibexec_PROGRAMS += imap-login/imap-login
imap_login_imap_login_SOURCES = imap-login/main.c imap-login/login.h \
	imap-login/master-conn.c imap-login/client.c imap-login/commands.c \
	imap-login/sasl.c imap-login/sasl.h imap-login/proxy.c
imap_login_imap_login_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
imap_login_imap_login_LDADD = lib/libmoatimap.a lib/libmoattls.a \
	lib/libmoatcore.a $(OPENSSL_LIBS)
