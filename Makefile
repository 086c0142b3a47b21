# aio-prep — the two commands: `make demo` and `make test`.
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: deps build demo test lint unit e2e e2e-packages e2e-fleet deb rpm install bench release clean

deps:
	@bash scripts/install-deps.sh

build: deps
	$(CARGO) build --workspace --locked

## Bring up a real systemd manager with the k3s stand-in in a temp root and run
## detect, plan, apply, status, apply again — then tear it down.
demo: build
	bash scripts/demo.sh target/debug

## Every test: format, lint, unit, integration, end-to-end under a real systemd manager.
test: build lint
	$(CARGO) test --workspace --locked -- --test-threads=4

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

release: deps
	$(CARGO) build --workspace --release --locked

## Speed and size figures (release build); writes bench/REPORT.md.
bench: release
	bash scripts/bench.sh target/release

## Packages (owned by packaging/): .deb via cargo-deb, .rpm via cargo-generate-rpm.
deb: release
	@echo "deb: not yet implemented" >&2; exit 1

rpm: release
	@echo "rpm: not yet implemented" >&2; exit 1

## Install the release tree (binary, unit, default config, man page, completions) into DESTDIR.
install: release
	@echo "install: not yet implemented" >&2; exit 1

## Whole-machine tests: booted Debian (systemd-nspawn) with the .deb, cloud-init, Ansible.
e2e: e2e-packages e2e-fleet

e2e-packages:
	@echo "e2e-packages: not yet implemented" >&2; exit 1

e2e-fleet:
	@echo "e2e-fleet: not yet implemented" >&2; exit 1

clean:
	$(CARGO) clean
