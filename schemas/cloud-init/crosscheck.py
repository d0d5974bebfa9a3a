#!/usr/bin/env python3
"""Random cloud-configs with cloud-init's own verdicts, to check clem-image's validator.

Generates documents from the schema (mostly following it, sometimes with values of other
Python types: int keys, dates, bytes, sets, tuples, big ints, NaN), validates each with
cloud-init's validator class (`get_jsonschema_validator`, as `validate_cloudconfig_schema`
uses it) and writes one JSON line per document: the document with its Python types
tagged, and the verdict:

  valid    no error
  warn     only unknown top-level keys
  invalid  any other error
  crash    the validator raised (TypeError), which fails cloud-init's whole check

Usage (cloud-init's Python package on PYTHONPATH, with python3-jsonschema and
python3-yaml installed):

  PYTHONPATH=.../dist-packages python3 schemas/cloud-init/crosscheck.py 20000 1 > /tmp/x.jsonl
  CLEM_SCHEMA_CROSSCHECK=/tmp/x.jsonl cargo test --lib crosscheck -- --nocapture

Arguments: count, seed, and optionally how often a value is replaced by one of another
type (default 0.08).
"""

import datetime
import json
import math
import os
import random
import sys

from cloudinit.config import schema as ci

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "schema-cloud-config-v1.json")) as f:
    SCHEMA = json.load(f)
DEFS = SCHEMA["$defs"]

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
R = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
MUTATE = float(sys.argv[3]) if len(sys.argv) > 3 else 0.08

STRINGS = ["", "a", "abc\n", "x y", "2032-09-01", "20320901xy", "1G", "+12", "auto",
           "RANDOM", "hash", "a-b,c", "rsa_public", "\n", "type", "name", "0"]


def other_key():
    if R.random() < 0.6:
        return R.choice(["a", "type", "name", "x", "0", "", "password", "path"])
    return R.choice([0, 1, True, None, 1.5, b"k", datetime.date(2032, 1, 1), (1, "a")])


def other(depth=0):
    """A value of any type PyYAML can give."""
    kinds = 14 if depth < 3 else 9
    c = R.randrange(kinds)
    if c == 0:
        return None
    if c == 1:
        return R.choice([True, False])
    if c == 2:
        return R.choice([0, 1, -1, 7, 420, 2**70, -2**80])
    if c == 3:
        return R.choice([0.0, 1.0, 1.5, -0.5, math.inf, -math.inf, math.nan])
    if c == 4:
        return R.choice(STRINGS)
    if c == 5:
        return R.choice([b"", b"abc", b"1G"])
    if c == 6:
        return datetime.date(2032, 9, 1)
    if c == 7:
        return datetime.datetime(2032, 9, 1, 10, 0)
    if c == 8:
        return R.choice([1, "s"])
    if c == 9:
        return [other(depth + 1) for _ in range(R.randrange(3))]
    if c == 10:
        return tuple(other(depth + 1) for _ in range(R.randrange(3)))
    if c == 11:
        return {R.choice([1, "a", 2.5, None]) for _ in range(R.randrange(3))}
    return {other_key(): other(depth + 1) for _ in range(R.randrange(3))}


def from_ref(s):
    target = dict(DEFS[s["$ref"].split("/")[-1]])
    siblings = {k: v for k, v in s.items() if k != "$ref"}
    return {**target, **siblings} if siblings and R.random() < 0.5 else target


def obj(s, depth):
    out = {}
    props = s.get("properties", {})
    for name in R.sample(list(props), min(len(props), R.randrange(4))):
        out[name] = gen(props[name], depth + 1)
    for sub in s.get("patternProperties", {}).values():
        if R.random() < 0.6:
            out[R.choice(["k", "sda", "repo1", "rsa_public", "a_b"])] = gen(sub, depth + 1)
    extra = s.get("additionalProperties")
    if isinstance(extra, dict) and R.random() < 0.6:
        out[R.choice(["c1", 0, 1, "x"])] = gen(extra, depth + 1)
    for name in s.get("required", []):
        if name not in out and name in props and R.random() < 0.8:
            out[name] = gen(props[name], depth + 1)
    if R.random() < 0.1:
        out[other_key()] = other(depth + 1)
    return out


