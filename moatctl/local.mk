# moatctl: the admin CLI (moatctl(8)); installed to sbin. The per-user
# store work uses lmtp's recipient lookup (auth's passwd-file and NSS
# code) and the store, as moat-lmtp does.
sbin_PROGRAMS += moatctl/moatctl
moatctl_moatctl_SOURCES = moatctl/main.c moatctl/moatctl.h moatctl/ctl.c \
	moatctl/userwork.c moatctl/out.c \
	lmtp/lookup.c lmtp/lookup.h lmtp/deliver.c lmtp/deliver.h \
	auth/auth-util.c auth/auth.h auth/passwd-file.c auth/passwd-file.h
moatctl_moatctl_LDADD = $(LMTP_DELIVER_LIBS) $(CRYPT_LIBS)
