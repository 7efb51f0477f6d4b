#!/usr/bin/python3
"""The cluster watch from Python, as a client service would follow it (issue 12): message
classes generated from protos/ at test time (clients/python/musketeer_client.py), the
stream through grpc's generic stubs. Reads the state up to SYNCED, then resumes from the
revision it reached and expects SYNCED with nothing to replay and no RESET.
Usage: watch_client.py ENDPOINT CA TOKEN SERVICE; prints PASS/FAIL lines, exit 1 on a FAIL.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "clients", "python"))
from musketeer_client import Client  # noqa: E402


def follow(client, since):
    pb = client.pb
    rpc = client.channel.unary_stream("/musketeer.v1.ClusterWatch/Watch",
                                      request_serializer=pb.WatchRequest.SerializeToString,
                                      response_deserializer=pb.WatchEvent.FromString)
    events = []
    stream = rpc(pb.WatchRequest(since_revision=since), metadata=client.metadata, timeout=20)
    for e in stream:
        events.append(e)
        if e.type == pb.WatchEvent.SYNCED:
            stream.cancel()
            break
    return events


def main():
    endpoint, ca, token, service = sys.argv[1:5]
    client = Client(endpoint, ca, token)
    pb = client.pb
    failed = 0
    first = follow(client, 0)
    nodes = [e.node.name for e in first if e.type == pb.WatchEvent.PUT and e.kind == "node"]
    svc = [e.service for e in first if e.kind == "service" and e.name == service]
    running = [e.task for e in first if e.kind == "task" and e.task.service == service
               and e.task.state == "running" and e.task.desired_state == "running"]
    if len(nodes) == 3 and svc and svc[0].running == len(running) == svc[0].desired:
        print("PASS python watch: 3 nodes, %s %d/%d with its running tasks, then SYNCED"
              % (service, svc[0].running, svc[0].desired))
    else:
        print("FAIL python watch: nodes %s, service %s, running tasks %d"
              % (nodes, svc[0] if svc else None, len(running)))
        failed += 1
    at = first[-1].revision
    again = follow(client, at)
    types = [pb.WatchEvent.Type.Name(e.type) for e in again]
    if types and types[-1] == "SYNCED" and "RESET" not in types and all(
            e.revision > at for e in again if e.type == pb.WatchEvent.PUT):
        print("PASS python watch: resumed from revision %d (%d change(s) since, no RESET)"
              % (at, len(again) - 1))
    else:
        print("FAIL python watch: resumed from %d: %s" % (at, types))
        failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
