# Sourced by tutorial_test.sh, last (it kills two of the three nodes; managers3 comes from
# chaos_scenario.sh, sourced before): managers as issue 22
# asks. Three managers, each promotion waited for; the leader killed: reads keep answering
# and writes work again once raft has a new leader; a second node killed: the quorum is
# lost and every call says so, naming who answers and the way back; `swarm recover` on the
# survivor; the lost nodes started, made to leave their old swarm and join again; three
# managers again.
check "swarm update --managers 3" managers3
figures=$($M --format json swarm inspect | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(len(d["managers"]), d.get("managers_reachable", 0), d.get("quorum", 0), len(d.get("warnings", [])))')
[ "$figures" = "3 3 2 0" ] && ok "three managers, all reachable, quorum 2" || bad "managers, reachable, quorum, warnings: $figures"
out=$($M swarm update --managers 2 2>&1)
[[ $out == *"Warning: an even number of managers (2)"* ]] && ok "an even count is warned of" || bad "even count: $out"
check "back to three managers" $M swarm update --managers 3

# e2e-m1 (the leader until the chaos scenario killed it: now perhaps a follower).
check "kill the manager e2e-m1" $M node kill e2e-m1
check "node ls answers while raft elects a new leader" $M node ls
written=0 out=""
for _ in $(seq 90); do
  out=$($M network create after_leader 2>&1) && { written=1; break; }
  # An earlier attempt's answer was lost in the election, but the swarm made it: written.
  [[ $out == *"already exists"* ]] && { written=1; break; }
  sleep 1
done
[ $written = 1 ] && ok "writes work again with one manager lost" || bad "no write after a manager's loss: $out"

check "kill e2e-w2 as well" $M node kill e2e-w2
out=$($M service ls 2>&1); rc=$?
[[ $rc = 1 && $out == *"lost its quorum: 1 of its 3 managers answer (e2e-w1; e2e-m1, e2e-w2 do not)"* &&
   $out == *"musketeer swarm recover e2e-w1"* ]] \
  && ok "a lost quorum is said at once, naming who answers and the way back" || bad "lost quorum (exit $rc): $out"
out=$($M swarm recover e2e-w1 2>&1)
# The lost managers are no longer raft members: docker cannot demote them, so they go.
[[ $out == *"e2e-w1 is the swarm's only manager again"* && $out == *"removed the lost managers e2e-m1, e2e-w2"* ]] \
  && ok "swarm recover e2e-w1" || bad "recover: $out"
check "the recovered swarm answers (networks kept)" bash -c "$M network ls | grep -q after_leader"

check "start e2e-m1 and e2e-w2 again" $M node start e2e-m1 e2e-w2
for n in e2e-m1 e2e-w2; do
  check "$n leaves its old swarm" $M swarm leave $n --force
  check "$n joins again" $M swarm join $n --manager e2e-w1
done
check "three managers again" managers3
figures=$($M --format json swarm inspect | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join(sorted(d["managers"])), d.get("managers_reachable", 0))')
[ "$figures" = "e2e-m1 e2e-w1 e2e-w2 3" ] && ok "all three are reachable managers" || bad "after rejoining: $figures"
$M network rm after_leader >/dev/null 2>&1
