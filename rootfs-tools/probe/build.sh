#!/usr/bin/env bash
# Builds the container probe as a static binary. Usage: build.sh OUTPUT
set -euo pipefail
out=${1:?usage: build.sh OUTPUT}
here=$(dirname "$0")
gcc -static -O2 -Wall -Werror -o "$out" "$here/probe.c"
