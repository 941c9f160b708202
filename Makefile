# reelset developer entry points. `make demo` and `make test` work on a fresh Debian 12 /
# Ubuntu machine: they install the apt packages (as root, or with sudo), build the steps' store
# env of requirements.lock with Nix and link it as .venv, then use Nix with the host toolchain.
#
#   make deps    apt packages the demo needs: nix-bin, binutils, ffmpeg, espeak-ng, git, python3,
#                python3-venv (the wheelhouse builder makes a pip venv of /usr/bin/python3)
#   make test-deps  what only the tests add: openssh (simulated builder tests), debootstrap (Debian 11
#                builder test), chromium +
#                chromium-driver (report browser tests), util-linux, procps
#   make venv    .venv = a link to the steps' store env of requirements.lock (nix build .#host.python-env)
#   make demo    nix build --impure .#host.demo; prints the store paths and the report
#   make test    the test suite (pytest: real media, real Nix builds)
#   make lint    ruff
#   make docs    regenerate docs/reference + docs/schemas (tests/test_docs.py fails when stale)
#   make pin-env after editing requirements.lock: record the NAR hash of its wheelhouse in
#                nix/python-env.json (the steps' Python environment is a store path built from it)
#
# NIX_CONFIG below: flakes on, no binary cache (host-toolchain derivations are never in one),
# build users off (plain root/single-user Nix), sandbox relaxed (host steps are __noChroot).
# REELSET_LOCAL_CUDA=1 declares the `cuda` system feature on this machine so cuda steps run
# here (on the CPU when there is no GPU); set it to 0 when a GPU builder takes them.

SHELL := /bin/bash
PYTHON ?= python3
VENV := $(CURDIR)/.venv
APT_PACKAGES := nix-bin binutils ffmpeg espeak-ng git python3 python3-venv
TEST_APT_PACKAGES := openssh-server openssh-client util-linux procps chromium chromium-driver debootstrap
REELSET_LOCAL_CUDA ?= 1
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

define NIX_CONFIG
experimental-features = nix-command flakes
substituters =
build-users-group =
sandbox = relaxed
$(if $(filter 1,$(REELSET_LOCAL_CUDA)),extra-system-features = cuda)
endef
export NIX_CONFIG
# The steps run in the store env of requirements.lock (nix/toolchains/host.nix), which .venv links
# to; REELSET_PYTHON is an escape hatch, not set here.
unexport REELSET_PYTHON

.PHONY: deps test-deps venv demo test lint docs pin-env

# apt-get install of the packages of $(1) that are missing
define APT_INSTALL
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; fi
endef

deps:
	$(call APT_INSTALL,$(APT_PACKAGES))

test-deps:
	$(call APT_INSTALL,$(TEST_APT_PACKAGES))

# .venv is a link to the steps' own store env (nix/toolchains/host.nix, tools/python_env.py): the
# tests, the CLI, the review server and every step run one self-contained environment (its own
# interpreter, libraries and ffmpeg). The link is a GC root. The wheelhouse it was installed from
# is a build input only: it is deleted afterwards (it is fetched again, pinned by its hash, if the
# env ever has to be rebuilt), so the disk holds one copy of the lock.
venv: deps
	@[ -L $(VENV) ] || rm -rf $(VENV)
	nix build --impure .#host.python-env --out-link $(VENV)
	@wh=$$(nix eval --impure --raw .#host.wheelhouse.outPath); \
	if [ -e "$$wh" ]; then nix store delete "$$wh" >/dev/null 2>&1 && echo "venv: removed the wheelhouse $$wh (a build input only)" || true; fi

demo: deps venv
	nix build --impure .#host.demo
	@out=$$(readlink -f result); asr=$$(readlink -f result/step2-transcript-base/shards/demo01); \
	echo "demo: $$out"; \
	echo "step1-scenes: $$(readlink -f result/step1-scenes/shards/demo01)"; \
	echo "transcript as heard:"; $(VENV)/bin/python -c 'import json,sys; [print("  %6.2f  %s" % (s["start"], s["text"])) for s in json.load(open(sys.argv[1]))["segments"]]' "$$asr/transcript.json"; \
	echo "report: $$out/index.html (also ./result/index.html)"; \
	echo "step2-transcript-base: $$asr"

test: deps test-deps venv
	$(VENV)/bin/python -m pytest

lint: venv
	$(VENV)/bin/ruff check tools tests pipelines bench

docs: venv
	$(VENV)/bin/python tools/gen_docs.py

pin-env: deps
	$(PYTHON) tools/python_env.py pin
