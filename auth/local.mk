# auth: the credential checker (main process + worker pool).
moatlibexec_PROGRAMS += auth/auth
auth_auth_SOURCES = auth/main.c auth/auth.h auth/auth-util.c \
	auth/cookie.c auth/cookie.h auth/throttle.c auth/throttle.h \
	auth/wpool.c auth/wpool.h auth/worker.c auth/worker.h \
	auth/passwd-file.c auth/passwd-file.h \
	auth/auth-pam.c auth/auth-pam.h
auth_auth_LDADD = lib/libmoatcore.a $(PAM_LIBS) $(CRYPT_LIBS)
