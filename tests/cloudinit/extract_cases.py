#!/usr/bin/env python3
"""Writes the literal schema cases of cloud-init's module tests as cloud-config files.

Usage: extract_cases.py CLOUD_INIT_SOURCE_DIR [OUT_DIR]

Reads tests/unittests/config/test_cc_*.py of an unpacked cloud-init source tree with
Python's `ast` (nothing is imported or run), takes every `parametrize` case of a test that
calls `validate_cloudconfig_schema`, keeps the cases whose config is a literal mapping,
and writes each to OUT_DIR (default: corpus/schema-cases beside this script) as
`<module>-<index>.yaml`: a `#cloud-config` header, a comment naming the test and case, and
the config through `yaml.safe_dump`. <index> counts every case of the module's tests in
source order (literal or not), so a name keeps pointing at the same case. A config that
another case already gave is written once.
"""

import ast
import os
import sys

import yaml


def calls_validator(func):
    for node in ast.walk(func):
        if isinstance(node, ast.Call):
            f = node.func
            name = getattr(f, "id", None) or getattr(f, "attr", None)
            if name == "validate_cloudconfig_schema":
                return True
    return False


def argnames(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [a.strip() for a in node.value.split(",") if a.strip()]
    if isinstance(node, (ast.Tuple, ast.List)):
        return [e.value for e in node.elts]
    return None


def case_values(case, n):
    """The argument nodes of one parametrize case, and its id if it has one."""
    case_id = None
    is_param = isinstance(case, ast.Call) and "param" in (
        getattr(case.func, "attr", None),
        getattr(case.func, "id", None),
    )
    if is_param:
        values = list(case.args)
        for kw in case.keywords:
            if kw.arg == "id" and isinstance(kw.value, ast.Constant):
                case_id = kw.value.value
        return values, case_id
    if n == 1:
        return [case], None
    if isinstance(case, (ast.Tuple, ast.List)):
        return list(case.elts), None
    return None, None


def literal(node):
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def extract(src_dir):
    test_dir = os.path.join(src_dir, "tests", "unittests", "config")
    out = []
    for fn in sorted(os.listdir(test_dir)):
        if not (fn.startswith("test_cc_") and fn.endswith(".py")):
            continue
        module = fn[len("test_") : -len(".py")]
        with open(os.path.join(test_dir, fn), encoding="utf-8") as f:
            tree = ast.parse(f.read(), filename=fn)
        index = 0
        # Classes first, to name methods by their class.
        owners = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    owners[id(item)] = node.name
        funcs = [
            n
            for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        ]
        funcs.sort(key=lambda n: n.lineno)
        for func in funcs:
            if not calls_validator(func):
                continue
            for dec in func.decorator_list:
                if not (
                    isinstance(dec, ast.Call)
                    and getattr(dec.func, "attr", None) == "parametrize"
                    and len(dec.args) >= 2
                ):
                    continue
                names = argnames(dec.args[0])
                if not names or "config" not in names:
                    continue
                at = names.index("config")
                cases = dec.args[1]
                if not isinstance(cases, (ast.Tuple, ast.List)):
                    continue
                for case in cases.elts:
                    this = index
                    index += 1
                    values, case_id = case_values(case, len(names))
                    if values is None or at >= len(values):
                        continue
                    ok, config = literal(values[at])
                    if not ok or not isinstance(config, dict):
                        continue
                    owner = owners.get(id(func))
                    test = f"{owner}::{func.name}" if owner else func.name
                    out.append(
                        {
                            "module": module,
                            "index": this,
                            "source": f"tests/unittests/config/{fn}",
                            "test": test,
                            "line": case.lineno,
                            "id": case_id,
                            "config": config,
                        }
                    )
    return out


def render(case):
    where = f"{case['source']}::{case['test']}, case {case['index']}"
    if case["id"]:
        where += f" (id {case['id']})"
    body = yaml.safe_dump(
        case["config"], default_flow_style=False, sort_keys=False, allow_unicode=True
    )
    return f"#cloud-config\n# {where}, line {case['line']}\n{body}"


def main(argv):
    if len(argv) not in (2, 3):
        sys.stderr.write(__doc__)
        return 2
    src = argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = argv[2] if len(argv) == 3 else os.path.join(here, "corpus", "schema-cases")
    os.makedirs(out_dir, exist_ok=True)
    for old in os.listdir(out_dir):
        if old.endswith(".yaml"):
            os.remove(os.path.join(out_dir, old))
    seen = set()
    written = 0
    for case in extract(src):
        key = yaml.safe_dump(case["config"], sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        name = f"{case['module']}-{case['index']:03d}.yaml"
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            f.write(render(case))
        written += 1
    print(f"{written} schema cases written to {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
