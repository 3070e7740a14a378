# Stockade build, test and install targets. `make help` lists them.

GO       ?= go
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
DESTDIR  ?=
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X github.com/stockade/stockade/version.Version=$(VERSION) -X github.com/stockade/stockade/version.Commit=$(COMMIT)
GOFLAGS_BUILD := -trimpath -ldflags '$(LDFLAGS)'
CROSS    := linux/amd64 linux/arm64 freebsd/amd64 freebsd/arm64
GOFILES   = $(shell git ls-files --cached --others --exclude-standard '*.go')
# Test results (test2json events) for the summary at the end of make test.
RESULTS  ?= $(CURDIR)/dist/test-results
GOTESTSUM = $(GO) tool gotestsum --format pkgname
UNIT_PKGS ?= ./...

.PHONY: all build test unit test-zfs lint cross install demo clean help

all: build

help:
	@echo "make build    build bin/stockade and bin/stockade-runtime"
	@echo "make test     lint + cross + all tests (what CI runs), then the counts"
	@echo "make unit     go test ./... only (through gotestsum: a summary with the counts)"
	@echo "make test-zfs the zfs snapshotter on real OpenZFS (a qemu VM on Linux)"
	@echo "make lint     gofmt and go vet for linux and freebsd"
	@echo "make cross    CGO_ENABLED=0 builds for $(CROSS)"
	@echo "make install  install the binaries and the rc.d script under PREFIX=$(PREFIX)"
	@echo "make demo     the whole pipeline on an embedded image over a loopback registry"

build:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o bin/stockade ./cmd/stockade
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o bin/stockade-runtime ./cmd/stockade-runtime

lint:
	@bad=$$(gofmt -l $(GOFILES)); if [ -n "$$bad" ]; then echo "gofmt needed: $$bad"; exit 1; fi
	CGO_ENABLED=0 GOOS=linux $(GO) vet ./...
	CGO_ENABLED=0 GOOS=freebsd GOARCH=amd64 $(GO) vet ./...
	CGO_ENABLED=0 GOOS=freebsd GOARCH=arm64 $(GO) vet ./...

cross:
	@set -e; for t in $(CROSS); do \
		os=$${t%/*}; arch=$${t#*/}; \
		echo "build $$os/$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build $(GOFLAGS_BUILD) -o dist/$$os-$$arch/stockade ./cmd/stockade; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build $(GOFLAGS_BUILD) -o dist/$$os-$$arch/stockade-runtime ./cmd/stockade-runtime; \
	done

unit:
	@mkdir -p $(RESULTS)
	$(GOTESTSUM) --jsonfile $(RESULTS)/unit.json -- -count=1 $(UNIT_PKGS)

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

install: build
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 bin/stockade bin/stockade-runtime $(DESTDIR)$(BINDIR)/
	@if [ -d rc.d ] && [ "$$(uname -s)" = FreeBSD ]; then \
		install -d $(DESTDIR)$(PREFIX)/etc/rc.d; \
		install -m 0555 rc.d/stockade $(DESTDIR)$(PREFIX)/etc/rc.d/stockade; \
	fi

demo: build
	./test/demo/run.sh

clean:
	rm -rf bin dist
