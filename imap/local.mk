moatlibexec_PROGRAMS += imap/imap
imap_imap_SOURCES = imap/main.c
imap_imap_LDADD = lib/libmoatimap.a lib/libmoatcore.a
