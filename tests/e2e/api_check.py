#!/usr/bin/python3
"""Issue 12 from another service's side: a Python client (stubs generated from protos/ at
test time by clients/python/musketeer_client.py) checks health per service, errors (codes,
named fields, no engine addresses, cut input), request-id retries and GetOperation,
replicas 0, networks by name, and secrets (values never come back, also not to a viewer).

Needs a cluster with the network swarm_test, judge_server:1.0 on every node and the service
judge_swarm publishing 8090 (tests/e2e/tutorial_test.sh). Removes what it makes.
Prints PASS/FAIL per check; exits 0 only when all passed.

    api_check.py --endpoint E --ca F --token OPERATOR --viewer-token VIEWER
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
from musketeer_client import Client  # noqa: E402

failed = 0


def check(what, cond, detail=""):
    global failed
    if cond:
        print("PASS", what)
    else:
        failed += 1
        print("FAIL", what, detail)


def error_of(fn):
    """Runs fn; returns (code name, details) of the RpcError it raised, or ("OK", "")."""
    import grpc
    try:
        fn()
        return "OK", ""
    except grpc.RpcError as e:
        return e.code().name, e.details() or ""


def health(client, service):
    """grpc.health.v1.Health/Check by hand: the status enum (1 SERVING) or the error code."""
    import grpc
    name = service.encode()
    request = b"\x0a" + bytes([len(name)]) + name
    rpc = client.channel.unary_unary("/grpc.health.v1.Health/Check",
                                     request_serializer=lambda b: b, response_deserializer=lambda b: b)
    try:
        answer = rpc(request, timeout=10)
    except grpc.RpcError as e:
        return e.code().name
    return answer[1] if len(answer) == 2 and answer[0] == 0x08 else 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--token", required=True, help="an operator token")
    p.add_argument("--viewer-token", required=True)
    args = p.parse_args()
    op = Client(args.endpoint, args.ca, args.token)
    viewer = Client(args.endpoint, args.ca, args.viewer_token)
    pb = op.pb
    run = str(int(time.time()))

    # Health: every API service by name.
    names = [s.full_name for s in pb.DESCRIPTOR.services_by_name.values()]
    states = {n: health(op, n) for n in names + [""]}
    check("health: SERVING for '' and %d services by name" % len(names),
          all(v == 1 for v in states.values()) and "musketeer.v1.Secrets" in names, states)

    def create(**spec):
        wait = spec.pop("wait", False)
        request_id = spec.pop("request_id", "")
        return op.call("Services", "CreateService", "CreateServiceRequest",
                       spec=pb.ServiceSpec(**spec), request_id=request_id, wait=wait)

    # User mistakes: named fields, the right codes, no engine address, input cut.
    code, msg = error_of(lambda: create(name="py_nonet", image="judge_server:1.0", networks=["nosuch"]))
    check("a network that does not exist: NOT_FOUND naming spec.networks, no engine URL",
          code == "NOT_FOUND" and "spec.networks" in msg and "tcp://" not in msg and "HTTP" not in msg, (code, msg))
    code, msg = error_of(lambda: op.call("Networks", "CreateNetwork", "CreateNetworkRequest",
                                         name="py_badnet", subnet="300.1.2.3/99"))
    check("subnet 300.1.2.3/99: INVALID_ARGUMENT naming subnet", code == "INVALID_ARGUMENT" and "subnet" in msg, (code, msg))
    for env, says in (({"": "x"}, "empty name"), ({"A=B": "x"}, "contains '='")):
        code, msg = error_of(lambda: create(name="py_env", image="judge_server:1.0", env=env))
        check("env %r: INVALID_ARGUMENT (%s)" % (env, says), code == "INVALID_ARGUMENT" and says in msg, (code, msg))
    code, msg = error_of(lambda: create(name="py_port", image="judge_server:1.0",
                                        ports=[pb.PortConfig(published=8090, target=8090)]))
    check("a published port in use: FAILED_PRECONDITION naming judge_swarm",
          code == "FAILED_PRECONDITION" and "judge_swarm" in msg, (code, msg))
    code, msg = error_of(lambda: create(name="py_rb", image="judge_server:1.0",
                                        rollback_policy=pb.UpdatePolicy(failure_action="explode")))
    check("a bad rollback failure action is named under rollback_policy",
          code == "INVALID_ARGUMENT" and "spec.rollback_policy.failure_action" in msg, (code, msg))
    code, msg = error_of(lambda: create(name="x" * 10000, image="judge_server:1.0"))
    check("a 10,000-character name: INVALID_ARGUMENT with the input cut",
          code == "INVALID_ARGUMENT" and len(msg) < 400 and "..." in msg, (code, len(msg)))
    long_name = "p" * 64
    code, msg = error_of(lambda: create(name=long_name, image="judge_server:1.0", networks=["swarm_test"],
                                        ports=[pb.PortConfig(published=8098, target=8090)]))
    left = error_of(lambda: op.call("Services", "GetService", "GetServiceRequest", name=long_name))[0]
    check("a name over Docker's 63 characters: refused, nothing left",
          code == "INVALID_ARGUMENT" and "spec.name" in msg and left == "NOT_FOUND",
          (code, msg, left))
    code, msg = error_of(lambda: create(name="py_img", image="e2e-nosuch/none:1", pull="never"))
    check("an image no node has (--pull never): FAILED_PRECONDITION", code == "FAILED_PRECONDITION", (code, msg))

    # Request ids: a retry gets the first call's outcome; GetOperation finds it.
    rid = "py-%s-ok" % run
    first = create(name="py_zero", image="judge_server:1.0", networks=["swarm_test"], replicas=0, request_id=rid)
    again = create(name="py_zero", image="judge_server:1.0", networks=["swarm_test"], replicas=0, request_id=rid)
    check("a retry with the same request_id returns the same service", first.id == again.id and first.id, (first.id, again.id))
    opn = viewer.call("Operations", "GetOperation", "GetOperationRequest", request_id=rid)
    check("GetOperation: done, create_service of py_zero",
          opn.state == "done" and opn.kind == "create_service" and opn.target == "py_zero", opn)
    code, msg = error_of(lambda: create(name="py_zero", image="judge_server:1.0", replicas=2, request_id=rid))
    check("the same request_id on another request: INVALID_ARGUMENT", code == "INVALID_ARGUMENT", (code, msg))
    rid_fail = "py-%s-fail" % run
    c1 = error_of(lambda: create(name="py_fail", image="judge_server:1.0", networks=["nosuch"], request_id=rid_fail))
    c2 = error_of(lambda: create(name="py_fail", image="judge_server:1.0", networks=["nosuch"], request_id=rid_fail))
    opf = op.call("Operations", "GetOperation", "GetOperationRequest", request_id=rid_fail)
    check("a failed create: the retry gets the same error, GetOperation says failed",
          c1 == c2 and c1[0] == "NOT_FOUND" and opf.state == "failed" and opf.error_code == 5, (c1, c2, opf))
    code, _ = error_of(lambda: op.call("Operations", "GetOperation", "GetOperationRequest", request_id="py-never"))
    check("GetOperation of an unknown request_id: NOT_FOUND", code == "NOT_FOUND", code)

    # replicas 0 and networks by name.
    zero = op.call("Services", "GetService", "GetServiceRequest", name="py_zero")
    check("replicas 0 reads back as 0 (not unset, not 1)",
          zero.spec.HasField("replicas") and zero.spec.replicas == 0 and zero.desired == 0, zero.spec)
    check("networks read back by name", list(zero.spec.networks) == ["swarm_test"], list(zero.spec.networks))
    judge = op.call("Services", "GetService", "GetServiceRequest", name="judge_swarm")
    # musketeer-edge too: its edge proxies reach it there (no IPVS here).
    check("judge_swarm's networks by name", list(judge.spec.networks) == ["musketeer-edge", "swarm_test"],
          list(judge.spec.networks))
    op.call("Services", "DeleteService", "DeleteServiceRequest", name="py_zero")

    # Secrets: made, listed (also by a viewer), never returned, removed.
    value = b"py-secret-value-" + run.encode()
    made = op.call("Secrets", "CreateSecret", "CreateSecretRequest", name="py_secret_" + run, data=value)
    listed = viewer.call("Secrets", "ListSecrets", "ListSecretsRequest")
    check("a secret is made and a viewer lists it, without its value",
          any(s.name == made.name for s in listed.secrets)
          and value not in made.SerializeToString() and value not in listed.SerializeToString(), listed)
    code, _ = error_of(lambda: viewer.call("Secrets", "CreateSecret", "CreateSecretRequest", name="py_v", data=b"x"))
    check("a viewer cannot make secrets", code == "PERMISSION_DENIED", code)
    code, msg = error_of(lambda: op.call("Secrets", "CreateSecret", "CreateSecretRequest", name=made.name, data=b"y"))
    check("a secret's name is taken once: ALREADY_EXISTS", code == "ALREADY_EXISTS", (code, msg))
    op.call("Secrets", "DeleteSecret", "DeleteSecretRequest", name=made.name)
    code, _ = error_of(lambda: op.call("Secrets", "DeleteSecret", "DeleteSecretRequest", name=made.name))
    check("a removed secret is gone", code == "NOT_FOUND", code)

    print("%d failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