def scalar(s, t):
    if t == "string":
        if "pattern" in s and R.random() < 0.7:
            return R.choice(["1G", "1.5M", "+12", "a-b", "x"])
        if s.get("format") == "date":
            return R.choice(["2032-09-01", "2032-9-1", "20320901", datetime.date(2032, 9, 1)])
        return R.choice(["x", "hello", "", "a b", b"bin"])
    return R.choice({
        "integer": [0, 1, 5, -2, 2**70, True, 1.0],
        "number": [0, 1.5, math.nan, -1],
        "boolean": [True, False, 1],
        "null": [None],
    }[t])


def gen(s, depth=0):
    """A value for schema `s`, mostly one it accepts."""
    if R.random() < MUTATE or depth > 6 or s is True or s == {}:
        return other(depth)
    if "$ref" in s:
        s = from_ref(s)
    if "allOf" in s:
        out = {}
        for sub in s["allOf"]:
            v = gen(sub, depth + 1)
            if isinstance(v, dict) and R.random() < 0.2:
                out.update(v)
        return out
    for k in ("oneOf", "anyOf"):
        if k in s and R.random() < 0.85:
            rest = {kk: vv for kk, vv in s.items() if kk != k}
            return gen({**rest, **R.choice(s[k])}, depth + 1)
    if "enum" in s and R.random() < 0.9:
        return R.choice(s["enum"])
    t = s.get("type")
    if isinstance(t, list):
        t = R.choice(t)
    if t is None:
        t = "object" if "properties" in s or "patternProperties" in s else None
        t = t or ("array" if "items" in s else None)
    if t == "array":
        items = s.get("items", {})
        n = R.randrange(4)
        if isinstance(items, list):
            return [gen(x, depth + 1) for x in items[:n]]
        return [gen(items, depth + 1) for _ in range(n)]
    if t == "object":
        return obj(s, depth)
    return scalar(s, t) if t else other(depth)


def document():
    doc = {}
    modules = [k for k in DEFS if k.startswith("cc_") or k == "base_config"]
    for _ in range(R.randrange(1, 4)):
        v = gen(DEFS[R.choice(modules)])
        if isinstance(v, dict):
            doc.update(v)
    if R.random() < 0.05:
        doc[other_key()] = 1
    return doc


def verdict(validator_class, checker, doc):
    validator = validator_class(SCHEMA, format_checker=checker())
    try:
        found = list(validator.iter_errors(doc))
    except TypeError:
        return "crash"
    errors = [e for e in found if not isinstance(e, ci.SchemaDeprecationError)]
    top = [e for e in errors
           if not e.path and e.validator == "additionalProperties" and e.schema is SCHEMA]
    if len(errors) > len(top):
        return "invalid"
    return "warn" if top else "valid"


def tag(x):
    """The value with its Python type spelt out."""
    if x is None:
        return {"t": "none"}
    if isinstance(x, bool):
        return {"t": "bool", "v": x}
    if isinstance(x, int):
        return {"t": "int", "v": str(x)}
    if isinstance(x, float):
        return {"t": "float", "v": repr(x)}
    if isinstance(x, str):
        return {"t": "str", "v": x}
    if isinstance(x, bytes):
        return {"t": "bytes", "v": list(x)}
    if isinstance(x, datetime.datetime):
        return {"t": "datetime", "v": x.isoformat(sep=" ")}
    if isinstance(x, datetime.date):
        return {"t": "date", "v": x.isoformat()}
    if isinstance(x, (list, tuple, set)):
        return {"t": type(x).__name__, "v": [tag(i) for i in x]}
    return {"t": "dict", "v": [[tag(k), tag(v)] for k, v in x.items()]}


def main():
    validator_class, checker = ci.get_jsonschema_validator()
    counts = {}
    for _ in range(COUNT):
        doc = document()
        v = verdict(validator_class, checker, doc)
        counts[v] = counts.get(v, 0) + 1
        print(json.dumps({"doc": tag(doc), "verdict": v, "python": repr(doc)[:400]}))
    print(counts, file=sys.stderr)


main()
