# Issue 12 ("wrong today") on the real cluster, through the CLI and a Python client.
# Sourced by tutorial_test.sh once judge_swarm runs (3 replicas, 8090, network swarm_test);
# uses its $M, $admin, $operator, $viewer, $port, $state, ok/bad/check. Leaves no service
# behind; leaves the secret judge_token, which the shipped compose file (stack deploy, next)
# references.

# User mistakes: the field named, the right exit, no engine address, input cut.
out=$($M service create --name api_nonet --network nosuch judge_server:1.0 2>&1)
[[ $? = 1 && $out == *"spec.networks: network 'nosuch' does not exist"* && $out != *"tcp://"* && $out != *"HTTP 5"* ]] \
  && ok "a service on a network that does not exist is refused naming spec.networks" || bad "no such network: $out"
out=$($M network create --subnet 300.1.2.3/99 api_badnet 2>&1)
[[ $? = 1 && $out == *"subnet: '300.1.2.3/99' is not a subnet"* ]] && ok "subnet 300.1.2.3/99 is refused naming subnet" || bad "bad subnet: $out"
out=$($M service create --name api_port -p 8090:8090 judge_server:1.0 2>&1)
[[ $? = 1 && $out == *"already published by service 'judge_swarm'"* ]] && ok "a published port in use is refused naming its service" || bad "port in use: $out"
long=$(printf 'a%.0s' $(seq 64))
out=$($M service create --name "$long" -p 8099:8090 --network swarm_test judge_server:1.0 2>&1)
[[ $? = 1 && $out == *"spec.name"* ]] && ! $M service inspect "$long" >/dev/null 2>&1 \
  && ok "a name over Docker's 63 characters is refused before anything is made" || bad "long name: $out"
out=$($M service create --name "$(head -c 10000 /dev/zero | tr '\0' x)" judge_server:1.0 2>&1)
[[ $? = 1 && ${#out} -lt 400 && $out == *"(10000 characters)"* ]] && ok "a 10,000-character name comes back cut (${#out} characters)" || bad "long input: ${#out} characters"
out=$($M service create --name api_env -e =x judge_server:1.0 2>&1)
[[ $? = 1 && $out == *"spec.env: a variable has an empty name"* ]] && ok "an env variable without a name is refused" || bad "empty env name: $out"

# replicas 0 is a service scaled to zero; networks read back by the names given.
check "a service created with 0 replicas" $M service create --replicas 0 --name api_zero --network swarm_test judge_server:1.0
r=$($M --format json service inspect api_zero | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["spec"].get("replicas"), d.get("desired", 0), d["spec"]["networks"])')
[ "$r" = "0 0 ['swarm_test']" ] && ok "it reads back with replicas 0 and its network by name" || bad "replicas 0 / network names: $r"
$M service rm api_zero >/dev/null

# request_id: the retry of a failed create gets the same error; of a made one, the service.
e1=$($M service create -d --request-id "e2e-$port-fail" --name api_rid --network nosuch judge_server:1.0 2>&1)
e2=$($M service create -d --request-id "e2e-$port-fail" --name api_rid --network nosuch judge_server:1.0 2>&1)
[[ -n $e1 && $e1 == "$e2" && $e2 != *"was used before"* ]] && ok "a retry of a failed create gets the first call's error" || bad "failed retry: [$e1] [$e2]"
i1=$($M --format json service create -d --request-id "e2e-$port-ok" --replicas 0 --name api_rid judge_server:1.0 | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
i2=$($M --format json service create -d --request-id "e2e-$port-ok" --replicas 0 --name api_rid judge_server:1.0 | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
[[ -n $i1 && $i1 == "$i2" ]] && ok "a retry of a made create gets the same service" || bad "made retry: [$i1] [$i2]"
$M service rm api_rid >/dev/null

# Secrets: the judge reads its token from /run/secrets; nobody reads it back.
api_secret=e2e-secret-$RANDOM$RANDOM
printf %s "$api_secret" | $M --token "$operator" secret create api_token - >/dev/null \
  && [ "$($M --token "$viewer" secret ls | awk '$2 == "api_token"' | wc -l)" = 1 ] \
  && ok "a secret from stdin, listed to a viewer" || bad "secret create/ls"
check "a judge reading its token from the secret converges" $M service create --replicas 1 --name api_secret \
  -p 8097:8090 --network swarm_test --cap-add CAP_SYS_ADMIN --secret api_token \
  -e JUDGE_TOKEN_FILE=/run/secrets/api_token judge_server:1.0
ip1=$($M node ip e2e-m1)
good=$(printf %s "$api_secret" | sha256sum | cut -d' ' -f1) wrong=$(printf %s wrong | sha256sum | cut -d' ' -f1)
codes=$(for sig in "$good" "$wrong"; do curl -s -o /dev/null -w '%{http_code} ' -m 10 -X POST -H "X-Judge-Server-Token: $sig" "http://$ip1:8097/ping"; done)
[ "$codes" = "200 401 " ] && ok "the judge takes the secret's token and refuses another (POST /ping: $codes)" || bad "token from the secret: $codes"
seen=$($M --token "$viewer" --format json service inspect api_secret; $M --token "$viewer" --format json secret ls; $M audit ls --limit 50)
[[ $seen != *"$api_secret"* && $seen == *'"secret": "api_token"'* ]] && ok "no reader sees the secret's value (inspect, secret ls, audit)" || bad "the secret's value was shown"
out=$($M secret rm api_token 2>&1)
[[ $? = 1 && $out == *"in use by service api_secret"* ]] && ok "a secret in use is not removed" || bad "secret in use: $out"
check "service rm api_secret" $M service rm api_secret
check "secret rm api_token" $M secret rm api_token
printf e2e | $M secret create judge_token - >/dev/null || bad "secret judge_token for the compose file"

# Another service calling the API from Python: the new calls and answers.
pyout=$(/usr/bin/python3 tests/e2e/api_check.py --endpoint 127.0.0.1:$port --ca "$state/pki/ca/ca.pem" \
  --token "$operator" --viewer-token "$viewer" 2>&1); rc=$?
[ $rc = 0 ] && ok "python client: $(echo "$pyout" | grep -c '^PASS') checks of issue 12 pass" \
  || bad "python client: $(echo "$pyout" | grep -v '^PASS' | tail -8)"
