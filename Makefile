# Orbitflow — the two commands: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := bin/orbitflow
MODULES := schemas services/kit services/connectors services/processors services/sink services/api services/orbitflow
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
CHDB_LIB := $(shell scripts/fetch-chdb.sh --print)
TEST_FLAGS ?= -race -count=1 -timeout 30m
BENCH_FLAGS ?= -run '^$$' -bench . -benchmem -count 1
SINK_BENCH_EVENTS ?= 500000
PIPELINE_BENCH_RUNS ?= 3
PIPELINE_BENCH_DURATION ?= 20s

WEB := services/api/web
# The dashboard's sources: the bundle is rebuilt only when one changes.
WEB_SRC := $(shell find $(WEB)/src $(WEB)/public -type f 2>/dev/null) $(WEB)/index.html $(WEB)/package.json $(WEB)/package-lock.json $(WEB)/vite.config.ts $(WEB)/tsconfig.json

.PHONY: all build run test bench lint fuzz soak build-modules chdb compose-check clean help web

all: build

help:
	@echo "make run            build, fetch the embedded ClickHouse engine, start orbitflow with a demo community"
	@echo "make test           every module's tests with the race detector (real NATS and ClickHouse engine)"
	@echo "make bench          benchmarks, figures printed; ends with orbitflow bench (pipeline vs ceilings)"
	@echo "make lint           go vet + gofmt check"
	@echo "make fuzz           every fuzz target for FUZZTIME (default 10s) each"
	@echo "make soak           the long fault tests: 1M-event ingest under repeated SIGKILL, 30 s ClickHouse outage, restarts (scripts/soak.sh)"
	@echo "make build-modules  build each module alone (GOWORK=off)"
	@echo "make web            the web dashboard's bundle (npm ci + vite build in services/api/web), embedded by the build"

# The dashboard (services/api embeds web/dist): npm ci when the lock file
# changed, vite build when a source did.
web: $(WEB)/dist/index.html
$(WEB)/node_modules/.package-lock.json: $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund
$(WEB)/dist/index.html: $(WEB)/node_modules/.package-lock.json $(WEB_SRC)
	cd $(WEB) && npm run build

build: web
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./services/orbitflow

# The engine library (~566 MB) lives in a cache dir, never in the repo.
chdb: $(CHDB_LIB)
$(CHDB_LIB):
	scripts/fetch-chdb.sh

run: build chdb
	$(BIN) run --demo

test: chdb web
	@set -e; for m in $(MODULES); do \
		echo "== go test $(TEST_FLAGS) ./$$m/..."; \
		(cd $$m && $(GO) test $(TEST_FLAGS) ./...); \
	done

bench: chdb
	@set -e; for m in $(MODULES); do \
		echo "== benchmarks in $$m"; \
		(cd $$m && $(GO) test $(BENCH_FLAGS) -skip 'SinkThroughput|StreamDelivery|SplitProcessors' ./...) | grep -Ev '^(PASS|ok|\?|goos|goarch|cpu|pkg)' || true; \
	done
	@echo "== sink throughput: stream -> ClickHouse, $(SINK_BENCH_EVENTS) events, 3 runs (quote the median);"
	@echo "   StreamDelivery is the ceiling: fetch + ack only. GOGC=300 as in orbitflow run."
	@(cd services/sink && GOGC=300 $(GO) test -run '^$$' -bench 'SinkThroughput|StreamDelivery' -benchtime $(SINK_BENCH_EVENTS)x -count 3 .) | grep -E 'events/s' || true
	@echo "== split mode: 1 and 3 --target processors processes scoring a 240k-event backlog (12 communities, scoring.shards 12), 3 runs each (quote the medians)"
	@(cd services/orbitflow && $(GO) test -run '^$$' -bench 'SplitProcessors' -benchtime 1x -count 3 .) | grep -E 'events/s' || true
	$(GO) build -o $(BIN) ./services/orbitflow
	scripts/bench-e2e.sh
	scripts/bench-gateway.sh
	@echo "== orbitflow bench: the whole pipeline against the ceilings of its parts, $(PIPELINE_BENCH_RUNS) runs (medians)"
	$(BIN) bench --runs $(PIPELINE_BENCH_RUNS) --duration $(PIPELINE_BENCH_DURATION)

lint: web
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) vet ./...); done
	@out=$$(gofmt -l schemas services); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

fuzz: chdb
	scripts/fuzz.sh

# Bounded in time: each step at most SOAK_STEP_MINUTES (default 90).
soak: chdb
	scripts/soak.sh

build-modules: web
	@set -e; for m in $(MODULES); do echo "== GOWORK=off go build ./$$m/..."; (cd $$m && GOWORK=off $(GO) build ./... && GOWORK=off $(GO) vet ./...); done

# Every profile of docker-compose.yml (embedded, split); the k8s manifests and
# the compose services are checked by TestDeploy* in services/orbitflow.
compose-check:
	@set -e; for p in embedded split; do echo "== docker-compose --profile $$p config -q"; docker-compose -f docker-compose.yml --profile $$p config -q; done

clean:
	rm -rf bin $(WEB)/dist/assets $(WEB)/dist/index.html $(WEB)/dist/favicon.svg
