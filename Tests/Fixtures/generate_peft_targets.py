#!/usr/bin/env python3
"""expected/peft-targets.json: which BLOOM modules PEFT wraps for a `target_modules` value, and which
`rank_pattern` / `alpha_pattern` key it picks for a module, as PEFT computes them (the oracle for
AdapterConfig.targets(module:) and rank(forModule:), which match through bloomkit's LinearRegex).

Needs only peft (the main fixture venv, requirements.txt's pin):

    V/bin/python Tests/Fixtures/generate_peft_targets.py

`check_target_module_exists(LoraConfig(target_modules=T), name)` (a string T is `re.fullmatch`ed; a list entry
equals the name or is a dotted suffix) and `get_pattern_key(keys, name)` (`re.match(rf"(.*\\.)?({key})$", name)`,
first key wins; the name itself when none matches: "chosen" lists the modules some key matches).
"""
import json
import os

import peft
from peft import LoraConfig
from peft.tuners.tuners_utils import check_target_module_exists
from peft.utils.other import get_pattern_key

MODULES = [f"transformer.h.{i}.{m}" for i in (0, 1, 11)
           for m in ("self_attention.query_key_value", "self_attention.dense", "mlp.dense_h_to_4h",
                     "mlp.dense_4h_to_h")] + ["lm_head", "h.0.self_attention.query_key_value"]

TARGETS = [
    ".*query_key_value",
    "query_key_value",
    r"transformer\.h\.[01]\.self_attention\..*",
    r".*\.(dense|query_key_value)",
    r".*h\.1\..*",
    ".*dense",
    r"(.*\.)?dense_h_to_4h",
    r".*\.h\.\d+\.mlp\.dense_4h_to_h|lm_head",
    "transformer.h.1.mlp.dense_h_to_4h",
    ["dense"],
    ["query_key_value", "dense_4h_to_h"],
    ["h.1.mlp.dense_h_to_4h"],
    ["ey_value"],
    ["lm_head"],
]

PATTERN_KEYS = [
    ["h.0.self_attention.query_key_value"],
    ["ey_value", "dense"],
    ["h.1.mlp.dense_h_to_4h", "query_key_value"],
    ["dense|query_key_value"],
    [r"^transformer\.h\.\d+\.self_attention\.query_key_value"],
    ["^h.0.self_attention.query_key_value"],
    [r"h\.1\d?\.mlp\..*", "mlp.dense_4h_to_h"],
]


def main():
    out = {
        "peft": peft.__version__,
        "modules": MODULES,
        "targets": [{"target_modules": t,
                     "selected": [m for m in MODULES
                                  if bool(check_target_module_exists(LoraConfig(target_modules=t), m))]}
                    for t in TARGETS],
        "patterns": [{"keys": keys,
                      "chosen": {m: get_pattern_key(keys, m) for m in MODULES if get_pattern_key(keys, m) in keys}}
                     for keys in PATTERN_KEYS],
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "expected", "peft-targets.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
