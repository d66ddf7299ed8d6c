#!/bin/sh
# Install what is missing, build, and start previewd on its embedded default:
# ./previewd-data/ holds the SQLite file and a bare GitOps repository
# (gitops.git) seeded with the example chart.  Extra arguments go to previewd.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
cmake --build build -j"$(nproc)"
exec build/previewd "$@"
