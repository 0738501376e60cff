#!/usr/bin/env bash
# Builds an attack program as a static binary. Usage: build.sh NAME OUTPUT (NAME.c lives here)
set -euo pipefail
name=${1:?usage: build.sh NAME OUTPUT}
out=${2:?usage: build.sh NAME OUTPUT}
here=$(dirname "$0")
gcc -static -O2 -Wall -Werror -o "$out" "$here/$name.c"
