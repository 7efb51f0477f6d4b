#!/usr/bin/env python3
"""A fake QingdaoU OnlineJudge backend: receives judge-server heartbeats and checks them.

POST /api/judge_server_heartbeat/ is validated as OnlineJudge validates it (token header
X-JUDGE-SERVER-TOKEN = sha256 hex of the token; hostname, judger_version, cpu_core >= 1,
memory and cpu in 0-100, action "heartbeat", service_url) and answered as OnlineJudge
answers: {"error": null, "data": null}, or {"error": "...", "data": "..."}. With --judge,
the first heartbeat from each service_url triggers an A+B judging at that URL, the way
OnlineJudge dispatches to it.

GET /servers: one entry per service_url: hostname, beats, last heartbeat, errors, and
the A+B verdict. GET /beats: every heartbeat received. Each heartbeat is also printed.

Standard library only, so that it runs in the judge_server image too (the demo's e2e):
  fake_online_judge.py --port 8000 --token TOKEN --judge
Prints "listening on PORT" first (--port 0 picks one).
"""
import argparse
import hashlib
import http.server
import json
import sys
import threading
import time
import urllib.error
import urllib.request

PATH = "/api/judge_server_heartbeat/"
A_PLUS_B = ("#include <stdio.h>\nint main(){int a,b;scanf(\"%d%d\",&a,&b);"
            "printf(\"%d\\n\",a+b);return 0;}\n")
C_CONFIG = {
    "compile": {"src_name": "main.c", "exe_name": "main", "max_cpu_time": 3000,
                "max_real_time": 10000, "max_memory": 256 << 20,
                "compile_command": "/usr/bin/gcc -O2 {src_path} -lm -o {exe_path}"},
    "run": {"command": "{exe_path}", "seccomp_rule": "c_cpp", "env": []},
}


def validate(data):
    """OnlineJudge's JudgeServerHeartbeatSerializer, as (field, message) or None."""
    if not isinstance(data, dict):
        return "non_field_errors", "Invalid data"
    checks = [
        ("hostname", lambda v: isinstance(v, str) and 0 < len(v) <= 128),
        ("judger_version", lambda v: isinstance(v, str) and 0 < len(v) <= 32),
        ("cpu_core", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1),
        ("memory", lambda v: isinstance(v, (int, float)) and 0 <= v <= 100),
        ("cpu", lambda v: isinstance(v, (int, float)) and 0 <= v <= 100),
        ("action", lambda v: v == "heartbeat"),
        ("service_url", lambda v: isinstance(v, str) and 0 < len(v) <= 256),
    ]
    for field, ok in checks:
        if field not in data or not ok(data[field]):
            return field, "bad or missing value %r" % (data.get(field),)
    return None


class State:
    def __init__(self, token, judge):
        self.token_sha256 = hashlib.sha256(token.encode("utf-8")).hexdigest()
        self.judge = judge
        self.lock = threading.Lock()
        self.beats = []
        self.servers = {}

    def judge_at(self, url):
        body = json.dumps({"language_config": C_CONFIG, "src": A_PLUS_B, "max_cpu_time": 1000,
                           "max_memory": 128 << 20, "test_case_id": None,
                           "test_case": [{"input": "20 22\n", "output": "42\n"}],
                           "output": False}).encode()
        request = urllib.request.Request(
            url.rstrip("/") + "/judge", data=body, method="POST",
            headers={"X-Judge-Server-Token": self.token_sha256,
                     "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                reply = json.loads(r.read())
        except urllib.error.HTTPError as e:
            reply = json.loads(e.read() or b"{}")
        except OSError as e:
            return "unreachable: %s" % e
        if reply.get("err"):
            return "%s: %s" % (reply["err"], reply.get("data"))
        results = [c.get("result") for c in reply.get("data", [])]
        return "AC" if results == [0] else "results %s" % results


class Handler(http.server.BaseHTTPRequestHandler):
    state = None

    def reply(self, payload, status=200):
        body = json.dumps(payload, indent=2).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with self.state.lock:
            if self.path == "/beats":
                return self.reply(self.state.beats)
            if self.path == "/servers":
                return self.reply(self.state.servers)
        self.reply({"error": "not-found", "data": self.path}, 404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != PATH.rstrip("/"):
            return self.reply({"error": "not-found", "data": self.path}, 404)
        error = None
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            error = ("error", "unknown content_type")
        try:
            data = json.loads(raw)
        except ValueError:
            data, error = None, error or ("error", "body is not JSON")
        if error is None:
            bad = validate(data)
            if bad:
                error = ("invalid-" + bad[0], "%s: %s" % bad)
        if error is None and self.headers.get("X-Judge-Server-Token") != self.state.token_sha256:
            error = ("error", "Invalid token")
        beat = {"time": time.time(), "client": self.client_address[0], "body": data,
                "token": self.headers.get("X-Judge-Server-Token"),
                "error": error[1] if error else None}
        print("heartbeat from %s: %s%s" % (self.client_address[0], json.dumps(data),
                                           " REFUSED " + error[1] if error else ""), flush=True)
        judge_url = None
        with self.state.lock:
            self.state.beats.append(beat)
            if isinstance(data, dict) and isinstance(data.get("service_url"), str):
                url = data["service_url"]
                server = self.state.servers.setdefault(
                    url, {"hostname": data.get("hostname"), "beats": 0, "errors": 0,
                          "last": None, "judge": None})
                server["beats"] += 1
                server["errors"] += 1 if error else 0
                server["last"] = beat["time"]
                if self.state.judge and not error and server["judge"] is None:
                    server["judge"] = "pending"
                    judge_url = url
        if error:
            self.reply({"error": error[0], "data": error[1]})
        else:
            self.reply({"error": None, "data": None})
        if judge_url:
            threading.Thread(target=self.finish_judge, args=(judge_url,), daemon=True).start()

    def finish_judge(self, url):
        verdict = self.state.judge_at(url)
        print("judged A+B at %s: %s" % (url, verdict), flush=True)
        with self.state.lock:
            self.state.servers[url]["judge"] = verdict

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--address", default="0.0.0.0")
    parser.add_argument("--token", required=True)
    parser.add_argument("--judge", action="store_true",
                        help="judge A+B at each new service_url")
    args = parser.parse_args()
    Handler.state = State(args.token, args.judge)
    server = http.server.ThreadingHTTPServer((args.address, args.port), Handler)
    print("listening on %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
