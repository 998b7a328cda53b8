noinst_LIBRARIES += lib/libmoatimap.a
lib_libmoatimap_a_SOURCES = \
	lib/imap/reader.c lib/imap/reader.h \
	lib/imap/parser.c lib/imap/parser.h \
	lib/imap/writer.c lib/imap/writer.h \
	lib/imap/id.c lib/imap/id.h \
	lib/imap/mutf7.c lib/imap/mutf7.h \
	lib/imap/mailbox-name.c lib/imap/mailbox-name.h \
	lib/imap/seqset.c lib/imap/seqset.h
