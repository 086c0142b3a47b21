#!/usr/bin/env python3
"""The role's filters (roles/aio_prep/filter_plugins/aio_prep.py).

- aio_prep_toml writes config.toml values: every string reads back unchanged, with Python's
  tomllib and with aio-prep itself (`config show`).
- aio_prep_report / aio_prep_failure turn a registered command result into aio-prep's report
  and one clear failure line, also when aio-prep printed no report or could not be started.

usage: filters_test.py FILTER_PLUGIN_DIR AIO_PREP_BINARY
"""

import json
import os
import subprocess
import sys
import tempfile
import tomllib

sys.path.insert(0, sys.argv[1])
from aio_prep import aio_prep_failure, aio_prep_report, aio_prep_toml, aio_prep_toml_key  # noqa: E402
from ansible.errors import AnsibleFilterError  # noqa: E402

TRICKY = [
    "",
    'say "hi"',
    "back\\slash \\n not a newline",
    "tab\tnew\nline\rcr\bbs\fff",
    "nul\x00 unit\x1f del\x7f",
    "ünïcødé ✓ 𝄞 😀",
    "''' triple ''' \"\"\" quotes",
    "# not a comment",
    "trailing backslash\\",
]


def main():
    failures = 0
    # Every Unicode scalar value, in chunks.
    scalars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    chunks = ["".join(scalars[i:i + 4096]) for i in range(0, len(scalars), 4096)]
    for value in TRICKY + chunks:
        parsed = tomllib.loads(f"k = {aio_prep_toml(value)}\n")["k"]
        if parsed != value:
            failures += 1
            print(f"tomllib round trip differs for {value[:40]!r}", file=sys.stderr)
    for value, want in [(True, True), (False, False), (42, 42), (1.5, 1.5)]:
        if tomllib.loads(f"k = {aio_prep_toml(value)}\n")["k"] != want:
            failures += 1
            print(f"{value!r} does not read back", file=sys.stderr)
    for bad in ["\ud800", None, ["list"], {"a": 1}, float("nan")]:
        try:
            aio_prep_toml(bad)
        except AnsibleFilterError:
            continue
        failures += 1
        print(f"{bad!r} was accepted", file=sys.stderr)
    for bad in ["has space", "a..b", "", "x=y", 'q"']:
        try:
            aio_prep_toml_key(bad)
        except AnsibleFilterError:
            continue
        failures += 1
        print(f"key {bad!r} was accepted", file=sys.stderr)

    # aio-prep reads what the filter writes: a string key through `config show` (and refuses
    # control characters in values, which it can only do if it read them as written).
    with tempfile.TemporaryDirectory() as tmp:
        for value in TRICKY[1:]:
            path = os.path.join(tmp, "config.toml")
            with open(path, "w", encoding="utf-8") as f:
                f.write(f"[azure]\ncluster_name = {aio_prep_toml(value)}\n")
            out = subprocess.run(
                [sys.argv[2], "--root", tmp, "--config", path, "config", "show"],
                capture_output=True, text=True, check=False,
            )
            if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
                # aio-prep refuses control characters in values: it must have read them as such.
                if out.returncode == 2 and "control character" in out.stderr:
                    continue
                failures += 1
                print(f"aio-prep did not refuse {value!r}: exit {out.returncode} {out.stderr.strip()}", file=sys.stderr)
                continue
            shown = tomllib.loads(out.stdout)["azure"].get("cluster_name") if out.returncode == 0 else None
            if shown != value:
                failures += 1
                print(f"aio-prep read {shown!r} for {value!r} (exit {out.returncode}: {out.stderr.strip()})",
                      file=sys.stderr)
    return 1 if failures + report_failures() else 0


def report_failures():
    """aio_prep_report and aio_prep_failure on the results Ansible registers."""
    failures = 0
    doc = {"schema": 1, "command": "apply", "outcome": "failed", "steps": [], "restarted": False,
           "error": {"kind": "invalid-input", "message": "/etc/rancher/k3s/config.yaml:3: invalid YAML"}}
    cases = [
        # aio-prep failed with its report on stdout.
        ({"rc": 2, "stdout": json.dumps(doc), "stderr": "", "msg": "non-zero return code"},
         "invalid-input",
         "aio-prep apply failed on h: exit 2 (invalid input (configuration, flags or host files); "
         "nothing was changed). invalid-input: /etc/rancher/k3s/config.yaml:3: invalid YAML"),
        # The binary is missing: no report, the module's message instead.
        ({"rc": 2, "stdout": "", "stderr": "", "msg": "[Errno 2] No such file or directory: b'/usr/bin/aio-prep'"},
         "no-report",
         "aio-prep apply failed on h. no-report: aio-prep printed no JSON report (exit 2); "
         "[Errno 2] No such file or directory: b'/usr/bin/aio-prep'"),
        # A crash: no report, the end of stderr.
        ({"rc": 101, "stdout": "", "stderr": "thread 'main' panicked\nat src/x.rs:1", "msg": "non-zero return code"},
         "no-report",
         "aio-prep apply failed on h. no-report: aio-prep printed no JSON report (exit 101); "
         "stderr: thread 'main' panicked / at src/x.rs:1"),
        # Another task of the role failed (no rc): its message.
        ({"msg": "Destination directory /etc/aio-prep does not exist"}, "did-not-run",
         "aio-prep apply failed on h: Destination directory /etc/aio-prep does not exist"),
    ]
    for result, kind, line in cases:
        got_kind = aio_prep_report(result)["error"]["kind"]
        got_line = aio_prep_failure(result, "h", "apply")
        if got_kind != kind or got_line != line:
            failures += 1
            print(f"for {result!r}:\n  kind {got_kind!r}, expected {kind!r}\n  line {got_line!r}\n  expected {line!r}",
                  file=sys.stderr)
    ok = {"rc": 0, "stdout": json.dumps({**doc, "outcome": "changed", "error": None})}
    if aio_prep_report(ok)["outcome"] != "changed" or aio_prep_report({"skipped": True})["outcome"] != "failed":
        failures += 1
        print("aio_prep_report: a good report or a skipped task is misread", file=sys.stderr)
    return failures


if __name__ == "__main__":
    sys.exit(main())
