#!/bin/sh
# Runs bun-echo.js on the Bun from `npm install bun` in a scratch directory (docs/native-transport.md):
# $BUN, else /tmp/s21-bun/node_modules/.bin/bun. exec keeps the PID, so loadgen samples Bun's CPU.
bun=${BUN:-/tmp/s21-bun/node_modules/.bin/bun}
[ -x "$bun" ] || { echo "bun-echo.sh: no Bun at $bun (set BUN)" >&2; exit 2; }
exec "$bun" "$(dirname "$0")/bun-echo.js" "$@"
