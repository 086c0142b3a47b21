#!/usr/bin/env python3
"""Assert fields of one host in the fleet summary JSON that site.yml writes.

usage: summary.py SUMMARY.json HOST ASSERTION...
  path=value   the field equals value (JSON scalars as text: true, false, null, 3)
  path~text    the field, as text, contains text
  ~text        shorthand for outcome~text
A path is dotted: outcome, rc, restarted, issuer, error.kind, error.message, steps.cloud.
"""

import json
import sys


def text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def field(doc, path):
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def main():
    path, host, *assertions = sys.argv[1:]
    with open(path, encoding="utf-8") as f:
        summary = json.load(f)
    if host not in summary:
        print(f"{path}: no host {host} (hosts: {', '.join(summary)})", file=sys.stderr)
        return 1
    result = summary[host]
    bad = 0
    for a in assertions:
        if a.startswith("~"):
            a = "outcome" + a
        if "=" in a and ("~" not in a or a.index("=") < a.index("~")):
            key, want = a.split("=", 1)
            ok = text(field(result, key)) == want
        else:
            key, want = a.split("~", 1)
            ok = want in text(field(result, key))
        if not ok:
            bad += 1
            print(f"{host}: expected {a!r}, got {key}={text(field(result, key))!r}", file=sys.stderr)
    if bad:
        print(json.dumps(result, indent=2), file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
