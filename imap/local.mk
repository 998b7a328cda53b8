# imap: the per-session process. The session logic (everything but
# main.c) is listed once here; tests/imapd links the same sources.
IMAP_SESSION_SOURCES = \
	imap/client.c imap/client.h \
	imap/session.c imap/session.h \
	imap/imap-settings.h \
	imap/imap-commands.c imap/imap-commands.h \
	imap/cmd-capability.c \
	imap/cmd-enable.c \
	imap/cmd-id.c \
	imap/cmd-logout.c \
	imap/cmd-noop.c

moatlibexec_PROGRAMS += imap/imap
imap_imap_SOURCES = imap/main.c $(IMAP_SESSION_SOURCES)
imap_imap_LDADD = lib/libmoatimap.a lib/libmoatcore.a
imap_imap_LDFLAGS = $(AM_LDFLAGS) $(IMAP_LDFLAGS)
