noinst_LIBRARIES += lib/libmoattls.a
lib_libmoattls_a_SOURCES = lib/tls/tls.c lib/tls/tls.h
lib_libmoattls_a_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
