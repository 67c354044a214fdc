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

# --- demo, benchmark report, chaos suite (issue 7) ---------------------------
.PHONY: demo bench chaos chaos-ci

## demo: run the whole system locally (simulator, scheduler, 3 workers, dashboard, 50 companies with 30 s tokens) and print what it did
demo: build services
	./$(BIN)/demo $(DEMO_FLAGS)

## bench: one report, each figure beside its limit measured in the same run
bench: build services
	$(GO) run ./bench --bin $(BIN) $(BENCH_FLAGS)

## chaos: kill -9 workers, restart Redis, terminate PostgreSQL backends, 5% 5xx, strict rotation; at most 5 minutes
chaos: build services
	./$(BIN)/chaos --duration 5m $(CHAOS_FLAGS)

## chaos-ci: the 90-second form of the chaos suite (what CI runs)
chaos-ci: build services
	./$(BIN)/chaos --duration 90s $(CHAOS_FLAGS)
