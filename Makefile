# Neurite: the two commands.
#   make run   trains an MLP on Fashion-MNIST and reports its test accuracy (installs what is missing)
#   make test  runs the test suite (installs what is missing)
SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PKGS := libomp-dev zlib1g-dev dataset-fashion-mnist python3-sklearn

.PHONY: setup run test test-serial test-mpi bench
setup:
	@missing=""; for p in $(PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "setup: installing$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

run: setup
	$(SWIFT) run -c release neurite train --model mlp --data fashion-mnist --epochs 15 --optimizer adam --lr 0.001 --schedule cosine --dropout 0.2 --seed 1

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
