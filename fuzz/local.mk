# libFuzzer harnesses (configure --enable-fuzzers, CC=clang).
if ENABLE_FUZZERS
noinst_PROGRAMS += fuzz/fuzz-imap-parser fuzz/fuzz-ipc fuzz/fuzz-config \
	fuzz/fuzz-mbox fuzz/fuzz-uidlist fuzz/fuzz-names fuzz/fuzz-mbox-serve
noinst_PROGRAMS += fuzz/fuzz-imap-session
noinst_PROGRAMS += fuzz/fuzz-addr fuzz/fuzz-date fuzz/fuzz-encword
noinst_PROGRAMS += fuzz/fuzz-header fuzz/fuzz-mime fuzz/fuzz-subject
fuzz_fuzz_header_SOURCES = fuzz/fuzz-header.c
fuzz_fuzz_header_LDADD = lib/libmoatmail.a lib/libmoatcore.a $(OPENSSL_LIBS)
fuzz_fuzz_header_LDFLAGS = -fsanitize=fuzzer
fuzz_fuzz_mime_SOURCES = fuzz/fuzz-mime.c
fuzz_fuzz_mime_LDADD = lib/libmoatmail.a lib/libmoatimap.a lib/libmoatcore.a $(OPENSSL_LIBS)
fuzz_fuzz_mime_LDFLAGS = -fsanitize=fuzzer
noinst_PROGRAMS += fuzz/fuzz-fts
fuzz_fuzz_fts_SOURCES = fuzz/fuzz-fts.c
fuzz_fuzz_fts_LDADD = lib/libmoatindex.a lib/libmoatcore.a $(DB_LIBS)
fuzz_fuzz_fts_LDFLAGS = -fsanitize=fuzzer
noinst_PROGRAMS += fuzz/fuzz-control
fuzz_fuzz_control_SOURCES = fuzz/fuzz-control.c master/control-req.c
fuzz_fuzz_control_LDADD = lib/libmoatcore.a
fuzz_fuzz_control_LDFLAGS = -fsanitize=fuzzer
noinst_PROGRAMS += fuzz/fuzz-lmtp
fuzz_fuzz_lmtp_SOURCES = fuzz/fuzz-lmtp.c lmtp/lmtp-proto.c
fuzz_fuzz_lmtp_LDADD = lib/libmoatcore.a
fuzz_fuzz_lmtp_LDFLAGS = -fsanitize=fuzzer
fuzz_fuzz_imap_parser_SOURCES = fuzz/fuzz-imap-parser.c
fuzz_fuzz_imap_parser_LDADD = lib/libmoatimap.a lib/libmoatcore.a
fuzz_fuzz_imap_parser_LDFLAGS = -fsanitize=fuzzer
fuzz_fuzz_ipc_SOURCES = fuzz/fuzz-ipc.c
fuzz_fuzz_ipc_LDADD = lib/libmoatcore.a
fuzz_fuzz_ipc_LDFLAGS = -fsanitize=fuzzer
fuzz_fuzz_config_SOURCES = fuzz/fuzz-config.c
fuzz_fuzz_config_LDADD = lib/libmoatcore.a
fuzz_fuzz_config_LDFLAGS = -fsanitize=fuzzer
fuzz_fuzz_mbox_SOURCES = fuzz/fuzz-mbox.c
fuzz_fuzz_mbox_LDADD = lib/libmoatstorage.a lib/libmoatcore.a $(OPENSSL_LIBS)
fuzz_fuzz_mbox_LDFLAGS = -fsanitize=fuzzer
fuzz_fuzz_mbox_serve_SOURCES = fuzz/fuzz-mbox-serve.c
fuzz_fuzz_mbox_serve_LDADD = lib/libmoatstorage.a lib/libmoatcore.a $(OPENSSL_LIBS)
fuzz_fuzz_mbox_serve_LDFLAGS = -fsanitize=fuzzer
fuzz_fuzz_uidlist_SOURCES = fuzz/fuzz-uidlist.c
fuzz_fuzz_uidlist_LDADD = lib/libmoatstorage.a lib/libmoatimap.a lib/libmoatcore.a $(OPENSSL_LIBS)
fuzz_fuzz_uidlist_LDFLAGS = -fsanitize=fuzzer
fuzz_fuzz_names_SOURCES = fuzz/fuzz-names.c
fuzz_fuzz_names_LDADD = lib/libmoatstorage.a lib/libmoatimap.a lib/libmoatcore.a $(OPENSSL_LIBS)
fuzz_fuzz_names_LDFLAGS = -fsanitize=fuzzer
# The session's command layer against the tests' in-memory store.
fuzz_fuzz_imap_session_SOURCES = fuzz/fuzz-imap-session.c \
	tests/imapd/fake-store.c tests/imapd/fake-store.h \
	$(IMAP_SESSION_SOURCES)
fuzz_fuzz_imap_session_LDADD = lib/libmoatmail.a lib/libmoatimap.a \
	lib/libmoatcore.a $(ZLIB_LIBS) $(UTF8PROC_LIBS)
