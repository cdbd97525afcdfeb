# The whole test suite: vet, race-enabled tests in random order, a short
# run of every fuzz target, the static build the Dockerfile makes, and
# promtool's checks of the alert rules.
.PHONY: test vet unit fuzz-smoke build-static check-deploy bench

GO ?= go
FUZZTIME ?= 4s

test: vet build-static check-deploy fuzz-smoke unit

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -shuffle=on -count=1 -timeout 15m ./...

fuzz-smoke:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz-smoke.sh

# The alert rules and the example scrape config: syntax, and the rules'
# unit tests (promtool from Debian's prometheus package).
check-deploy:
	promtool check rules deploy/prometheus/alerts.yml
	cd deploy/prometheus && promtool test rules alerts_test.yml
	promtool check config deploy/prometheus/prometheus.yml

# The same build as the Dockerfile's builder stage.
build-static:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o /tmp/fibergate-static ./cmd/fibergate
	@echo "static build: ok"

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
