#!/usr/bin/env python3
"""Diffs the services `docker stack deploy` made (stack DOCKER) with musketeer's (stack MINE)
on the same swarm, field by field, as `docker service inspect` shows them both.

Usage (DOCKER_HOST etc. set; the two stacks publish the same ports, so one at a time):
  stack_diff.py capture DOCKER_STACK FILE            docker's services, saved
  stack_diff.py compare FILE MINE_STACK MUSKETEER_CLI...
Prints one line per difference and exits 1 when there is any.

What is normalized, and why (the documented differences, nothing else):
- the stack's name in names, labels and targets (the two stacks have different names);
- zero values (absent, null, false, 0, "", [], {}): the engine reads them alike (omitempty);
- the image: musketeer runs it by ID and keeps the reference given in its own labels
  (com.musketeer.*), so that agents never wait for a registry;
- network targets: IDs, shown by name; secrets and configs: by name (each stack has its own);
- published ports where the kernel has no IPVS: musketeer's service is dnsrr and its
  ingress ports are published by the edge proxy; they are compared with musketeer's own
  record of them (`musketeer service inspect`), which must equal docker's.
"""
import json
import subprocess
import sys



def docker(*args):
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout


def services(stack):
    names = docker("service", "ls", "--filter", f"label=com.docker.stack.namespace={stack}",
                   "--format", "{{.Name}}").split()
    names = [n for n in names if not n.endswith("-edge")]
    network_names = {}
    for line in docker("network", "ls", "--no-trunc", "--format", "{{.ID}} {{.Name}}").splitlines():
        i, name = line.split(" ", 1)
        network_names[i] = name
    out = {}
    for n in names:
        svc = json.loads(docker("service", "inspect", n))[0]
        for net in svc["Spec"].get("TaskTemplate", {}).get("Networks", []):
            net["Target"] = network_names.get(net["Target"], net["Target"])
        out[n[len(stack) + 1:]] = svc
    return out


def pruned(v):
    """Drops zero values recursively (Go's omitempty)."""
    if isinstance(v, dict):
        out = {k: pruned(x) for k, x in v.items()}
        return {k: x for k, x in out.items() if x not in (None, False, 0, "", [], {})}
    if isinstance(v, list):
        return [pruned(x) for x in v]
    return v


def renamed(v, stack):
    if isinstance(v, dict):
        return {renamed(k, stack): renamed(x, stack) for k, x in v.items()}
    if isinstance(v, list):
        return [renamed(x, stack) for x in v]
    if isinstance(v, str):
        if v == stack:
            return "STACK"
        return v.replace(stack + "_", "STACK_")
    return v


def normal(svc, stack, mine):
    spec = svc["Spec"]
    task = spec.get("TaskTemplate", {})
    container = task.get("ContainerSpec", {})
    # Secrets and configs are each stack's own objects: compared by name, not ID.
    for ref in container.get("Secrets", []):
        ref.pop("SecretID", None)
    for ref in container.get("Configs", []):
        ref.pop("ConfigID", None)
    # docker sorts references by name only, after collecting them in a Go map keyed by
    # target: two references to one secret come out in a random order on every deploy.
    # The order means nothing to the engine, so both sides are compared in one order.
    for key, name in (("Secrets", "SecretName"), ("Configs", "ConfigName")):
        container.get(key, []).sort(
            key=lambda r: (r.get(name, ""), json.dumps(r.get("File", r.get("Runtime")),
                                                       sort_keys=True)))
    if mine:
        labels = container.get("Labels", {})
        container["Image"] = labels.get("com.musketeer.image", container.get("Image"))
        for where in (labels, spec.get("Labels", {})):
            for k in [k for k in where if k.startswith("com.musketeer.")]:
                del where[k]
        endpoint = spec.get("EndpointSpec", {})
        api = json.loads(subprocess.run(musketeer + ["--format", "json", "service", "inspect",
                                                     spec["Name"]],
                                        check=True, capture_output=True, text=True).stdout)
        if api.get("routing", {}).get("mode") == "edge-proxy":
            # The edge difference: ingress ports from musketeer's record, mode as asked, and
            # the edges' network (Swarm's ingress network in docker's case, not in the spec).
            task = spec.get("TaskTemplate", {})
            task["Networks"] = [n for n in task.get("Networks", []) if n.get("Target") != "musketeer-edge"]
            if not task["Networks"]:
                del task["Networks"]
            endpoint["Ports"] = [p for p in endpoint.get("Ports", [])
                                 if p.get("PublishMode") == "host"]
            for p in api["spec"].get("ports", []):
                if p.get("publish_mode", "ingress") != "host":
                    endpoint["Ports"].append({"Protocol": p.get("protocol", "tcp"),
                                              "TargetPort": p["target"],
                                              "PublishedPort": p.get("published", 0),
                                              "PublishMode": "ingress"})
            endpoint["Mode"] = api["spec"].get("endpoint_mode") or "vip"
    else:
        endpoint = spec.get("EndpointSpec", {})
    if endpoint.get("Mode") == "vip":
        endpoint.pop("Mode")  # the engine's default, written by some clients and not others
    ports = endpoint.get("Ports", [])
    ports.sort(key=lambda p: (p.get("PublishedPort", 0), p.get("TargetPort", 0),
                              p.get("Protocol", ""), p.get("PublishMode", "")))
    return pruned(renamed(spec, stack))


def flat(v, path=""):
    if isinstance(v, dict):
        for k, x in v.items():
            yield from flat(x, f"{path}.{k}" if path else k)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from flat(x, f"{path}[{i}]")
    else:
        yield path, v


if sys.argv[1] == "capture":
    with open(sys.argv[3], "w") as f:
        json.dump({"stack": sys.argv[2], "services": services(sys.argv[2])}, f)
    sys.exit(0)
saved = json.load(open(sys.argv[2]))
docker_stack, theirs = saved["stack"], saved["services"]
mine_stack, musketeer = sys.argv[3], sys.argv[4:]
ours = services(mine_stack)
problems = []
for name in sorted(set(theirs) | set(ours)):
    if name not in ours:
        problems.append(f"{name}: docker made it, musketeer did not")
        continue
    if name not in theirs:
        problems.append(f"{name}: musketeer made it, docker did not")
        continue
    a = dict(flat(normal(theirs[name], docker_stack, False)))
    b = dict(flat(normal(ours[name], mine_stack, True)))
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            problems.append(f"{name}: {key}: docker {a.get(key)!r}, musketeer {b.get(key)!r}")
for p in problems:
    print(p)
print(f"{len(theirs)} services compared, {len(problems)} differences")
sys.exit(1 if problems else 0)
