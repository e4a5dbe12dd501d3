# GeoInfer: `make run` and `make test` install what is missing, build, and run.
SHELL := /bin/bash
SWIFT ?= swift
SAMPLE := .deps/samples/OSBS_029.tif

.PHONY: setup setup-test build run sample test lint bench model clean

setup:
	@bash scripts/setup.sh

## What the tests need besides: headless Chromium for the dashboard test.
setup-test:
	@bash scripts/setup.sh --test

build: setup
	$(SWIFT) build

## Start the job service on its embedded default: http://127.0.0.1:8000, SQLite and files under ./data.
run: build
	.build/debug/geoinfer serve

## Detect tree crowns in the NEON sample with the default model and say where the results are.
sample: build
	.build/debug/geoinfer detect $(SAMPLE) --out out/OSBS_029
	@echo "Results: out/OSBS_029/coco.json, out/OSBS_029/detections.geojson, out/OSBS_029/metadata.json"

## Tests that assert a wall-clock bound run on their own, after the rest, so the load of the
## other tests never decides them.
TIME_BOUND := TimeBoundTests|PostgresWakeUpTests

## Each step has a limit far above its usual time (about 2 min and 30 s on 2 cores): a run that
## passes it is stopped, and scripts/run_tests.sh prints where it was (tests, processes, stacks).
test: setup-test lint
	$(SWIFT) build --build-tests
	bash scripts/run_tests.sh 1500 --skip '$(TIME_BOUND)'
	bash scripts/run_tests.sh 600 --filter '$(TIME_BOUND)'
	bash scripts/api_check.sh

## The checked-in .swift-format, strictly: any finding fails the build.
lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift

bench: setup-test
	$(SWIFT) build -c release
	bash scripts/bench.sh

## Re-train the default model from scratch (tests never re-train).
model:
	bash training/make_model.sh

clean:
	rm -rf .build out
