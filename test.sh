#!/usr/bin/env bash
# Sets up what is missing, then runs every test: the Rust suite (same release profile as the
# build, so nothing compiles twice) and the Python training code's tests.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/scripts/setup.sh"

say "Rust formatting (rustfmt.toml)"
cargo fmt --check

say "Rust tests"
cargo test --release --locked

if [ -f models/training/requirements.txt ]; then
  if ! cmp -s models/training/requirements.txt .venv/.training-installed; then
    say "installing the training requirements"
    # No pip cache: PyPI's torch brings ~5 GB of CUDA wheels, and a cached copy doubles that on
    # a CI disk that has run out once.
    .venv/bin/pip install -q --no-cache-dir --disable-pip-version-check -r models/training/requirements.txt
    cp models/training/requirements.txt .venv/.training-installed
  fi
  say "Python tests (models/training)"
  (cd models/training && ../../.venv/bin/python -m pytest -q tests)
fi
