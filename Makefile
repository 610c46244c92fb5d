# The two commands README.md promises:
#   make run   — install build deps where possible, build, start the server, print the URL
#   make test  — install test deps where possible, vet, run every test (one
#                package at a time: browser and device tests need the CPU)
GO ?= go
BIN := bin/videochat
ARGS ?=

.PHONY: run test build bench-build deps-build deps-test fuzz clean

run: build
	./$(BIN) serve $(ARGS)

build: deps-build
	$(GO) build -o $(BIN) ./cmd/videochat

# The call benches (Chromium-driving) live in their own binary beside videochat.
bench-build: build
	$(GO) build -o bin/videochat-bench ./cmd/videochat-bench

test: deps-test
	$(GO) vet ./...
	$(GO) test -race -count=1 ./signal/...
	$(GO) test -p 1 -count=1 -timeout 40m ./...

deps-build:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh test

fuzz:
	scripts/fuzz.sh

clean:
	rm -rf bin
