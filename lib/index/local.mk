# lib/index: the Berkeley DB index (the only code that includes db.h).
# Programs that link it add $(DB_LIBS) (which includes zlib, for fts.c).
noinst_LIBRARIES += lib/libmoatindex.a
lib_libmoatindex_a_SOURCES = \
	lib/index/index.h lib/index/private.h \
	lib/index/record.c \
	lib/index/db.c \
	lib/index/txn.c \
	lib/index/env.c \
	lib/index/mailbox.c \
	lib/index/msg.c \
	lib/index/keyword.c \
	lib/index/expunged.c \
	lib/index/fts.c
