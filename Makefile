# Stockade build, test and install targets. `make help` lists them.

GO       ?= go
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
DESTDIR  ?=
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X github.com/stockade/stockade/version.Version=$(VERSION) -X github.com/stockade/stockade/version.Commit=$(COMMIT)
# urfave_cli_no_docs: urfave/cli without its man and markdown writers, whose
# blackfriday costs every run of either binary a package initialisation.
GOFLAGS_BUILD := -trimpath -tags urfave_cli_no_docs -ldflags '$(LDFLAGS)'
# stockade itself is the lean build (tag lean): what needs NRI, OCI-crypt,
# the image builder or commit --change runs again as stockade-full, the
# full build of the same command, so that every other command (run above
# all) starts a 16 MB program instead of a 27 MB one.
GOFLAGS_LEAN  := -trimpath -tags urfave_cli_no_docs,lean -ldflags '$(LDFLAGS)'
CROSS    := linux/amd64 linux/arm64 freebsd/amd64 freebsd/arm64
GOFILES   = $(shell git ls-files --cached --others --exclude-standard '*.go')
# Test results (test2json events) for the summary at the end of make test.
RESULTS  ?= $(CURDIR)/dist/test-results
GOTESTSUM = $(GO) tool gotestsum --format pkgname
UNIT_PKGS ?= ./...
# install lays files out for INSTALL_OS (default: this one): FreeBSD's
# hier(7) under PREFIX (the rc.d script, etc/stockade), or the Linux
# places (systemd unit, tmpfiles.d, /etc/stockade). STOCKADE_HOST is a
# stockade that runs here, to print the shell completions (the port sets
# its staged binary; by default bin/stockade, built first).
INSTALL_OS   ?= $(shell $(GO) env GOOS)
INSTALL_ARCH ?= $(shell $(GO) env GOARCH)
STOCKADE_HOST ?= bin/stockade
MANDIR   ?= $(PREFIX)/share/man
DATADIR  ?= $(PREFIX)/share
ifeq ($(INSTALL_OS),freebsd)
SYSCONFDIR ?= $(PREFIX)/etc
else
SYSCONFDIR ?= /etc
endif
SYSTEMDDIR  ?= $(PREFIX)/lib/systemd/system
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
INSTALL_STAGE = dist/install-$(INSTALL_OS)-$(INSTALL_ARCH)

.PHONY: all build test unit test-zfs lint cross install install-bin install-data man demo clean help

all: build

help:
	@echo "make build    build bin/stockade, stockade-full, stockade-runtime, stockade-monitor and stockade-supervisor"
	@echo "make test     lint + cross + all tests (what CI runs), then the counts"
	@echo "make unit     go test ./... only (through gotestsum: a summary with the counts)"
	@echo "make test-zfs the zfs snapshotter on real OpenZFS (a qemu VM on Linux)"
	@echo "make lint     gofmt and go vet for linux and freebsd"
	@echo "make cross    CGO_ENABLED=0 builds for $(CROSS)"
	@echo "make install  install under DESTDIR/PREFIX=$(PREFIX) for INSTALL_OS=$(INSTALL_OS): binaries, man pages,"
	@echo "              completions, sample config; rc.d (FreeBSD) or systemd unit and tmpfiles.d (Linux)"
	@echo "make man      regenerate docs/man/stockade.8 from the command tree and lint the pages"
	@echo "make demo     the whole pipeline on an embedded image over a loopback registry"

build:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_LEAN) -o bin/stockade ./cmd/stockade
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o bin/stockade-full ./cmd/stockade
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o bin/stockade-runtime ./cmd/stockade-runtime
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o bin/stockade-monitor ./cmd/stockade-monitor
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o bin/stockade-supervisor ./cmd/stockade-supervisor

lint:
	@bad=$$(gofmt -l $(GOFILES)); if [ -n "$$bad" ]; then echo "gofmt needed: $$bad"; exit 1; fi
	CGO_ENABLED=0 GOOS=linux $(GO) vet ./...
	CGO_ENABLED=0 GOOS=freebsd GOARCH=amd64 $(GO) vet ./...
	CGO_ENABLED=0 GOOS=freebsd GOARCH=arm64 $(GO) vet ./...
	CGO_ENABLED=0 GOOS=linux $(GO) vet -tags lean ./cmd/stockade
	CGO_ENABLED=0 GOOS=freebsd GOARCH=amd64 $(GO) vet -tags lean ./cmd/stockade

cross:
	@set -e; for t in $(CROSS); do \
		os=$${t%/*}; arch=$${t#*/}; \
		echo "build $$os/$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build $(GOFLAGS_LEAN) -o dist/$$os-$$arch/stockade ./cmd/stockade; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build $(GOFLAGS_BUILD) -o dist/$$os-$$arch/stockade-full ./cmd/stockade; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build $(GOFLAGS_BUILD) -o dist/$$os-$$arch/stockade-runtime ./cmd/stockade-runtime; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build $(GOFLAGS_BUILD) -o dist/$$os-$$arch/stockade-monitor ./cmd/stockade-monitor; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build $(GOFLAGS_BUILD) -o dist/$$os-$$arch/stockade-supervisor ./cmd/stockade-supervisor; \
	done

unit:
	@mkdir -p $(RESULTS)
	$(GOTESTSUM) --jsonfile $(RESULTS)/unit.json -- -count=1 -timeout 30m $(UNIT_PKGS)
	# The lean build's own tests (the rest of cmd/stockade is the full build's).
	$(GOTESTSUM) --jsonfile $(RESULTS)/unit-lean.json -- -count=1 -tags lean -run '^TestLean' ./cmd/stockade

