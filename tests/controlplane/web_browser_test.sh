#!/usr/bin/env bash
# The page's browser test (tests/e2e/web/web_test.mjs: Debian's chromium driven by
# puppeteer-core) against the real gateway over a fake swarm (web_fake_cluster): no cluster
# needed. The same steps run on the real e2e cluster (tests/e2e/web_scenario.sh). Also the
# cluster watch from Python over gRPC (tests/e2e/web/watch_client.py).
# Screenshots: BUILD/web-test/screenshots-fake. Usage: web_browser_test.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$(realpath "${1:-build}")
command -v chromium >/dev/null && command -v npm >/dev/null ||
  { echo "FAIL chromium or npm missing (scripts/setup installs them)"; exit 1; }
web_dir=$build/web-test
mkdir -p "$web_dir"
if ! cmp -s tests/e2e/web/package-lock.json "$web_dir/package-lock.json" || [ ! -d "$web_dir/node_modules/puppeteer-core" ]; then
  cp tests/e2e/web/package.json tests/e2e/web/package-lock.json "$web_dir/"
  (cd "$web_dir" && npm ci --no-audit --no-fund >/dev/null)
fi
cp tests/e2e/web/web_test.mjs "$web_dir/"  # beside its node_modules (ES modules ignore NODE_PATH)
tmp=$(mktemp -d /tmp/mk-web.XXXX)
coproc FAKE { "$build/tests/controlplane/web_fake_cluster" "$tmp" 2>"$tmp/log"; }
trap 'exec {FAKE[1]}>&-; wait "$FAKE_PID" 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 300); do [ -s "$tmp/url" ] && break; sleep 0.1; done
[ -s "$tmp/url" ] || { echo "FAIL the fake cluster did not start: $(cat "$tmp/log")"; exit 1; }
# The watch from Python (stubs generated from protos/ now), over gRPC.
/usr/bin/python3 tests/e2e/web/watch_client.py "127.0.0.1:$(cat "$tmp/grpc_port")" "$tmp/ca.pem" \
  "$(cat "$tmp/viewer.token")" judge_swarm || failed=1
rm -rf "$web_dir/screenshots-fake"
WEB_URL=$(cat "$tmp/url") WEB_CERT=$tmp/cert.pem ADMIN_TOKEN=$(cat "$tmp/admin.token") \
  VIEWER_TOKEN=$(cat "$tmp/viewer.token") SERVICE=judge_swarm DRAIN=worker1 \
  SHOTS=$web_dir/screenshots-fake timeout 240 node "$web_dir/web_test.mjs" || failed=1
exit "${failed:-0}"
