# The whole test suite: vet, race-enabled tests in random order, a short
# run of every fuzz target, and the static build the Dockerfile makes.
.PHONY: test vet unit fuzz-smoke build-static bench

GO ?= go
FUZZTIME ?= 4s

test: vet build-static fuzz-smoke unit

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -shuffle=on -count=1 -timeout 15m ./...

fuzz-smoke:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz-smoke.sh

# The same build as the Dockerfile's builder stage.
build-static:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o /tmp/fibergate-static ./cmd/fibergate
	@echo "static build: ok"

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
