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
## Man page and completions are generated into target/assets/ from the clap definition.
## cargo-deb / cargo-generate-rpm are installed by packaging/install-tools.sh when missing.
deb: release
	@bash packaging/install-tools.sh
	bash packaging/gen-assets.sh target/release/aio-prep target/assets
	$(CARGO) deb --no-build --locked -p aio-prep -o target/packages/

rpm: release
	@bash packaging/install-tools.sh
	bash packaging/gen-assets.sh target/release/aio-prep target/assets
	$(CARGO) generate-rpm --auto-req builtin -o target/packages/

## Install the release tree (binary, unit, default config, man page, completions) into DESTDIR.
## `make install DESTDIR=/tmp/stage PREFIX=/usr`; PREFIX defaults to /usr/local.
PREFIX ?= /usr/local
install: release
	bash packaging/gen-assets.sh target/release/aio-prep target/assets
	bash packaging/install.sh "$(DESTDIR)" "$(PREFIX)" target/release/aio-prep target/assets

## Whole-machine tests: booted Debian (systemd-nspawn) with the .deb, cloud-init, Ansible.
e2e: e2e-packages e2e-fleet

## The .deb on a booted Debian 12 (systemd-nspawn, real PID 1) with the k3s stand-in, the
## cloud-init examples through NoCloud against the Azure emulator, the .rpm's scriptlets.
e2e-packages: deb rpm
	bash tests/machine/run.sh target/release target/packages

## playbooks/site.yml against three booted Debian 12 machines (systemd-nspawn, own root and
## systemd each; two k3s servers, one agent) over SSH on private network namespaces; see
## tests/fleet/README.md. FLEET_DEB=target/packages/aio-prep_*.deb uses the real package.
e2e-fleet: build
	bash tests/fleet/run.sh target/debug

clean:
	$(CARGO) clean
