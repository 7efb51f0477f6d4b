# Sourced by tutorial_test.sh (issue 24 §3): judge_swarm's replicas follow its tasks' own
# judge_queue_depth. A burst of judgings through every node's edge (more than the replicas'
# slots) makes it grow; once the burst is over and the cooldown has passed it shrinks back
# to its minimum. Then an operator's scale pauses it. Bounded waits only.
replicas_now() { $M --format json service inspect judge_swarm | python3 -c 'import json,sys; print(json.load(sys.stdin)["spec"].get("replicas", 1))'; }
check "judge_swarm at 3 for the autoscaler" $M service scale judge_swarm=3
check "service autoscale judge_swarm 3..6 on judge_queue_depth" \
  $M service autoscale judge_swarm --min 3 --max 6 --metric judge_queue_depth --target 2 --cooldown 10s

# The burst: 24 callers, each judging a C++ program that spins a few hundred ms per test
# case, again and again for 30 s (compiled once: the compile cache keeps it).
cat >"$tmp/spin.json" <<'JSON'
{"language": "cpp",
 "src": "#include <iostream>\nint main() { volatile unsigned long x = 0; for (unsigned long i = 0; i < 300000000UL; ++i) x += i; long a, b; std::cin >> a >> b; std::cout << a + b << std::endl; }\n",
 "max_cpu_time": 5000, "max_memory": 268435456,
 "test_case": [{"input": "1 2\n", "output": "3\n"}, {"input": "2 2\n", "output": "4\n"}]}
JSON
burst_end=$((SECONDS + 30)) burst_pids=()
for w in $(seq 24); do
  target=$(echo $ips | tr ' ' '\n' | sed -n "$(( (w % 3) + 1 ))p")
  (while [ $SECONDS -lt $burst_end ]; do
     curl -s -m 60 -H "X-Judge-Server-Token: $sig" --data-binary @"$tmp/spin.json" "http://$target/judge" >/dev/null
   done) &
  burst_pids+=($!)
done
grew=3
while [ $SECONDS -lt $burst_end ]; do
  r=$(replicas_now); [ "$r" -gt "$grew" ] 2>/dev/null && grew=$r
  sleep 1
done
wait "${burst_pids[@]}"
[ "$grew" -gt 3 ] && ok "the burst made judge_swarm grow (to $grew replicas)" || bad "no growth under the burst ($grew)"
decision=$($M --format json service inspect judge_swarm | python3 -c '
import json, sys
a = json.load(sys.stdin).get("autoscale", {})
d = a.get("last_decision", {})
print(d.get("from", 0), d.get("to", 0), "judge_queue_depth" in d.get("reason", ""), a.get("paused", False))')
[[ $decision == *" True False" ]] && ok "the decision is visible with its reason ($decision)" || bad "decision: $decision"
shrunk=0
for _ in $(seq 90); do [ "$(replicas_now)" = 3 ] && { shrunk=1; break; }; sleep 1; done
[ $shrunk = 1 ] && ok "after the burst and the cooldown it shrank back to 3" || bad "still $(replicas_now) replicas 90 s after the burst"
[ "$($M audit ls --limit 50 | grep -c autoscaler)" -ge 2 ] && ok "its scales are in the audit log" || bad "no autoscaler in the audit log"

# An operator's scale pauses it, and it says so; --off leaves the replicas as they are.
check "an operator scales to 4" $M service scale judge_swarm=4
paused=0
for _ in $(seq 20); do
  $M --format json service inspect judge_swarm | grep -q '"paused": true' && { paused=1; break; }
  sleep 1
done
[ $paused = 1 ] && [ "$(replicas_now)" = 4 ] && ok "an operator's scale pauses the autoscaler, 4 kept" || bad "not paused or not 4 ($(replicas_now))"
check "service autoscale --off" $M service autoscale judge_swarm --off
