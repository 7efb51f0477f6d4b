"""A QingdaoU JudgeServer client for tests, written from the protocol.

It sends exactly what QingdaoU's own Python client (client/Python in QingdaoU/JudgeServer)
sends: POST with headers X-Judge-Server-Token (sha256 hex of the token) and Content-Type
application/json, a JSON body with every key of its judge() call (nulls included), and no
body at all for /ping. Like that client it reads the JSON reply whatever the HTTP status.
Only the standard library, so that CI needs nothing else.
"""
import hashlib
import json
import urllib.error
import urllib.request

ENV = ["LANG=en_US.UTF-8", "LANGUAGE=en_US:en", "LC_ALL=en_US.UTF-8"]

# Language configs of the shape QingdaoU's clients and OnlineJudge send. The server
# selects its own compiler from them; the command strings are never run.
C_CONFIG = {
    "compile": {
        "src_name": "main.c",
        "exe_name": "main",
        "max_cpu_time": 3000,
        "max_real_time": 5000,
        "max_memory": 128 * 1024 * 1024,
        "compile_command": "/usr/bin/gcc -O2 -w -std=c99 {src_path} -lm -o {exe_path}",
    },
    "run": {"command": "{exe_path}", "seccomp_rule": "c_cpp", "env": ENV},
}
CPP_CONFIG = {
    "compile": {
        "src_name": "main.cpp",
        "exe_name": "main",
        "max_cpu_time": 3000,
        "max_real_time": 5000,
        "max_memory": 128 * 1024 * 1024,
        "compile_command": "/usr/bin/g++ -O2 -w -std=c++11 {src_path} -lm -o {exe_path}",
    },
    "run": {"command": "{exe_path}", "seccomp_rule": "c_cpp", "env": ENV},
}
PY3_CONFIG = {
    "compile": {
        "src_name": "solution.py",
        "exe_name": "__pycache__/solution.cpython-36.pyc",
        "max_cpu_time": 3000,
        "max_real_time": 5000,
        "max_memory": 128 * 1024 * 1024,
        "compile_command": "/usr/bin/python3 -m py_compile {src_path}",
    },
    "run": {
        "command": "/usr/bin/python3 {exe_path}",
        "seccomp_rule": "general",
        "env": ["PYTHONIOENCODING=UTF-8"] + ENV,
    },
}
# QingdaoU's run-only configs: no "compile", the source is run as run.exe_name.
PHP_CONFIG = {
    "run": {
        "exe_name": "solution.php",
        "command": "/usr/bin/php {exe_path}",
        "seccomp_rule": "",
        "env": ENV,
        "memory_limit_check_only": 1,
    },
}
JS_CONFIG = {
    "run": {
        "exe_name": "solution.js",
        "command": "/usr/bin/node {exe_path}",
        "seccomp_rule": "",
        "env": ["NO_COLOR=true"] + ENV,
        "memory_limit_check_only": 1,
    },
}
C_SPJ_COMPILE = {
    "src_name": "spj-{spj_version}.c",
    "exe_name": "spj-{spj_version}",
    "max_cpu_time": 3000,
    "max_real_time": 5000,
    "max_memory": 1024 * 1024 * 1024,
    "compile_command": "/usr/bin/gcc -O2 -w -std=c99 {src_path} -lm -o {exe_path}",
}
C_SPJ_CONFIG = {
    "exe_name": "spj-{spj_version}",
    "command": "{exe_path} {in_file_path} {user_out_file_path}",
    "seccomp_rule": "c_cpp",
}


class JudgeServerClientError(Exception):
    pass


class JudgeServerClient:
    def __init__(self, token, server_base_url, send_token=True):
        self.token = hashlib.sha256(token.encode("utf-8")).hexdigest()
        self.server_base_url = server_base_url.rstrip("/")
        self.send_token = send_token

    def _request(self, url, data=None):
        headers = {"Content-Type": "application/json"}
        if self.send_token:
            headers["X-Judge-Server-Token"] = self.token
        body = json.dumps(data).encode("utf-8") if data else None
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                text = response.read()
        except urllib.error.HTTPError as e:  # the envelope is in the body whatever the status
            text = e.read()
        except OSError as e:
            raise JudgeServerClientError(str(e))
        try:
            return json.loads(text)
        except ValueError as e:
            raise JudgeServerClientError("not JSON: %r" % text[:200]) from e

    def ping(self):
        return self._request(self.server_base_url + "/ping")

    def judge(self, src, language_config, max_cpu_time, max_memory, test_case_id=None,
              test_case=None, spj_version=None, spj_config=None, spj_compile_config=None,
              spj_src=None, output=False):
        if not (test_case or test_case_id) or (test_case and test_case_id):
            raise ValueError("invalid parameter")
        data = {"language_config": language_config,
                "src": src,
                "max_cpu_time": max_cpu_time,
                "max_memory": max_memory,
                "test_case_id": test_case_id,
                "test_case": test_case,
                "spj_version": spj_version,
                "spj_config": spj_config,
                "spj_compile_config": spj_compile_config,
                "spj_src": spj_src,
                "output": output}
        return self._request(self.server_base_url + "/judge", data=data)

    def compile_spj(self, src, spj_version, spj_compile_config):
        data = {"src": src, "spj_version": spj_version,
                "spj_compile_config": spj_compile_config}
        return self._request(self.server_base_url + "/compile_spj", data=data)
