moatlibexec_PROGRAMS += auth/auth
auth_auth_SOURCES = auth/main.c
auth_auth_LDADD = lib/libmoatcore.a $(PAM_LIBS) $(CRYPT_LIBS)
