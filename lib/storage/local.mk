# libmoatstorage: mail store building blocks (file-name and file-format
# parsers) and, later, the mailbox API with its Maildir and mbox
# backends. mbox fingerprints use lib/core/sha256 (not libcrypto: the
# static imap must stay small); uidlist.c checks keywords with lib/imap,
# so lib/libmoatimap.a comes after it.
noinst_LIBRARIES += lib/libmoatstorage.a
lib_libmoatstorage_a_SOURCES = \
	lib/storage/maildir-name.c lib/storage/maildir-name.h \
	lib/storage/mbox-parse.c lib/storage/mbox-parse.h \
	lib/storage/uidlist.c lib/storage/uidlist.h
# The store (s-store): the generic part, the backend interface, Maildir++.
lib_libmoatstorage_a_SOURCES += \
	lib/storage/store.h lib/storage/store-private.h \
	lib/storage/store.c lib/storage/store-txn.c \
	lib/storage/store-view.c lib/storage/store-list.c \
	lib/storage/store-vmap.c lib/storage/store-notify.c \
	lib/storage/maildir-private.h lib/storage/maildir.c \
	lib/storage/maildir-sync.c lib/storage/maildir-uidlist.c
# The full-text index's glue (fts-wire): fills lib/index/fts.c with
# lib/mail/textnorm's text; programs linking the store add
# lib/libmoatmail.a and $(UTF8PROC_LIBS).
lib_libmoatstorage_a_SOURCES += lib/storage/store-fts.c
# The mbox backend (s-mbox): add its sources here, and -DSTORE_WITH_MBOX
# to lib_libmoatstorage_a_CFLAGS so that store.c lists it. mbox-lock.c
# uses liblockfile: programs linking this library add $(LOCKFILE_LIBS)
# (liblockfile.a exists, so the static-PIE imap links it too).
lib_libmoatstorage_a_SOURCES += \
	lib/storage/mbox-lock.c lib/storage/mbox-lock.h \
	lib/storage/mbox-serve.c lib/storage/mbox-serve.h \
	lib/storage/mbox-scan.c lib/storage/mbox-scan.h \
	lib/storage/mbox-expunge.c lib/storage/mbox-private.h \
	lib/storage/mbox-append.c lib/storage/mbox.c
lib_libmoatstorage_a_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) -DSTORE_WITH_MBOX
