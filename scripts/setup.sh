#!/usr/bin/env bash
# Installs what glimpse needs on Debian/Ubuntu, then builds it. Safe to run again: it only
# installs what is missing. Sourced by ./start.sh and ./test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# System packages: OpenCV with its cascades, libclang for the bindings, Python for the ONNX
# Runtime wheel, FFmpeg (the recorder's encoder, ffprobe for the tests), strace (the no-network
# test), Xvfb/Mesa for the window's tests.
APT_PACKAGES=(
  build-essential pkg-config curl ca-certificates git
  libopencv-dev opencv-data clang libclang-dev nasm
  python3 python3-venv python3-pip
  ffmpeg strace
  xvfb xauth imagemagick libgl1-mesa-dri libegl1 libgl1 libglx-mesa0
  libxkbcommon-x11-0 libxcursor1 libxrandr2 libxi6 libx11-xcb1
)
missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  say "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Rust: the toolchain pinned in rust-toolchain.toml.
if ! command -v cargo >/dev/null 2>&1; then
  [ -x "$HOME/.cargo/bin/cargo" ] || {
    say "installing Rust (rustup)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain none
  }
  export PATH="$HOME/.cargo/bin:$PATH"
fi
# rustfmt for test.sh's format check: the toolchain file asks for it, but a toolchain installed
# before it did (or with rustup's auto-install off) may lack it.
if ! cargo fmt --version >/dev/null 2>&1; then
  say "adding rustfmt"
  rustup component add rustfmt
fi

# ONNX Runtime comes from the onnxruntime wheel, in a venv of the project's own.
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import onnxruntime" >/dev/null 2>&1 \
   || ! cmp -s requirements-runtime.txt .venv/.runtime-installed; then
  say "installing the ONNX Runtime wheel"
  .venv/bin/pip install -q --no-cache-dir --disable-pip-version-check -r requirements-runtime.txt
  cp requirements-runtime.txt .venv/.runtime-installed
fi
# ONNX Runtime's own telemetry stays off in everything run from here (the app sets it too).
export ORT_DISABLE_TELEMETRY=1
ORT_DYLIB_PATH="$(.venv/bin/python - <<'PY'
import glob, os, onnxruntime
capi = os.path.join(os.path.dirname(onnxruntime.__file__), "capi")
print(sorted(glob.glob(os.path.join(capi, "libonnxruntime.so*")))[-1])
PY
)"
export ORT_DYLIB_PATH

say "building glimpse (release)"
cargo build --release --locked
