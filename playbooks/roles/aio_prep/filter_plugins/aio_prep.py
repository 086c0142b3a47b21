# Filters of the aio_prep role: TOML values for config.toml, and aio-prep's JSON report.
"""Filters used by the aio_prep role.

aio_prep_toml(value)            a TOML value: a basic string (escaped per TOML 1.0), a
                                boolean, an integer or a float; anything else is an error.
aio_prep_toml_key(name)         a bare TOML key or dotted table name; anything else is an error.
aio_prep_report(result)         aio-prep's `--output json` report from a registered command
                                result; when there is none, a `failed` report whose error
                                names the cause (module message, end of stderr).
aio_prep_failure(result, host, command)  the one-line failure message the role shows.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def toml_string(text: str) -> str:
    """A TOML basic string holding exactly `text`."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        elif 0xD800 <= code <= 0xDFFF:
            raise AnsibleFilterError(f"aio_prep_toml: {text!r} holds a lone surrogate (not valid Unicode)")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def aio_prep_toml(value) -> str:
    """Render one value for config.toml."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AnsibleFilterError(f"aio_prep_toml: {value!r} cannot be written to config.toml")
        return repr(value)
    if isinstance(value, str):
        return toml_string(str(value))
    raise AnsibleFilterError(
        f"aio_prep_toml: a {type(value).__name__} cannot be a config.toml value "
        "(use a string, a boolean or a number)"
    )


def aio_prep_toml_key(name) -> str:
    """A key or table name, checked to be bare (no quoting needed)."""
    if not isinstance(name, str) or not _BARE_KEY.match(name):
        raise AnsibleFilterError(f"aio_prep_toml_key: {name!r} is not a valid config.toml key or table name")
    return str(name)


# SPEC §7.
EXIT_MEANING = {
    1: "unexpected failure",
    2: "invalid input (configuration, flags or host files); nothing was changed",
    3: "not in the desired state",
    4: "unsupported flavor, or the intent is impossible on this host; nothing was written",
    5: "Azure error (authentication, API or timeout)",
    6: "the host change failed and was rolled back; k3s runs the previous configuration",
    7: "the rollback failed; this host needs attention",
    8: "another aio-prep run holds the lock",
}


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def aio_prep_report(result) -> dict:
    """The report in a registered command result, or a synthetic failed report naming why
    there is none (did not run, could not be started, printed something else)."""
    if not isinstance(result, Mapping) or result.get("skipped") or "rc" not in result:
        why = "aio-prep did not run"
        if isinstance(result, Mapping) and result.get("msg"):
            why += f": {result['msg']}"
        return _failed("did-not-run", why)
    stdout = _text(result.get("stdout"))
    try:
        doc = json.loads(stdout) if stdout.strip() else None
    except ValueError:
        doc = None
    if isinstance(doc, dict) and doc.get("schema") == 1:
        return doc
    causes = []
    if result.get("msg") and result.get("msg") != "non-zero return code":
        causes.append(str(result["msg"]))
    lines = [line for line in _text(result.get("stderr")).splitlines() if line.strip()]
    if lines:
        causes.append("stderr: " + " / ".join(lines[-5:]))
    detail = "; ".join(causes) if causes else "no output at all"
    return _failed("no-report", f"aio-prep printed no JSON report (exit {result.get('rc')}); {detail}")


def _failed(kind: str, message: str) -> dict:
    return {
        "schema": None,
        "command": None,
        "outcome": "failed",
        "flavor": None,
        "issuer": None,
        "steps": [],
        "restarted": False,
        "diff": None,
        "error": {"kind": kind, "message": message},
    }


def aio_prep_failure(result, host: str, command: str) -> str:
    """One clear line for a failed task of the role (`ansible_failed_result`): which host,
    which command, aio-prep's exit code and what it means, and aio-prep's own error (kind and
    message); for any other failed task, its message."""
    report = aio_prep_report(result)
    error = report.get("error") or {}
    head = f"aio-prep {command} failed on {host}"
    if report.get("schema") == 1 and report.get("error"):
        rc = result.get("rc")
        return (f"{head}: exit {rc} ({EXIT_MEANING.get(rc, 'unknown exit code')}). "
                f"{error.get('kind', 'error')}: {error.get('message', 'no message')}")
    if report.get("schema") == 1 or "rc" not in (result or {}):
        # aio-prep itself did not fail: another task of the role did.
        return f"{head}: {(result or {}).get('msg', 'unknown error')}"
    return f"{head}. {error.get('kind', 'error')}: {error.get('message', 'no message')}"


class FilterModule:
    """aio_prep filters."""

    def filters(self):
        return {
            "aio_prep_toml": aio_prep_toml,
            "aio_prep_toml_key": aio_prep_toml_key,
            "aio_prep_report": aio_prep_report,
            "aio_prep_failure": aio_prep_failure,
        }
