#!/usr/bin/env python3
"""QingdaoU's client scenarios, and OnlineJudge's heartbeat, against a real judge_server.

The checks of QingdaoU/JudgeServer's client example and tests (ping, token failures,
compile_spj, judging C, C++ and Python 3 on a test_case_id, a special judge, inline test
cases), with our own programs and test-case directories, through qingdao_client.py, which
sends exactly the requests QingdaoU's client sends; then judge_servers beating to
fake_online_judge.py, which validates heartbeats as OnlineJudge does and judges A+B at
each reported URL; QingdaoU's run-only PHP and JavaScript configs too. Java, Go, Python 2
and File IO are not part of this test.

Usage: qingdao_client_test.py BUILD_DIR   (as root: submissions run as unprivileged uids)
"""
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qingdao_client as qc  # noqa: E402

TOKEN = "YOUR_TOKEN_HERE"

C_SRC = r"""
#include <stdio.h>
int main(){
    int a, b;
    scanf("%d%d", &a, &b);
    printf("%d\n", a + b);
    return 0;
}
"""
CPP_SRC = r"""
#include <iostream>
int main() { long a, b; std::cin >> a >> b; std::cout << a + b << std::endl; }
"""
PY3_SRC = "a, b = map(int, input().split())\nprint(a + b)\n"
REJECTING_SPJ = "int main(){ return 1; }\n"  # QingdaoU's example checker: always WA
SUM_SPJ = r"""
#include <stdio.h>
int main(int argc, char **argv) {
    FILE *in = fopen(argv[1], "r"), *out = fopen(argv[2], "r");
    long a, b, c;
    if (!in || !out || fscanf(in, "%ld %ld", &a, &b) != 2) return 2;
    if (fscanf(out, "%ld", &c) != 1) return 1;
    return a + b == c ? 0 : 1;
}
"""
ECHO_SRC = "print(input())\n"
PHP_SRC = "<?php fscanf(STDIN, '%d %d', $a, $b); echo $a + $b, PHP_EOL;\n"
JS_SRC = ("const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/)"
          ".map(Number);\nconsole.log(a + b);\n")


def write_cases(root):
    def write(path, data):
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)

    write("normal/1.in", b"1 2\n")
    write("normal/1.out", b"3\n")
    write("normal/info", json.dumps({
        "test_case_number": 1, "spj": False, "test_cases": {"1": {
            "input_name": "1.in", "input_size": 4, "output_name": "1.out", "output_size": 2,
            "output_md5": hashlib.md5(b"3\n").hexdigest(),
            "stripped_output_md5": hashlib.md5(b"3").hexdigest()}}}).encode())
    write("spj/1.in", b"20 22\n")
    write("spj/info", json.dumps({"test_case_number": 1, "spj": True, "test_cases": {
        "1": {"input_name": "1.in", "input_size": 6}}}).encode())
    line = "你好, мир, ça va\n".encode("utf-8")
    write("unicode/1.in", line)
    write("unicode/1.out", line)
    write("unicode/info", json.dumps({"spj": False, "test_cases": {"1": {
        "input_name": "1.in", "output_name": "1.out", "output_size": len(line),
        "stripped_output_md5": hashlib.md5(line.rstrip()).hexdigest()}}}).encode())


