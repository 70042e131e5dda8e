# The two commands a newcomer needs are `make demo` (once the consumer
# lands) and `make test`. `make test` is what CI runs (.ci/run).

GO ?= go
PKGS := ./...
FUZZTIME ?= 10s

.PHONY: test check vet fmt unit bench fuzz build clean

## test: everything CI checks: formatting, vet, race-enabled tests, a short run of every benchmark.
test: check unit bench

check: fmt vet

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

unit:
	$(GO) test -race -count=1 $(PKGS)

## bench: run each benchmark once so that they keep compiling and working (numbers: see docs).
bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x $(PKGS)

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
