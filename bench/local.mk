# bench: the load generator that scripts/bench drives.
noinst_PROGRAMS += bench/loadgen
bench_loadgen_SOURCES = bench/loadgen.c
bench_loadgen_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
bench_loadgen_LDADD = $(OPENSSL_LIBS) $(PTHREAD_LIBS) -lm
EXTRA_DIST += bench/RESULTS.md bench/bench-store.py bench/sort-thread.py \
	bench/bench-fetch.py bench/bench-idle.py bench/bench9.py
# store-bench: the mail store on a large Maildir (see its header).
noinst_PROGRAMS += bench/store-bench
bench_store_bench_SOURCES = bench/store-bench.c
bench_store_bench_LDADD = lib/libmoatstorage.a lib/libmoatmail.a \
	lib/libmoatindex.a \
	lib/libmoatimap.a lib/libmoatcore.a $(OPENSSL_LIBS) $(DB_LIBS) \
	$(LOCKFILE_LIBS) $(ZLIB_LIBS) $(UTF8PROC_LIBS)
# bench-fts: the full-text index on 100,000 synthetic messages (see its
# header; results in RESULTS.md, "The full-text index").
noinst_PROGRAMS += bench/bench-fts
bench_bench_fts_SOURCES = bench/bench-fts.c
bench_bench_fts_LDADD = lib/libmoatindex.a lib/libmoatcore.a $(DB_LIBS) -lm
