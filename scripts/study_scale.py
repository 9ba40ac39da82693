#!/usr/bin/python3
"""Writes a resized copy of a study grid (studies/*.json) for a smaller budget.

usage: study_scale.py GRID OUT.json [data=DIR] [out=DIR] [KEY=VALUE ...]

KEY=VALUE goes into the grid's "set" (numbers stay numbers). When expert_hidden changes, every
arm's dense_hidden is scaled by the same ratio, so the dense baselines keep equal active / equal
total parameters. Used by tests/cli/studies.sh (a minutes-sized run of every grid) and for the
reduced-budget runs docs/findings.md reports.
"""
import json
import sys


def value(text):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__.strip().splitlines()[2])
    grid = json.load(open(argv[1]))
    sets = grid.setdefault("set", {})
    old_hidden = sets.get("expert_hidden")
    for kv in argv[3:]:
        if "=" not in kv:
            sys.exit(f"study_scale.py: {kv}: expected KEY=VALUE")
        k, v = kv.split("=", 1)
        if k in ("data", "out", "preset"):
            grid[k] = v
        else:
            sets[k] = value(v)
    new_hidden = sets.get("expert_hidden")
    if old_hidden and new_hidden and new_hidden != old_hidden:
        for arm in grid.get("arms", {}).values():
            if "dense_hidden" in arm:
                arm["dense_hidden"] = arm["dense_hidden"] * new_hidden // old_hidden
    with open(argv[2], "w") as f:
        json.dump(grid, f, indent=1)


if __name__ == "__main__":
    main(sys.argv)
