# gustosync — the targets the README names.
SHELL := /bin/bash
GO    ?= go
BIN   := bin
PKGS  := ./...
FUZZTIME ?= 10s

.PHONY: all build test vet fmt-check fuzz run services migrate clean

all: build

## build: compile every binary into ./bin
build:
	$(GO) build -o $(BIN)/ ./cmd/...

## services: make sure local PostgreSQL and Redis are running (installs them on a fresh Debian machine)
services:
	bash scripts/services.sh

## test: vet, gofmt check, the race-enabled test suite, then a short fuzz of response decoding
test: vet fmt-check
	$(GO) test -race -count=1 -timeout 12m $(PKGS)
	$(MAKE) fuzz

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## fuzz: run each fuzz target briefly (FUZZTIME per target)
fuzz:
	$(GO) test ./internal/gusto -run '^$$' -fuzz '^FuzzDecode' -fuzztime $(FUZZTIME)

## run: start the Gusto simulator in the foreground
run: build services
	./$(BIN)/gustosim

## migrate: apply the schema migrations to DATABASE_URL
migrate: build
	./$(BIN)/gustosync migrate

clean:
	rm -rf $(BIN)
