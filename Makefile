# Neurite: the two commands.
#   make run   trains an MLP on Fashion-MNIST and reports its test accuracy (installs what is missing)
#   make test  runs the test suite (installs what is missing)
#   make fuzz  mutation-fuzzes the file decoders (IDX, gzip, CSV, checkpoints) for FUZZ_SECONDS per
#              target, all targets at once; the input being tried is kept in FUZZ_DIR, so after a
#              crash FUZZ_DIR/<target>-last.bin (or checkpoint-*.safetensors) is the crashing input
SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PKGS := libomp-dev zlib1g-dev dataset-fashion-mnist python3-sklearn

FUZZ_SECONDS ?= 600
FUZZ_SEED ?= 1
FUZZ_DIR ?= .fuzz

.PHONY: setup run test test-serial test-mpi bench fuzz
setup:
	@missing=""; for p in $(PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "setup: installing$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

run: setup
	$(SWIFT) run -c release neurite train --model mlp --data fashion-mnist --epochs 15 --optimizer adam --lr 0.001 --schedule cosine --dropout 0.1 --seed 1

test: setup
	$(SWIFT) test

test-serial: setup
	$(SWIFT) test --disable-default-traits --scratch-path .build-serial

# Data-parallel training under mpirun (2 ranks on this machine); needs Open MPI, installed here.
test-mpi: setup
	@missing=""; for p in libopenmpi-dev openmpi-bin; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "test-mpi: installing$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	$(SWIFT) build --traits MPI --scratch-path .build-mpi --product neurite
	Tests/MPI/data_parallel.sh .build-mpi/debug/neurite
	Tests/MPI/across_namespaces.sh .build-mpi/debug/neurite

bench: setup
	$(SWIFT) run -c release neurite-bench all

fuzz: setup
	$(SWIFT) build --build-tests
	NEURITE_FUZZ_ITERATIONS=1000000000 NEURITE_FUZZ_SECONDS=$(FUZZ_SECONDS) NEURITE_FUZZ_SEED=$(FUZZ_SEED) \
	  NEURITE_FUZZ_SAVE_DIR=$(FUZZ_DIR) $(SWIFT) test --skip-build --filter FuzzTests
