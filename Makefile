# hellod build, packaging and end-to-end tests.
#
#   make build          static binary for this machine: dist/hellod
#   make packages       .deb and .rpm for amd64 and arm64 into dist/
#   make lint-packages  lintian, rpmlint, package contents and scriptlets,
#                       systemd-analyze verify and security
#   make repo REPO_URL=https://...
#                       signed apt and dnf repositories of the packages in
#                       dist/repo/ (HELLOD_SIGNING_KEY: the armored secret key)
#   make e2e            install the .deb in a booted Debian 12 and Debian 13
#                       systemd (systemd-nspawn) and test it end to end (root;
#                       E2E_SUITES=trixie for one)
#   make bench          bench/run.sh
#
# packaging/ci.sh installs every tool these need on a fresh Debian 12 and runs
# packages, lint-packages, repo and e2e.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build
.DELETE_ON_ERROR:

GO ?= go
# Version: from the newest v* tag ("v1.2.3" -> 1.2.3, with "+gitN.gHASH" for N
# commits after it); without tags 0.1.0, with "+gitN.gHASH" once there are
# commits. Always a valid Debian and RPM version that grows with history.
ifndef VERSION
VERSION := $(shell packaging/version.sh)
endif
# A higher version of the same tree, for the upgrade test.
ifndef NEXT_VERSION
NEXT_VERSION := $(VERSION).1
endif
ARCHES ?= amd64 arm64
HOSTARCH := $(shell $(GO) env GOARCH)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 1764061200)
export SOURCE_DATE_EPOCH

# nfpm, pinned, installed by the build itself into a versioned directory.
NFPM_VERSION := v2.45.2
TOOLS_DIR ?= $(HOME)/.cache/hellod-tools
NFPM := $(TOOLS_DIR)/nfpm-$(NFPM_VERSION)/nfpm

GO_LDFLAGS := -s -w -buildid= -X main.version=$(VERSION)

.PHONY: build packages packages-next lint-packages repo e2e bench clean nfpm FORCE

build: dist/hellod

dist/hellod: dist/linux-$(HOSTARCH)/hellod
	cp $< $@

# FORCE: go build decides itself whether anything changed.
dist/linux-%/hellod: FORCE
	mkdir -p $(@D)
	CGO_ENABLED=0 GOOS=linux GOARCH=$* $(GO) build -trimpath \
	    -ldflags '$(GO_LDFLAGS)' -o $@ ./cmd/hellod

dist/doc/hellod.8.gz: packaging/hellod.8
	mkdir -p $(@D)
	gzip -9n < $< > $@

dist/doc/changelog.Debian.gz: packaging/changelog
	mkdir -p $(@D)
	gzip -9n < $< > $@

# RPM: the same changelog as chglog YAML, and a config that points nfpm at it
# (nfpm's changelog setting cannot be set for one packager only; the .deb
# ships the hand-written Debian changelog above).
dist/doc/changelog.yml: packaging/changelog packaging/chglog-from-debian.sh
	mkdir -p $(@D)
	packaging/chglog-from-debian.sh $< > $@

dist/nfpm-rpm.yaml: nfpm.yaml dist/doc/changelog.yml
	{ cat $<; echo 'changelog: dist/doc/changelog.yml'; } > $@

nfpm: $(NFPM)
$(NFPM):
	GOBIN=$(@D) CGO_ENABLED=0 $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)

DOCS := dist/doc/hellod.8.gz dist/doc/changelog.Debian.gz dist/nfpm-rpm.yaml
PKG_INPUTS := nfpm.yaml systemd/hellod.socket systemd/hellod.service \
    packaging/default/hellod packaging/copyright packaging/lintian-overrides \
    $(wildcard packaging/deb/* packaging/rpm/*) $(DOCS) $(NFPM)

# One .deb and one .rpm per architecture, e.g.
# dist/hellod_0.1.0-1_amd64.deb and dist/hellod-0.1.0-1.x86_64.rpm.
packages: $(PKG_INPUTS) $(foreach a,$(ARCHES),dist/linux-$(a)/hellod)
	rm -f dist/*.deb dist/*.rpm
	for arch in $(ARCHES); do \
	    VERSION='$(VERSION)' GOARCH=$$arch $(NFPM) package --config nfpm.yaml \
	        --packager deb --target dist/ ; \
	    VERSION='$(VERSION)' GOARCH=$$arch $(NFPM) package --config dist/nfpm-rpm.yaml \
	        --packager rpm --target dist/ ; \
	done
	ls -l dist/*.deb dist/*.rpm

# The same tree as version NEXT_VERSION, amd64 .deb only, into dist/next/
# (the e2e test upgrades to it under load).
packages-next: $(PKG_INPUTS)
	$(MAKE) --no-print-directory VERSION='$(NEXT_VERSION)' dist/linux-amd64/hellod
	mkdir -p dist/next && rm -f dist/next/*.deb
	VERSION='$(NEXT_VERSION)' GOARCH=amd64 $(NFPM) package --config nfpm.yaml \
	    --packager deb --target dist/next/
	$(MAKE) --no-print-directory VERSION='$(VERSION)' dist/linux-amd64/hellod

lint-packages:
	packaging/lint.sh '$(VERSION)' $(ARCHES)

# The packages of VERSION (make packages first), from scratch into dist/repo/.
REPO_URL ?=
repo:
	packaging/repo.sh dist/repo '$(REPO_URL)' \
	    $(foreach a,$(ARCHES),dist/hellod_$(VERSION)-1_$(a).deb) \
	    $(foreach a,$(ARCHES),dist/hellod-$(VERSION)-1.$(subst arm64,aarch64,$(subst amd64,x86_64,$(a))).rpm)

# Debian releases the end-to-end test boots, one after the other.
E2E_SUITES ?= bookworm trixie
e2e:
	for s in $(E2E_SUITES); do \
	    HELLOD_E2E_SUITE=$$s packaging/e2e.sh dist/hellod_$(VERSION)-1_amd64.deb \
	        dist/next/hellod_$(NEXT_VERSION)-1_amd64.deb dist/hellod-$(VERSION)-1.x86_64.rpm; \
	done

bench:
	bench/run.sh

clean:
	rm -rf dist
