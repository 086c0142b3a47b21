#!/usr/bin/env python3
"""Every variable the role and site.yml read is typed in meta/argument_specs.yml and
documented in inventory.example.yml (one truth for the docs; no drift).

usage: vars_documented.py PLAYBOOKS_DIR
"""

import os
import re
import sys

import yaml


def main():
    root = sys.argv[1]
    role = os.path.join(root, "roles", "aio_prep")
    with open(os.path.join(role, "defaults", "main.yml"), encoding="utf-8") as f:
        defaults = set(yaml.safe_load(f))
    with open(os.path.join(role, "meta", "argument_specs.yml"), encoding="utf-8") as f:
        specs = set(yaml.safe_load(f)["argument_specs"]["main"]["options"])
    with open(os.path.join(root, "site.yml"), encoding="utf-8") as f:
        site = f.read()
    with open(os.path.join(root, "inventory.example.yml"), encoding="utf-8") as f:
        inventory = f.read()
    # Variables site.yml reads from the inventory (`aio_prep_x | default(`), besides the role's.
    site_vars = set(re.findall(r"\b(aio_prep_[a-z_]+) \| default\(", site)) - {"aio_prep_fleet_results", "aio_prep_fleet_lines"}
    bad = 0
    for name in sorted(defaults ^ specs):
        bad += 1
        print(f"{name}: in {'defaults/main.yml' if name in defaults else 'argument_specs.yml'} only", file=sys.stderr)
    for name in sorted(defaults | specs | site_vars):
        if not re.search(rf"^\s*#?\s*{name}:", inventory, re.MULTILINE):
            bad += 1
            print(f"{name}: not documented in inventory.example.yml", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
