# Sourced by tutorial_test.sh while judge_swarm runs 3 replicas on swarm_test (token "e2e").
# Issue 10: QingdaoU OnlineJudge's heartbeat from the replicas of a swarm service. A fake
# OnlineJudge backend (tests/judge_server/fake_online_judge.py, in an image built FROM the
# judge image through musketeer) runs as service fake_oj on the same overlay; judge_swarm
# is updated to beat to it with SERVICE_URL http://{ip}:{port}. The backend validates every
# heartbeat as OnlineJudge does and judges A+B at each URL it hears of, so three distinct
# URLs, each AC, mean each replica reported a URL that reaches that very replica. No IPVS
# here, so the backend is named by its tasks (tasks.fake_oj), not by its VIP.
mkdir -p "$tmp/fake_oj"
cp tests/judge_server/fake_online_judge.py "$tmp/fake_oj/"
cat >"$tmp/fake_oj/Dockerfile" <<'DOCKERFILE'
FROM judge_server:1.0
COPY fake_online_judge.py /fake_online_judge.py
ENTRYPOINT ["python3", "/fake_online_judge.py"]
HEALTHCHECK NONE
CMD ["--port", "8000", "--token", "e2e", "--judge"]
DOCKERFILE
check "heartbeat: fake OnlineJudge image built and distributed" $M image build "$tmp/fake_oj" -t fake_oj:e2e
check "heartbeat: fake OnlineJudge runs on swarm_test" $M service create --name fake_oj --network swarm_test fake_oj:e2e
check "heartbeat: judge_swarm beats to it" $M service update judge_swarm \
  --env-add BACKEND_URL=http://tasks.fake_oj:8000/api/judge_server_heartbeat/ \
  --env-add 'SERVICE_URL=http://{ip}:{port}' --env-add JUDGE_HEARTBEAT_INTERVAL=1
oj_node=$($M --format json service ps fake_oj | python3 -c 'import json,sys; print([t["node"] for t in json.load(sys.stdin)["tasks"] if t["desired_state"] == "running"][0])')
servers() {
  (eval "$($M node env "$oj_node")"
   docker exec "$(docker ps -q -f label=com.docker.swarm.service.name=fake_oj | head -1)" python3 -c \
     'import json,urllib.request; print(json.dumps(json.load(urllib.request.urlopen("http://127.0.0.1:8000/servers"))))')
}
hb=""
for _ in $(seq 60); do
  hb=$(servers 2>/dev/null)
  [ "$(echo "${hb:-{\}}" | python3 -c 'import json,sys; print(sum(v["judge"] == "AC" and v["errors"] == 0 for v in json.load(sys.stdin).values()))')" -ge 3 ] && break
  sleep 1
done
# The live replicas' overlay addresses: every URL the backend judged at must be one of them.
verdict=$(echo "${hb:-{\}}" | python3 -c '
import json, sys
s = json.load(sys.stdin)
ac = [u for u, v in s.items() if v["judge"] == "AC" and v["errors"] == 0]
hosts = {s[u]["hostname"] for u in ac}
print(len(ac), len(hosts), all(u.startswith("http://10.") and u.endswith(":8090") for u in ac))')
[ "$verdict" = "3 3 True" ] && ok "heartbeat: 3 replicas report 3 URLs on the overlay, each reached and judging A+B AC" \
  || bad "heartbeat (AC urls, hostnames, all on the overlay): $verdict; backend saw: $hb"
check "heartbeat: judge_swarm rolled back" $M service rollback judge_swarm
check "heartbeat: fake OnlineJudge removed" $M service rm fake_oj