# FETCH's section-spec parser (imap/fetch-section.c).
noinst_PROGRAMS += fuzz/fuzz-fetch-section
fuzz_fuzz_fetch_section_SOURCES = fuzz/fuzz-fetch-section.c \
	imap/fetch-section.c imap/fetch-section.h
fuzz_fuzz_fetch_section_LDADD = lib/libmoatmail.a lib/libmoatimap.a \
	lib/libmoatcore.a $(UTF8PROC_LIBS)
fuzz_fuzz_fetch_section_LDFLAGS = -fsanitize=fuzzer
fuzz_fuzz_imap_session_LDFLAGS = -fsanitize=fuzzer
# The FETCH cache record's decoders and the fill's round trip.
noinst_PROGRAMS += fuzz/fuzz-fetch-cache
fuzz_fuzz_fetch_cache_SOURCES = fuzz/fuzz-fetch-cache.c \
	imap/fetch-cache.c imap/fetch-cache.h imap/fetch-msg.c imap/fetch-msg.h
fuzz_fuzz_fetch_cache_LDADD = lib/libmoatmail.a lib/libmoatimap.a \
	lib/libmoatcore.a $(UTF8PROC_LIBS)
fuzz_fuzz_fetch_cache_LDFLAGS = -fsanitize=fuzzer
# The SORT kind's cache record (imap/msgfields-keys.c).
noinst_PROGRAMS += fuzz/fuzz-sort-keys
fuzz_fuzz_sort_keys_SOURCES = fuzz/fuzz-sort-keys.c imap/msgfields-keys.c
fuzz_fuzz_sort_keys_LDADD = lib/libmoatcore.a
fuzz_fuzz_sort_keys_LDFLAGS = -fsanitize=fuzzer
# The SEARCH kind's cache record (imap/search-fields.c).
noinst_PROGRAMS += fuzz/fuzz-search-fields
fuzz_fuzz_search_fields_SOURCES = fuzz/fuzz-search-fields.c \
	imap/search-fields.c imap/search-fields.h
fuzz_fuzz_search_fields_LDADD = lib/libmoatmail.a lib/libmoatimap.a \
	lib/libmoatcore.a $(UTF8PROC_LIBS)
fuzz_fuzz_search_fields_LDFLAGS = -fsanitize=fuzzer
# lib/mail header-value parsers.
FUZZ_MAIL_LDADD = lib/libmoatmail.a lib/libmoatimap.a lib/libmoatcore.a \
	$(UTF8PROC_LIBS)
fuzz_fuzz_addr_SOURCES = fuzz/fuzz-addr.c
fuzz_fuzz_addr_LDADD = $(FUZZ_MAIL_LDADD)
fuzz_fuzz_addr_LDFLAGS = -fsanitize=fuzzer
fuzz_fuzz_date_SOURCES = fuzz/fuzz-date.c
fuzz_fuzz_date_LDADD = $(FUZZ_MAIL_LDADD)
fuzz_fuzz_date_LDFLAGS = -fsanitize=fuzzer
fuzz_fuzz_encword_SOURCES = fuzz/fuzz-encword.c
fuzz_fuzz_encword_LDADD = $(FUZZ_MAIL_LDADD)
fuzz_fuzz_encword_LDFLAGS = -fsanitize=fuzzer
# lib/mail/textnorm: a message's normalized text.
noinst_PROGRAMS += fuzz/fuzz-textnorm
fuzz_fuzz_textnorm_SOURCES = fuzz/fuzz-textnorm.c
fuzz_fuzz_textnorm_LDADD = $(FUZZ_MAIL_LDADD)
fuzz_fuzz_textnorm_LDFLAGS = -fsanitize=fuzzer
fuzz_fuzz_subject_SOURCES = fuzz/fuzz-subject.c
fuzz_fuzz_subject_LDADD = $(FUZZ_MAIL_LDADD)
fuzz_fuzz_subject_LDFLAGS = -fsanitize=fuzzer
endif
EXTRA_DIST += fuzz/fuzz-addr.dict fuzz/fuzz-date.dict fuzz/fuzz-encword.dict \
	fuzz/fuzz-lmtp.dict fuzz/fuzz-textnorm.dict fuzz/fuzz-subject.dict
EXTRA_DIST += fuzz/fuzz-imap-parser.dict fuzz/fuzz-ipc.dict fuzz/fuzz-config.dict \
	fuzz/fuzz-mbox.dict fuzz/fuzz-uidlist.dict fuzz/fuzz-names.dict \
	fuzz/fuzz-imap-session.dict fuzz/fuzz-fts.dict \
	fuzz/fuzz-mbox-serve.dict fuzz/fuzz-header.dict fuzz/fuzz-mime.dict \
	fuzz/fuzz-fetch-section.dict
EXTRA_DIST += fuzz/corpus
EXTRA_DIST += fuzz/fuzz-control.dict fuzz/fuzz-control.c
EXTRA_DIST += fuzz/fuzz-fetch-cache.dict fuzz/fuzz-sort-keys.dict \
	fuzz/fuzz-search-fields.dict
