sbin_PROGRAMS += master/moatd
master_moatd_SOURCES = \
	master/main.c \
	master/master.h \
	master/children.c \
	master/listeners.c \
	master/logpipe.c \
	master/login-conn.c \
	master/auth-conn.c \
	master/session.c \
	master/control.c \
	master/control-req.c master/control-req.h \
	master/spawn.c master/spawn.h \
	master/sdnotify.c master/sdnotify.h \
	master/htab.c master/htab.h \
	master/ipgroup.c master/ipgroup.h \
	master/list.h
master_moatd_LDADD = lib/libmoatcore.a
# Unit tests: tests/master/local.mk.
