# libmoatstorage: mail store building blocks (file-name and file-format
# parsers) and, later, the mailbox API with its Maildir and mbox
# backends. mbox-parse.c fingerprints with SHA-256 from libcrypto, so
# programs linking this library add $(OPENSSL_LIBS); uidlist.c checks
# keywords with lib/imap, so lib/libmoatimap.a comes after it.
noinst_LIBRARIES += lib/libmoatstorage.a
lib_libmoatstorage_a_SOURCES = \
	lib/storage/maildir-name.c lib/storage/maildir-name.h \
	lib/storage/mbox-parse.c lib/storage/mbox-parse.h \
	lib/storage/uidlist.c lib/storage/uidlist.h
lib_libmoatstorage_a_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
