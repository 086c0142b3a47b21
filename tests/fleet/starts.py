#!/usr/bin/env python3
"""Questions about the k3s stand-in's starts.log (one JSON line per start) under host roots.

usage: starts.py first-issuers ROOT ISSUER...   the running kube-apiserver's service-account
                                                issuers are exactly these, in this order
       starts.py has-arg ROOT ARG               the running kube-apiserver has this arg
       starts.py disjoint ROOT ROOT...          the last restart of each host (process start to
                                                READY) overlaps no other host's
"""

import json
import os
import sys

STARTS = "var/lib/rancher/k3s/standin/starts.log"


def ready_starts(root):
    with open(os.path.join(root, STARTS), encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    return [r for r in records if r["result"] == "ready"]


def running(root):
    return ready_starts(root)[-1]


def first_issuers(root, *want):
    args = running(root)["apiserver_args"]
    issuers = [a.split("=", 1)[1] for a in args if a.startswith("--service-account-issuer=")]
    if issuers != list(want):
        print(f"{root}: issuers {issuers}, expected {list(want)}", file=sys.stderr)
        return 1
    return 0


def has_arg(root, arg):
    args = running(root)["apiserver_args"]
    if arg not in args:
        print(f"{root}: {arg} not in {args}", file=sys.stderr)
        return 1
    return 0


def disjoint(*roots):
    windows = []
    for root in roots:
        last = running(root)
        start_ms, ready_ms = last["unix_ms"], last["ready_unix_us"] / 1000
        windows.append((start_ms, ready_ms, root))
        print(f"restart of {root}: {start_ms} .. {ready_ms:.0f} ms ({ready_ms - start_ms:.0f} ms)", file=sys.stderr)
    windows.sort()
    for (s1, e1, r1), (s2, e2, r2) in zip(windows, windows[1:]):
        if s2 < e1:
            print(f"overlap: {r2} started {e1 - s2:.0f} ms before {r1} was ready", file=sys.stderr)
            return 1
    return 0


def main():
    cmd, *args = sys.argv[1:]
    return {"first-issuers": first_issuers, "has-arg": has_arg, "disjoint": disjoint}[cmd](*args)


if __name__ == "__main__":
    sys.exit(main())
