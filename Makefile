# The two commands of the README:
#   make run   installs what is needed, builds (release) and runs the main job
#   make test  installs what is needed and runs every test
.PHONY: setup build run test bench fixtures clean

setup:
	bash scripts/setup.sh

build: setup
	swift build -c release

run: build
	bash scripts/run-main.sh $(ARGS)

test: setup
	swift test

bench: build
	.build/release/mllm-cl bench

# Regenerates the NumPy golden fixtures under Tests/Fixtures (needs python3 + numpy only).
fixtures:
	python3 scripts/fixtures/make_decoder_fixtures.py

clean:
	rm -rf .build out
