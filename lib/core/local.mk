noinst_LIBRARIES += lib/libmoatcore.a
lib_libmoatcore_a_SOURCES = \
	lib/core/buf.c lib/core/buf.h \
	lib/core/str.c lib/core/str.h \
	lib/core/arr.c lib/core/arr.h \
	lib/core/pool.c lib/core/pool.h \
	lib/core/log.c lib/core/log.h \
	lib/core/num.c lib/core/num.h \
	lib/core/rand.c lib/core/rand.h \
	lib/core/siphash.c lib/core/siphash.h \
	lib/core/sha256.c lib/core/sha256.h \
	lib/core/net.c lib/core/net.h \
	lib/core/fdpass.c lib/core/fdpass.h \
	lib/core/ipc.c lib/core/ipc.h lib/core/ipc-proto.h \
	lib/core/ev.c lib/core/ev.h \
	lib/core/config.c lib/core/config.h \
	lib/core/privs.c lib/core/privs-fd.c lib/core/privs.h \
	lib/core/sandbox.c lib/core/sandbox.h \
	lib/core/base64.c lib/core/base64-char.c lib/core/base64.h \
	lib/core/fdio.c lib/core/fdio.h
lib_libmoatcore_a_CFLAGS = $(AM_CFLAGS) $(SECCOMP_CFLAGS)
