moatlibexec_PROGRAMS += imap-login/imap-login
IMAP_LOGIN_SOURCES = imap-login/main.c imap-login/login.h \
	imap-login/master-conn.c imap-login/client.c imap-login/commands.c \
	imap-login/sasl.c imap-login/sasl.h imap-login/proxy.c \
	imap-login/sandbox-policy.c imap-login/sandbox-policy.h
IMAP_LOGIN_LDADD = lib/libmoatimap.a lib/libmoattls.a lib/libmoatcore.a \
	$(OPENSSL_LIBS) $(SECCOMP_LIBS)
imap_login_imap_login_SOURCES = $(IMAP_LOGIN_SOURCES)
imap_login_imap_login_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
imap_login_imap_login_LDADD = $(IMAP_LOGIN_LDADD)
