# imap: the per-session process. The session logic (everything but
# main.c) is listed once here; tests/imapd links the same sources.
IMAP_SESSION_SOURCES = \
	imap/client.c imap/client.h \
	imap/compress.c imap/compress.h \
	imap/session.c imap/session.h \
	imap/imap-settings.h \
	imap/imap-commands.c imap/imap-commands.h \
	imap/imap-args.c imap/imap-args.h \
	imap/imap-list-match.c imap/imap-list-match.h \
	imap/imap-resp.c imap/imap-resp.h \
	imap/imap-search.c imap/imap-search.h \
	imap/imap-search-text.c imap/imap-search-text.h \
	imap/imap-search-fts.c imap/imap-search-fts.h \
	imap/imap-msgfields.c imap/imap-msgfields.h \
	imap/msgfields-keys.c \
	imap/search-fields.c imap/search-fields.h \
	imap/fetch-cache.c imap/fetch-cache.h \
	imap/fetch-msg.c imap/fetch-msg.h \
	imap/fetch-section.c imap/fetch-section.h \
	imap/imap-status.h \
	imap/imap-store-error.c imap/imap-store-error.h \
	imap/imap-sync.c imap/imap-sync.h \
	imap/imap-condstore.c imap/imap-condstore.h \
	imap/imap-notify.c imap/imap-notify.h \
	imap/cmd-append.c \
	imap/cmd-capability.c \
	imap/cmd-check.c \
	imap/cmd-close.c \
	imap/cmd-compress.c \
	imap/cmd-copy.c \
	imap/cmd-create.c \
	imap/cmd-delete.c \
	imap/cmd-enable.c \
	imap/cmd-expunge.c \
	imap/cmd-fetch.c \
	imap/cmd-id.c \
	imap/cmd-idle.c \
	imap/cmd-list.c \
	imap/cmd-logout.c \
	imap/cmd-namespace.c \
	imap/cmd-noop.c \
	imap/cmd-rename.c \
	imap/cmd-search.c \
	imap/cmd-select.c \
	imap/cmd-sort.c \
	imap/cmd-status.c \
	imap/cmd-store.c \
	imap/cmd-subscribe.c \
	imap/cmd-thread.c \
	imap/cmd-unselect.c
# The store and its index (Berkeley DB; mbox locks use liblockfile). No
# libcrypto: it would add ~400 kB of relocated data to every session of
# this static PIE (lib/core/sha256.h).
IMAP_SESSION_LIBS = lib/libmoatstorage.a lib/libmoatindex.a lib/libmoatmail.a \
	lib/libmoatimap.a lib/libmoatcore.a $(DB_LIBS) $(LOCKFILE_LIBS) \
	$(ZLIB_LIBS) $(UTF8PROC_LIBS)

moatlibexec_PROGRAMS += imap/imap
imap_imap_SOURCES = imap/main.c $(IMAP_SESSION_SOURCES)
imap_imap_LDADD = $(IMAP_SESSION_LIBS)
imap_imap_LDFLAGS = $(AM_LDFLAGS) $(IMAP_LDFLAGS)