class QingdaoClientTest(unittest.TestCase):
    build = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="qingdao_client_")
        os.chmod(cls.tmp, 0o711)  # the slots' uids must reach the work dir inside
        cases = os.path.join(cls.tmp, "cases")
        write_cases(cases)
        os.chmod(cases, 0o700)
        env = dict(os.environ, TOKEN=TOKEN)  # QingdaoU's variable name
        env.pop("JUDGE_TOKEN", None)
        cls.server = subprocess.Popen(
            [os.path.join(cls.build, "judge_server/judge_server"), "--port", "0",
             "--work-dir", os.path.join(cls.tmp, "work"), "--test-case-dir", cases,
             "--uid-base", str(600000 + random.randrange(10000) * 64), "--slots", "2"],
            stdout=subprocess.PIPE, env=env, text=True)
        line = cls.server.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError("judge_server did not start: " + line)
        port = int(line.split("listening on ")[1].split()[0].rsplit(":", 1)[1])
        cls.url = "http://127.0.0.1:%d" % port
        cls.client = qc.JudgeServerClient(token=TOKEN, server_base_url=cls.url)

    @classmethod
    def tearDownClass(cls):
        cls.server.kill()
        cls.server.wait()
        cls.server.stdout.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def judge(self, **kwargs):
        kwargs.setdefault("max_cpu_time", 1000)
        kwargs.setdefault("max_memory", 128 * 1024 * 1024)
        return self.client.judge(**kwargs)

    def assert_results(self, reply, results):
        self.assertIsNone(reply["err"], reply)
        self.assertEqual([c["result"] for c in reply["data"]], results, reply)

    # QingdaoU's tests/tests.py
    def test_ping(self):
        data = self.client.ping()
        self.assertIsNone(data["err"])
        self.assertEqual(data["data"]["action"], "pong")
        for field in ("hostname", "cpu", "cpu_core", "memory", "judger_version"):
            self.assertIn(field, data["data"])
        self.assertTrue(0 <= data["data"]["cpu"] <= 100)
        self.assertTrue(0 <= data["data"]["memory"] <= 100)

    def test_invalid_token(self):
        client = qc.JudgeServerClient(token="wrong token", server_base_url=self.url)
        self.assertEqual(client.ping()["err"], "TokenVerificationFailed")

    def test_no_token_header(self):
        client = qc.JudgeServerClient(token=TOKEN, server_base_url=self.url, send_token=False)
        self.assertEqual(client.ping()["err"], "TokenVerificationFailed")
        self.assertEqual(client.judge(src=C_SRC, language_config=qc.C_CONFIG, max_cpu_time=1000,
                                      max_memory=1 << 27, test_case_id="normal")["err"],
                         "TokenVerificationFailed")

    # The calls of QingdaoU's client example.
    def test_compile_spj(self):
        reply = self.client.compile_spj(src=REJECTING_SPJ, spj_version="2",
                                        spj_compile_config=dict(qc.C_SPJ_COMPILE))
        self.assertEqual(reply["err"], None, reply)
        self.assertEqual(reply["data"], "success")
        broken = self.client.compile_spj(src="int main( {", spj_version="broken",
                                         spj_compile_config=dict(qc.C_SPJ_COMPILE))
        self.assertEqual(broken["err"], "SPJCompileError", broken)

    def test_c_judge_with_output(self):
        reply = self.judge(src=C_SRC, language_config=qc.C_CONFIG, test_case_id="normal",
                           output=True)
        self.assert_results(reply, [0])
        case = reply["data"][0]
        self.assertEqual(case["test_case"], "1")
        self.assertEqual(case["output"], "3\n")
        self.assertEqual(case["output_md5"], "eccbc87e4b5ce2fe28308fd9f2a7baf3")
        for field in ("cpu_time", "real_time", "memory", "signal", "exit_code", "error"):
            self.assertIsInstance(case[field], int, field)
        self.assertEqual(case["error"], 0)

    def test_cpp_judge(self):
        reply = self.judge(src=CPP_SRC, language_config=qc.CPP_CONFIG, test_case_id="normal")
        self.assert_results(reply, [0])
        self.assertIsNone(reply["data"][0]["output"])  # output=False

    def test_py3_judge(self):
        self.assert_results(self.judge(src=PY3_SRC, language_config=qc.PY3_CONFIG,
                                       test_case_id="normal", output=True), [0])

    def test_unicode_judge(self):
        reply = self.judge(src=ECHO_SRC, language_config=qc.PY3_CONFIG, test_case_id="unicode",
                           output=True)
        self.assert_results(reply, [0])
        self.assertEqual(reply["data"][0]["output"], "你好, мир, ça va\n")

    def test_c_spj_judge(self):
        # The example's checker always answers 1: WA, whatever the program prints.
        reply = self.judge(src=C_SRC, language_config=qc.C_CONFIG, test_case_id="spj",
                           spj_version="3", spj_config=qc.C_SPJ_CONFIG,
                           spj_compile_config=dict(qc.C_SPJ_COMPILE), spj_src=REJECTING_SPJ)
        self.assert_results(reply, [-1])
        self.assertIsNone(reply["data"][0]["output_md5"])
        reply = self.judge(src=C_SRC, language_config=qc.C_CONFIG, test_case_id="spj",
                           spj_version="sum", spj_config=qc.C_SPJ_CONFIG,
                           spj_compile_config=dict(qc.C_SPJ_COMPILE), spj_src=SUM_SPJ)
        self.assert_results(reply, [0])

    def test_c_dynamic_input_judge(self):
        reply = self.judge(src=C_SRC, language_config=qc.C_CONFIG, output=True,
                           test_case=[{"input": "1 2\n", "output": "3"},
                                      {"input": "1 4\n", "output": "3"}])
        self.assert_results(reply, [0, -1])
        self.assertEqual([c["output"] for c in reply["data"]], ["3\n", "5\n"])

    def test_compile_error(self):
        reply = self.judge(src="int main( {", language_config=qc.C_CONFIG, test_case_id="normal")
        self.assertEqual(reply["err"], "CompileError", reply)
        self.assertTrue(reply["data"])

    def test_unknown_path_is_invalid_request(self):
        reply = self.client._request(self.url + "/nope", data={"a": 1})
        self.assertEqual(reply["err"], "InvalidRequest")
        self.assertEqual(reply["data"], "404")  # QingdaoU's exact string

    # QingdaoU's run-only configs (no "compile"): a syntax error is a runtime error.
    def test_php_and_js_run_only_configs(self):
        for config, src, broken, interpreter in (
                (qc.PHP_CONFIG, PHP_SRC, "<?php echo (;", "/usr/bin/php"),
                (qc.JS_CONFIG, JS_SRC, "function (", "/usr/bin/node")):
            if not os.access(interpreter, os.X_OK):
                self.fail(interpreter + " is not installed here")
            self.assert_results(self.judge(src=src, language_config=config,
                                           test_case_id="normal"), [0])
            self.assert_results(self.judge(src=broken, language_config=config,
                                           test_case_id="normal"), [4])


