# Manual pages. Every doc/man/*.[1-8] of the tree is installed (a shell
# wildcard, so a page added there needs no line here), plus moat.conf(5),
# which is generated from doc/config.md (scripts/gen-moat-conf-man) so
# the page and the reference cannot drift apart.
MAN_GENERATED = doc/man/moat.conf.5
all-local: $(MAN_GENERATED)
doc/man/moat.conf.5: $(srcdir)/doc/config.md $(srcdir)/scripts/gen-moat-conf-man
	$(AM_V_GEN)$(MKDIR_P) doc/man && \
	$(PYTHON3) $(srcdir)/scripts/gen-moat-conf-man \
		$(srcdir)/doc/config.md $(PACKAGE_VERSION) >$@.tmp && mv $@.tmp $@
CLEANFILES += $(MAN_GENERATED)

# The pages of the tree, then the generated ones (in an in-tree build a
# generated page is also in $(srcdir)/doc/man: listed once).
man_pages_list = \
	for f in $(srcdir)/doc/man/*.[1-8]; do \
		case " $(MAN_GENERATED) " in *" doc/man/$$(basename "$$f") "*) continue ;; esac; \
		echo "$$f"; \
	done; for f in $(MAN_GENERATED); do echo "$$f"; done

install-data-local: $(MAN_GENERATED)
	@( $(man_pages_list) ) | while read -r f; do \
		sec=$${f##*.}; \
		$(MKDIR_P) "$(DESTDIR)$(mandir)/man$$sec" || exit 1; \
		echo " $(INSTALL_DATA) $$f $(DESTDIR)$(mandir)/man$$sec/"; \
		$(INSTALL_DATA) "$$f" "$(DESTDIR)$(mandir)/man$$sec/" || exit 1; \
	done

uninstall-local:
	@( $(man_pages_list) ) | while read -r f; do \
		rm -f "$(DESTDIR)$(mandir)/man$${f##*.}/$${f##*/}"; \
	done

# Every page renders without a groff warning, every setting of
# doc/config.md has its entry in moat.conf(5).
TESTS += tests/man/check-man
EXTRA_DIST += doc/man doc/local.mk scripts/gen-moat-conf-man tests/man/check-man
# The Debian package and its install test (scripts/check, as root).
EXTRA_DIST += debian tests/install/test_install.py
