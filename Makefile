# Fluxo: the two commands that matter are first. `make run` serves the whole ledger on this machine;
# `make test` runs every check CI runs.

CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: run test fmt-check lint unit infra-check tools fmt venv package

## run: serve the ledger locally on the embedded store, with a demo account, token and curl example
run:
	$(CARGO) run -p fluxo -- serve --demo

## test: formatting, clippy with warnings as errors, and every test
test: fmt-check lint unit infra-check

fmt-check:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit: tools venv
	$(CARGO) nextest run --workspace --no-fail-fast
	# The same black-box tests again, against `fluxo serve --backend aws` on the moto emulator.
	FLUXO_TEST_BACKEND=aws $(CARGO) nextest run --workspace -E 'binary(http)' --no-fail-fast

## infra-check: infra/ statically (no provider download): terraform fmt when terraform is installed,
## checkov with zero failed checks, and the invariants test (shared/tests/infra.rs)
infra-check: tools venv
	@if command -v terraform >/dev/null 2>&1; then \
		echo "terraform fmt -check -recursive infra"; terraform fmt -check -recursive infra; \
	else echo "terraform not installed: skipping terraform fmt -check"; fi
	.venv/bin/checkov -d infra --framework terraform --quiet --compact --skip-download
	$(CARGO) nextest run --workspace -E 'binary(infra)' --no-fail-fast

## tools: install what the checks need and the machine lacks (Chromium, for the status page's browser test)
tools:
	@command -v cargo-nextest >/dev/null 2>&1 || $(CARGO) install --locked cargo-nextest
	@command -v chromium >/dev/null 2>&1 || (apt-get update && apt-get install -y --no-install-recommends chromium)

fmt:
	$(CARGO) fmt --all

## package: each function as an arm64 Lambda zip, target/lambda/<function>/bootstrap.zip
package: venv
	PATH="$(CURDIR)/.venv/bin:$$PATH" cargo-lambda lambda build --release --arm64 --output-format zip \
		-p ingest -p report -p consolidate -p relay
	@ls -l target/lambda/*/bootstrap.zip

## venv: Python-distributed tools (cargo-lambda) in the project-local .venv, pinned in requirements-dev.txt
venv: .venv/.installed

.venv/.installed: requirements-dev.txt
	python3 -m venv .venv
	.venv/bin/pip install --quiet -r requirements-dev.txt
	touch $@