def start_judge_server(build, tmp, name, env, extra=()):
    work = os.path.join(tmp, name)
    env = dict(os.environ, **env)
    env.pop("JUDGE_TOKEN", None)
    process = subprocess.Popen(
        [os.path.join(build, "judge_server/judge_server"), "--port", "0", "--work-dir", work,
         "--uid-base", str(600000 + random.randrange(10000) * 64), "--slots", "1"] + list(extra),
        stdout=subprocess.PIPE, env=env, text=True)
    line = process.stdout.readline()
    if "listening on" not in line:
        process.kill()
        raise RuntimeError("judge_server did not start: " + line)
    return process, int(line.split("listening on ")[1].split()[0].rsplit(":", 1)[1])


class OnlineJudgeHeartbeatTest(unittest.TestCase):
    build = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="qingdao_heartbeat_")
        os.chmod(self.tmp, 0o711)
        self.processes = []
        backend = subprocess.Popen(
            [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                          "fake_online_judge.py"),
             "--port", "0", "--address", "127.0.0.1", "--token", "oj-token", "--judge"],
            stdout=subprocess.PIPE, text=True)
        self.processes.append(backend)
        self.backend = "http://127.0.0.1:%d" % int(backend.stdout.readline().split()[-1])

    def tearDown(self):
        for p in self.processes:
            p.kill()
            p.wait()
            p.stdout.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def get(self, path):
        with urllib.request.urlopen(self.backend + path, timeout=10) as r:
            return json.loads(r.read())

    def wait_for(self, predicate, seconds=30):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()

    def test_each_server_reports_a_url_that_judges(self):
        ports = []
        for name in ("a", "b"):
            process, port = start_judge_server(
                self.build, self.tmp, name,
                {"TOKEN": "oj-token", "BACKEND_URL": self.backend + "/api/judge_server_heartbeat/",
                 "SERVICE_URL": "http://{ip}:{port}"}, ["--heartbeat-interval", "0.2"])
            self.processes.append(process)
            ports.append(port)
        urls = {"http://127.0.0.1:%d" % p for p in ports}
        done = self.wait_for(lambda: all(
            self.get("/servers").get(u, {}).get("judge") not in (None, "pending") for u in urls))
        servers = self.get("/servers")
        self.assertTrue(done, servers)
        for url in urls:
            self.assertEqual(servers[url]["judge"], "AC", servers)
            self.assertEqual(servers[url]["errors"], 0, servers)
        for beat in self.get("/beats"):
            self.assertIsNone(beat["error"], beat)
            self.assertEqual(beat["token"], hashlib.sha256(b"oj-token").hexdigest())

    def test_refused_heartbeats_are_retried(self):
        process, _ = start_judge_server(
            self.build, self.tmp, "w",
            {"TOKEN": "not-the-oj-token",
             "BACKEND_URL": self.backend + "/api/judge_server_heartbeat/"},
            ["--heartbeat-interval", "0.1"])
        self.processes.append(process)
        self.assertTrue(self.wait_for(lambda: len(self.get("/beats")) >= 2), self.get("/beats"))
        self.assertEqual({b["error"] for b in self.get("/beats")}, {"Invalid token"})
        self.assertIsNone(process.poll())  # never fatal


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    QingdaoClientTest.build = OnlineJudgeHeartbeatTest.build = sys.argv.pop(1)
    unittest.main()
