#!/usr/bin/env bash
# Sets up what is missing, then starts glimpse on its default source (the first camera, or the
# synthetic face when there is none). Arguments go to glimpse: ./start.sh analyse clip.mp4 --out s1
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/scripts/setup.sh"
exec "$ROOT/target/release/glimpse" "$@"
