# Issue 14 on the shared e2e cluster (sourced by tutorial_test.sh once judge_swarm runs 3/3
# on its 3 nodes; musketeerd serves the gateway on port+1): the JSON API with curl, then the
# page in Debian's chromium driven by puppeteer-core (tests/e2e/web/web_test.mjs), with a
# screenshot per step in BUILD/web-test/screenshots. Leaves the service at 3 replicas.
web_base="https://127.0.0.1:$((port + 1))"
web_curl() { curl -sS --max-time 10 --cacert "$state/pki/ca/ca.pem" "$@"; }
out=$(web_curl -D - -o /dev/null "$web_base/")
[[ $out == *" 200"* && $out == *"Content-Security-Policy: default-src 'none'; script-src 'self'"* ]] \
  && ok "web: the page is served over TLS with its CSP" || bad "web: the page: $out"
out=$(web_curl -H "Authorization: Bearer $viewer" "$web_base/v1/services/judge_swarm")
[[ $out == *'"running":3'* && $out == *'"desired":3'* ]] && ok "web: GET /v1/services/judge_swarm as JSON" || bad "web: service as JSON: $out"
out=$(web_curl -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $viewer" \
  --data '{"name":"judge_swarm","replicas":1}' "$web_base/v1/Services/UpdateService")
[ "$out" = 403 ] && ok "web: a viewer's UpdateService is 403" || bad "web: viewer update answered $out"
out=$(web_curl -N --max-time 3 -H "Authorization: Bearer $viewer" "$web_base/v1/watch?kinds=node")
[ "$(echo "$out" | sed '/"type":"SYNCED"/q' | grep -c '"type":"PUT","revision"')" = 3 ] && [[ $out == *'"type":"SYNCED"'* ]] \
  && ok "web: the watch streams the 3 nodes, then SYNCED" || bad "web: watch: $(echo "$out" | head -c 300)"
while IFS= read -r line; do
  case $line in PASS\ *) ok "${line#PASS }" ;; FAIL\ *) bad "${line#FAIL }" ;; *) bad "python watch: $line" ;; esac
done < <(timeout 60 /usr/bin/python3 tests/e2e/web/watch_client.py 127.0.0.1:$port "$state/pki/ca/ca.pem" "$viewer" judge_swarm 2>&1)
if command -v chromium >/dev/null && command -v npm >/dev/null; then
  web_dir=$build/web-test
  mkdir -p "$web_dir"
  if ! cmp -s tests/e2e/web/package-lock.json "$web_dir/package-lock.json" || [ ! -d "$web_dir/node_modules/puppeteer-core" ]; then
    cp tests/e2e/web/package.json tests/e2e/web/package-lock.json "$web_dir/"
    (cd "$web_dir" && npm ci --no-audit --no-fund >/dev/null 2>&1) || bad "web: npm ci of puppeteer-core"
  fi
  rm -rf "$web_dir/screenshots"
  cp tests/e2e/web/web_test.mjs "$web_dir/"  # beside its node_modules (ES modules ignore NODE_PATH)
  while IFS= read -r line; do
    case $line in PASS\ *) ok "${line#PASS }" ;; FAIL\ *) bad "${line#FAIL }" ;; esac
  done < <(WEB_URL="$web_base/" WEB_CERT="$state/pki/http/cert.pem" \
    ADMIN_TOKEN="$admin" VIEWER_TOKEN="$viewer" SERVICE=judge_swarm DRAIN=e2e-w1 \
    SHOTS="$web_dir/screenshots" timeout 240 node "$web_dir/web_test.mjs" 2>&1)
  [ "$(ls "$web_dir/screenshots" 2>/dev/null | wc -l)" -ge 5 ] && ok "web: screenshots in $web_dir/screenshots" || bad "web: screenshots missing"
else
  bad "web: chromium or npm missing (scripts/setup installs them)"
fi
