# bench: the load generator that scripts/bench drives.
noinst_PROGRAMS += bench/loadgen
bench_loadgen_SOURCES = bench/loadgen.c
bench_loadgen_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
bench_loadgen_LDADD = $(OPENSSL_LIBS) $(PTHREAD_LIBS)
EXTRA_DIST += bench/RESULTS.md
