#!/bin/sh
# Install gixy-ng into a virtualenv of its own (it must not share apigen's environment: its
# crossplane fork replaces the real crossplane) and print the APIGEN_GIXY line to export.
#   sh scripts/install-gixy.sh [DIR]      (default: $APIGEN_GIXY, else .venv-gixy)
set -eu
dir="${1:-${APIGEN_GIXY:-.venv-gixy}}"
python3 -m venv "$dir"
"$dir/bin/pip" install --quiet "gixy-ng==0.2.59"
"$dir/bin/gixy" --version >/dev/null
echo "export APIGEN_GIXY=$(cd "$dir" && pwd)"