# The zfs snapshotter against real OpenZFS: in a qemu VM on Linux
# (test/zfs/run.sh, see test/zfs/README.md), on the host's pool on FreeBSD
# (STOCKADE_TEST_ZPOOL).
test-zfs:
	@mkdir -p $(RESULTS)
	@if [ "$$(uname -s)" = Linux ]; then \
		STOCKADE_TEST_RESULTS=$(RESULTS) ./test/zfs/run.sh; \
	else \
		$(GOTESTSUM) --format testname --jsonfile $(RESULTS)/zfs.json -- -count=1 ./zfs/; \
	fi

# Every step runs even when one before it failed; the summary at the end
# counts the tests of all of them (and a failed step as a failure), and the
# exit status is non-zero if anything failed. The zfs package runs in
# test-zfs only: on the host without a pool its tests would only skip.
# TEST_SUMMARY=no leaves the summary out (test/run.sh prints it itself, after
# make's own error line, so that the counts are the very last line).
test:
	@rm -rf $(RESULTS); mkdir -p $(RESULTS)
	@rc=0; \
	for step in lint cross unit test-zfs; do \
		echo "== make $$step"; \
		if [ $$step = unit ]; then \
			$(MAKE) --no-print-directory unit UNIT_PKGS="$$($(GO) list -e ./... | grep -v '/stockade/zfs$$' | tr '\n' ' ')"; \
		else \
			$(MAKE) --no-print-directory $$step; \
		fi || { st=$$?; rc=1; echo "make $$step: exit status $$st" >>$(RESULTS)/failed-steps; }; \
	done; \
	[ "$(TEST_SUMMARY)" = no ] || ./test/run.sh --summary $(RESULTS) || rc=1; \
	exit $$rc

install: install-bin install-data

install-bin:
	CGO_ENABLED=0 GOOS=$(INSTALL_OS) GOARCH=$(INSTALL_ARCH) $(GO) build $(GOFLAGS_LEAN) -o $(INSTALL_STAGE)/stockade ./cmd/stockade
	CGO_ENABLED=0 GOOS=$(INSTALL_OS) GOARCH=$(INSTALL_ARCH) $(GO) build $(GOFLAGS_BUILD) -o $(INSTALL_STAGE)/stockade-full ./cmd/stockade
	CGO_ENABLED=0 GOOS=$(INSTALL_OS) GOARCH=$(INSTALL_ARCH) $(GO) build $(GOFLAGS_BUILD) -o $(INSTALL_STAGE)/stockade-runtime ./cmd/stockade-runtime
	CGO_ENABLED=0 GOOS=$(INSTALL_OS) GOARCH=$(INSTALL_ARCH) $(GO) build $(GOFLAGS_BUILD) -o $(INSTALL_STAGE)/stockade-monitor ./cmd/stockade-monitor
	CGO_ENABLED=0 GOOS=$(INSTALL_OS) GOARCH=$(INSTALL_ARCH) $(GO) build $(GOFLAGS_BUILD) -o $(INSTALL_STAGE)/stockade-supervisor ./cmd/stockade-supervisor
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(INSTALL_STAGE)/stockade $(INSTALL_STAGE)/stockade-full $(INSTALL_STAGE)/stockade-runtime $(INSTALL_STAGE)/stockade-monitor $(INSTALL_STAGE)/stockade-supervisor $(DESTDIR)$(BINDIR)/

# Everything but the binaries; the FreeBSD port runs it after its own build.
install-data: $(if $(filter bin/stockade,$(STOCKADE_HOST)),build)
	install -d $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 docs/man/stockade.8 docs/man/stockade-runtime.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 docs/man/stockade.toml.5 $(DESTDIR)$(MANDIR)/man5/
	install -d $(DESTDIR)$(DATADIR)/bash-completion/completions $(DESTDIR)$(DATADIR)/zsh/site-functions $(DESTDIR)$(DATADIR)/fish/vendor_completions.d
	$(STOCKADE_HOST) completion bash > $(DESTDIR)$(DATADIR)/bash-completion/completions/stockade
	$(STOCKADE_HOST) completion zsh > $(DESTDIR)$(DATADIR)/zsh/site-functions/_stockade
	$(STOCKADE_HOST) completion fish > $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/stockade.fish
	install -d $(DESTDIR)$(SYSCONFDIR)/stockade
	install -m 0644 packaging/stockade.toml.sample $(DESTDIR)$(SYSCONFDIR)/stockade/stockade.toml.sample
ifeq ($(INSTALL_OS),freebsd)
	install -d $(DESTDIR)$(PREFIX)/etc/rc.d
	sed 's|%%PREFIX%%|$(PREFIX)|g' rc.d/stockade > $(DESTDIR)$(PREFIX)/etc/rc.d/stockade
	chmod 0555 $(DESTDIR)$(PREFIX)/etc/rc.d/stockade
else
	install -d $(DESTDIR)$(SYSTEMDDIR) $(DESTDIR)$(TMPFILESDIR)
	sed 's|@BINDIR@|$(BINDIR)|g' packaging/linux/stockade.service > $(DESTDIR)$(SYSTEMDDIR)/stockade.service
	chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/stockade.service
	install -m 0644 packaging/linux/stockade.tmpfiles $(DESTDIR)$(TMPFILESDIR)/stockade.conf
endif

# docs/man/stockade.8 is generated from the command tree (its test fails
# when it drifts); all pages must lint clean.
man:
	$(GO) test ./cmd/stockade -run 'TestManPage$$' -update
	mandoc -Tlint -Wwarning docs/man/stockade.8 docs/man/stockade-runtime.8 docs/man/stockade.toml.5

demo: build
	./test/demo/run.sh

clean:
	rm -rf bin dist
