sbin_PROGRAMS += master/moatd
master_moatd_SOURCES = master/main.c
master_moatd_LDADD = lib/libmoatcore.a
