# lmtp: LMTP delivery (moat-lmtp, started by moatd) and moat-deliver.
# The recipient lookup uses auth's passwd-file and NSS code.
LMTP_DELIVER_LIBS = lib/libmoatstorage.a lib/libmoatmail.a lib/libmoatindex.a \
	lib/libmoatimap.a lib/libmoatcore.a $(DB_LIBS) $(LOCKFILE_LIBS) \
	$(ZLIB_LIBS) $(UTF8PROC_LIBS)

moatlibexec_PROGRAMS += lmtp/lmtp lmtp/moat-deliver
lmtp_lmtp_SOURCES = lmtp/main.c lmtp/front.c lmtp/front.h \
	lmtp/lmtp-proto.c lmtp/lmtp-proto.h \
	lmtp/deliver.c lmtp/deliver.h lmtp/lookup.c lmtp/lookup.h \
	auth/auth-util.c auth/auth.h auth/passwd-file.c auth/passwd-file.h
lmtp_lmtp_LDADD = $(LMTP_DELIVER_LIBS) $(CRYPT_LIBS)
lmtp_moat_deliver_SOURCES = lmtp/moat-deliver.c lmtp/lmtp-proto.h \
	lmtp/deliver.c lmtp/deliver.h
lmtp_moat_deliver_LDADD = $(LMTP_DELIVER_LIBS)
