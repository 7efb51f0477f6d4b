#!/usr/bin/python3
"""A small Python client of the musketeer API, as another service would call it.

Uses Debian's python3-grpcio and python3-protobuf. The message classes are generated
at first use with protoc (protobuf-compiler) into a cache directory; the RPCs are
called through grpc's generic stubs, so grpc_tools is not needed.

    client = Client("127.0.0.1:7443", ca_file, token)
    for node in client.call("Nodes", "ListNodes", "ListNodesRequest").nodes: ...

Run as a script for a short report: musketeer_client.py [--endpoint E] [--ca F] [--token T]
"""
import argparse
import hashlib
import importlib
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.join(HERE, "..", "..", "protos")
PROTO = "musketeer/v1/musketeer.proto"


def load_messages():
    """Generates (once per proto content) and imports musketeer_pb2."""
    source = os.path.join(PROTO_ROOT, PROTO)
    digest = hashlib.sha256(open(source, "rb").read()).hexdigest()[:16]
    out = os.path.join(tempfile.gettempdir(), "musketeer-py-" + digest)
    if not os.path.exists(os.path.join(out, "musketeer", "v1", "musketeer_pb2.py")):
        os.makedirs(out, exist_ok=True)
        subprocess.run(["protoc", "--proto_path", PROTO_ROOT, "--python_out", out, source], check=True)
    sys.path.insert(0, out)
    return importlib.import_module("musketeer.v1.musketeer_pb2")


class Client:
    def __init__(self, endpoint, ca_file, token, timeout=60):
        import grpc
        self.grpc = grpc
        self.pb = load_messages()
        with open(ca_file, "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        self.channel = grpc.secure_channel(endpoint, creds)
        self.metadata = [("authorization", "Bearer " + token)] if token else []
        self.timeout = timeout

    def call(self, service, method, request_type, /, **fields):
        """One unary call: returns the response message or raises grpc.RpcError.

        The first three are positional only, so that a request field may be named service
        (ListTasksRequest), method (ListAuditRequest) ..."""
        request = getattr(self.pb, request_type)(**fields)
        response_type = self._response_type(service, method)
        rpc = self.channel.unary_unary(
            "/musketeer.v1.%s/%s" % (service, method),
            request_serializer=request.SerializeToString,
            response_deserializer=response_type.FromString)
        return rpc(request, metadata=self.metadata, timeout=self.timeout)

    def stream(self, service, method, request_type, /, **fields):
        """One server-streaming call (ServiceLogs, WatchService ...): yields the messages."""
        request = getattr(self.pb, request_type)(**fields)
        response_type = self._response_type(service, method)
        rpc = self.channel.unary_stream(
            "/musketeer.v1.%s/%s" % (service, method),
            request_serializer=request.SerializeToString,
            response_deserializer=response_type.FromString)
        return rpc(request, metadata=self.metadata, timeout=self.timeout)

    def _response_type(self, service, method):
        descriptor = self.pb.DESCRIPTOR.services_by_name[service].methods_by_name[method]
        return getattr(self.pb, descriptor.output_type.name)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default=os.environ.get("MUSKETEER_ENDPOINT", "127.0.0.1:7443"))
    parser.add_argument("--ca", default=os.environ.get("MUSKETEER_CA", "/var/lib/musketeer/pki/ca/ca.pem"))
    parser.add_argument("--token", default=os.environ.get("MUSKETEER_TOKEN", ""))
    parser.add_argument("--expect-denied", action="store_true",
                        help="exit 0 only if creating a network is refused (a viewer token)")
    args = parser.parse_args()
    client = Client(args.endpoint, args.ca, args.token)
    if args.expect_denied:
        try:
            client.call("Networks", "CreateNetwork", "CreateNetworkRequest", name="py_denied")
        except client.grpc.RpcError as e:
            print("denied:", e.code().name, e.details())
            return 0 if e.code() == client.grpc.StatusCode.PERMISSION_DENIED else 1
        print("not denied")
        return 1
    nodes = client.call("Nodes", "ListNodes", "ListNodesRequest").nodes
    for n in nodes:
        print("node %-10s %-8s %-12s %s" % (n.name, n.state, n.swarm_role or "-", n.engine_url))
    try:
        for s in client.call("Services", "ListServices", "ListServicesRequest").services:
            print("service %-20s %d/%d %s routing=%s" % (s.spec.name, s.running, s.desired, s.spec.image, s.routing.mode or "-"))
    except client.grpc.RpcError as e:
        print("services:", e.code().name, e.details())
    return 0


if __name__ == "__main__":
    sys.exit(main())
