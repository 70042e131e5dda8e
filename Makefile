# The two commands a newcomer needs: `go run ./cmd/bridge demo` and
# `make test`. `make test` is what CI runs (.ci/run).

GO ?= go
PKGS := ./...
# Unit and integration tests: in-process Kafka (kfake), the CXone test
# server, the bridge binary as a process. Real Apache Kafka runs in `e2e`.
UNIT_PKGS = $(shell $(GO) list ./... | grep -v -e /e2e -e /testcontainers)
FUZZTIME ?= 10s

.PHONY: test check vet fmt unit e2e kafka-jars bench perf perf-scale fuzz build clean

## test: everything CI checks: formatting, vet, race-enabled tests, the
## real-Kafka end-to-end suite, a short run of every benchmark.
test: check unit e2e bench

check: fmt vet

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

unit:
	$(GO) test -race -count=1 $(UNIT_PKGS)

## kafka-jars: fetch Apache Kafka's jars from Maven Central into a cache outside the repo.
kafka-jars:
	testcontainers/kafka/fetch.sh

## e2e: the harness's own tests and the failure suite, on real Apache Kafka
## (local KRaft processes; BRIDGE_TEST_KAFKA=host:port uses an existing cluster).
e2e: kafka-jars
	$(GO) test -p 1 -count=1 -timeout 30m -v ./testcontainers/... ./e2e/...

## bench: run each benchmark once so that they keep compiling and working (numbers: see docs).
bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x $(PKGS)

## perf: the measurements of docs/performance.md (about 10 minutes; run it on
## a quiet machine). Writes docs/perf/*.json and docs/perf/sweep.svg.
perf: build
	mkdir -p docs/perf
	bin/bridge bench --latency 0 --max-in-flight 64 --records 40000 --json docs/perf/latency-0ms.json
	bin/bridge bench --latency 20ms --max-in-flight 256 --records 40000 --json docs/perf/latency-20ms.json
	bin/bridge bench --sweep --records 40000 --chart docs/perf/sweep.svg --json docs/perf/sweep.json
	$(GO) test -run '^$$' -bench 'Transform|NaiveBaseline|SinkVsBare' -benchtime 2s -count 3 ./transform ./sink
	$(GO) test -run '^$$' -bench 'Consumer' -benchtime 50000x -count 3 ./consumer

## perf-scale: what scaling costs and yields on real Apache Kafka (about 15
## minutes): the stall of each rebalance event under both group protocols,
## and the throughput of 1, 2 and 3 replicas. Writes docs/perf/scale.{md,json,svg}.
perf-scale: kafka-jars
	BRIDGE_PERF_SCALE=1 $(GO) test -p 1 -count=1 -timeout 60m -v -run '^TestScaleReport$$' ./e2e/

## fuzz: run every fuzz target for FUZZTIME each.
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/bridge ./cmd/bridge

clean:
	rm -rf bin
