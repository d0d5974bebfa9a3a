#!/usr/bin/env python3
"""cloud-init's own verdict on every cloud-config file of the corpus.

Usage (cloud-init 25.1.4 on PYTHONPATH; see tests/cloudinit/README.md):

    PYTHONPATH=/path/to/dist-packages python3 tests/cloudinit/oracle.py
        rewrites tests/cloudinit/verdicts.json from tests/cloudinit/corpus/
    ... oracle.py FILE...
        prints the verdicts of FILE... (JSON) and writes nothing

For each file, in the order cloud-init looks at it:

1. what `cloudinit.handlers.type_from_starts_with` says the file is (cloud-init lowercases
   and left-strips the text before matching its prefixes);
2. for cloud-config, PyYAML's `safe_load` (what `util.load_yaml` calls): a YAML error with
   its line, or a document that is not a mapping;
3. duplicate keys, judged on the keys PyYAML resolves, with Python's equality (`0` and
   `00` are one key, `1` and `"1"` two). PyYAML keeps the last value without a word;
   clem-image refuses them on purpose, recorded as a deviation;
4. `cloudinit.config.schema.validate_cloudconfig_schema(cfg, strict=True)`: errors, each
   with its key path and its line (`cloudinit.safeyaml.load_with_marks`); deprecations are
   not errors; an unknown top-level key is a warning (cloud-init ignores it). Of the
   schema's formats only `date` is checked, as with a plain Debian python3-jsonschema
   (`hostname` and `uri` need packages cloud-init does not depend on).
"""

import json
import os
import re
import sys

import yaml

try:
    from cloudinit import handlers, safeyaml
    from cloudinit import version as ci_version
    from cloudinit.config import schema as ci_schema
except ImportError as e:
    sys.exit(f"oracle.py: cloud-init is not importable ({e}); see tests/cloudinit/README.md")

import jsonschema
import jsonschema._utils
from jsonschema import FormatChecker

WANT_VERSION = "25.1.4"
HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
VERDICTS = os.path.join(HERE, "verdicts.json")
COMMAND = (
    "PYTHONPATH=$CLOUD_INIT/usr/lib/python3/dist-packages /usr/bin/python3 "
    "tests/cloudinit/oracle.py"
)

# What cloud-init reads but clem-image refuses by design, by content type.
DEVIATIONS = {
    "text/cloud-config-archive": "cloud-config-archive: a list of parts in YAML; "
    "clem-image takes cloud-config (and scripts) one file per part",
    "text/x-include-url": "#include: cloud-init fetches these URLs on the node; "
    "clem-image builds offline and cannot check what they hold",
    "text/x-include-once-url": "#include-once: cloud-init fetches these URLs on the node; "
    "clem-image builds offline and cannot check what they hold",
    "text/cloud-boothook": "boothook: runs on every boot before anything else; "
    "clem-image does not pass boothooks",
    "text/part-handler": "part-handler: Python that cloud-init imports and runs to "
    "handle other parts; clem-image does not pass code into cloud-init",
    "text/jinja2": "jinja template: rendered on the node with instance data that "
    "clem-image does not have, so it cannot be checked offline",
    "text/cloud-config-jsonp": "cloud-config-jsonp: a JSON patch over the merged "
    "config; clem-image merges cloud-config only",
}
# clem-image's login user is cloud-init's default user (`user:`); on the Raspberry Pi OS
# sample the corpus test builds, that user is `pi`.
LOGIN_USER = "pi"
DEFAULT_USER_DEVIATION = (
    "user: names another default user; clem-image's login user is the default user "
    "(set `user` in cluster.toml instead)"
)
DUPLICATE_DEVIATION = (
    "duplicate key: PyYAML keeps the last value silently; clem-image refuses it"
)
# Content types cloud-init handles that clem-image passes as their own MIME part.
ACCEPTED_TYPES = {"text/cloud-config", "text/x-shellscript"}


def check_environment():
    got = ci_version.version_string()
    if got != WANT_VERSION:
        sys.exit(
            f"oracle.py: cloud-init {got} is on the path, the verdicts are cloud-init "
            f"{WANT_VERSION}'s; see tests/cloudinit/README.md"
        )
    # The formats the schema uses: keep `date`, drop any other checker the environment
    # happens to provide, so the verdicts do not depend on optional packages.
    used = set()

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("format"), str):
                used.add(node["format"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(ci_schema.get_schema())
    for fmt in sorted(used - {"date"}):
        FormatChecker.checkers.pop(fmt, None)
    assert "date" in FormatChecker.checkers, "jsonschema without a date format checker"
    checked = sorted(f for f in used if f in FormatChecker.checkers)
    assert checked == ["date"], checked
    return {
        "cloud_init": got,
        "pyyaml": yaml.__version__,
        "jsonschema": jsonschema_version(),
        "formats_checked": checked,
        "formats_unchecked": sorted(used - set(checked)),
    }


def jsonschema_version():
    try:
        from importlib.metadata import version

        return version("jsonschema")
    except Exception:  # pragma: no cover - metadata missing
        return "unknown"


class DuplicateKey(yaml.YAMLError):
    def __init__(self, key, line, first_line):
        super().__init__(f"duplicate key {key!r}")
        self.key = key
        self.line = line
        self.first_line = first_line


class DuplicateCheckingLoader(yaml.SafeLoader):
    """SafeLoader that refuses two keys of one mapping that PyYAML resolves to equal
    Python values (what a dict would silently merge)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    continue  # unhashable: SafeLoader refuses it itself
                if first is not None:
                    raise DuplicateKey(
                        key, key_node.start_mark.line + 1, first.start_mark.line + 1
                    )
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def yaml_error_lines(e):
    """cloud-init's line for a YAML error (context mark first, as util.load_yaml), and
    the problem's line when it is another one."""
    ctx = getattr(e, "context_mark", None)
    prob = getattr(e, "problem_mark", None)
    mark = ctx or prob
    out = {"path": None, "line": mark.line + 1 if mark else None}
    if ctx and prob and prob.line != ctx.line:
        out["problem_line"] = prob.line + 1
    return out


def typed_segments(instance, path):
    """jsonschema's path with list indices as ints and mapping keys as strings."""
    segs = []
    node = instance
    for p in path:
        if isinstance(node, list) and isinstance(p, int):
            segs.append(p)
        else:
            segs.append(str(p))
        try:
            node = node[p]
        except (KeyError, IndexError, TypeError):
            node = None
    return segs


CONSUMES_ONE = {"properties", "patternProperties"}


def alternative_anchor(error):
    """For an error reported from inside a oneOf/anyOf: how many instance segments lie
    above the outermost oneOf/anyOf, and the schema path to it. None otherwise. Errors
    with one anchor are alternatives: the forms of one value that all failed, which
    cloud-init reports at the deepest place any form reached; another validator may
    explain the same failure with another form's error inside that value."""
    sp = list(error.absolute_schema_path)
    depth = 0
    anchor = None
    i = 0
    while i < len(sp):
        tok = sp[i]
        if tok in CONSUMES_ONE:
            depth += 1
            i += 2
            continue
        if tok in ("items", "additionalItems"):
            depth += 1
            i += 2 if i + 1 < len(sp) and isinstance(sp[i + 1], int) else 1
            continue
        if tok == "additionalProperties":
            depth += 1
            i += 1
            continue
        if tok in ("oneOf", "anyOf"):
            # The outermost one: cloud-init reports the deepest errors of all its forms
            # (nested forms included) from there.
            if anchor is None:
                anchor = (depth, tuple(str(t) for t in sp[: i + 1]))
            i += 2
            continue
        i += 1
    return anchor


def node_lines(text, segs):
    """First and last line (1-based) of the value at `segs`, its key's line included,
    from PyYAML's own node marks; None when the path cannot be followed."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    ctor = yaml.SafeLoader("")
    first = None
    for seg in segs:
        if isinstance(node, yaml.SequenceNode) and isinstance(seg, int):
            if seg >= len(node.value):
                return None
            node = node.value[seg]
            first = None
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                try:
                    key = ctor.construct_object(k, deep=True)
                except Exception:
                    continue
                if str(key) == seg:
                    first = k.start_mark.line + 1
                    node = v
                    break
            else:
                return None
        else:
            return None
    start = node.start_mark.line + 1
    end = node.end_mark.line + (0 if node.end_mark.column == 0 else 1)
    return [min(first or start, start), max(start, end)]


def line_for(marks, segs):
    """The line cloud-init's marks give for a key path; a path without a mark (a missing
    key, the top level) takes its nearest parent's."""
    for n in range(len(segs), 0, -1):
        dotted = ".".join(str(s) for s in segs[:n])
        if dotted in marks:
            return marks[dotted]
    return None


def schema_findings(cfg, text):
    """Errors (with typed paths and lines), unknown top-level keys and deprecations, as
    validate_cloudconfig_schema(strict=True) sees them."""
    schema = ci_schema.get_schema()
    # The authoritative call: what cloud-init's own validator says.
    try:
        ci_schema.validate_cloudconfig_schema(cfg, schema, strict=True)
        ci_errors, ci_deprecations = [], []
    except ci_schema.SchemaValidationError as e:
        ci_errors = list(e.schema_errors or [])
        ci_deprecations = list(e.schema_deprecations or [])

    # The same walk as validate_cloudconfig_schema, keeping jsonschema's typed paths.
    validator_cls, checker_cls = ci_schema.get_jsonschema_validator()
    validator = validator_cls(schema, format_checker=checker_cls())
    _, marks = safeyaml.load_with_marks(text)
    errors, warnings, dotted_seen = [], set(), set()
    for err in sorted(validator.iter_errors(cfg), key=lambda e: e.path):
        if isinstance(err, ci_schema.SchemaDeprecationError):
            continue
        path = list(err.path)
        dotted = ".".join(str(p) for p in path)
        if (
            not path
            and err.validator == "additionalProperties"
            and err.schema == schema
        ):
            # cloud-init names the key itself; clem-image warns about it.
            m = re.match(r".*\('(?P<name>.*)' was unexpected\)", err.message)
            dotted_seen.add(m["name"] if m else dotted)
            warnings.update(str(k) for k in jsonschema._utils.find_additional_properties(cfg, schema))
            continue
        dotted_seen.add(dotted)
        segs = typed_segments(cfg, path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            extra = list(jsonschema._utils.find_additional_properties(err.instance, err.schema))
        else:
            extra = [None]
        anchor = alternative_anchor(err)
        for key in extra:
            s = segs + ([str(key)] if key is not None else [])
            entry = {
                "path": ".".join(str(x) for x in s),
                "segments": s,
                "line": line_for(marks, s),
                "message": err.message,
            }
            if anchor is not None:
                depth, sp = anchor
                entry["alternatives"] = ".".join(str(x) for x in segs[:depth]) + " " + "/".join(sp)
                entry["anchor"] = {"segments": segs[:depth], "lines": node_lines(text, segs[:depth])}
            errors.append(entry)

    # The walk must say what cloud-init said.
    want = {p.path for p in ci_errors}
    assert want == dotted_seen, (want, dotted_seen)

    # One entry per path and group (oneOf forms that fail at the same place repeat it).
    unique, keys = [], set()
    for e in errors:
        k = (e["path"], e.get("alternatives"))
        if k not in keys:
            keys.add(k)
            unique.append(e)
    deprecations = sorted({p.path for p in ci_deprecations})
    return unique, sorted(warnings), deprecations


def verdict(data):
    """cloud-init's verdict on the bytes of one user-data file."""
    kind = handlers.type_from_starts_with(data)
    out = {"kind": kind or "none", "errors": [], "warnings": []}
    if kind is None:
        try:
            text = data.decode("utf-8")
            bom = text.startswith("\ufeff")
        except UnicodeDecodeError:
            bom = False
        if bom:
            why = (
                "it starts with a byte-order mark, so cloud-init does not see "
                "`#cloud-config` and ignores it (text/x-not-multipart)"
            )
        else:
            why = (
                "no header cloud-init knows: it reads the file as text/x-not-multipart "
                "and ignores it"
            )
        return dict(out, verdict="refuse", why=why)
    if kind not in ACCEPTED_TYPES:
        return dict(
            out,
            verdict="refuse",
            why=f"cloud-init reads it as {kind}",
            deviation=DEVIATIONS.get(kind, f"{kind}: not cloud-config"),
        )
    if kind == "text/x-shellscript":
        return dict(
            out,
            verdict="accept",
            why="a script: cloud-init runs it once per instance (its own MIME part)",
        )
    text = data.decode("utf-8")
    try:
        cfg = yaml.safe_load(text)
    except yaml.YAMLError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return dict(
            out,
            verdict="refuse",
            why=f"not valid YAML: {first}",
            errors=[yaml_error_lines(e)],
        )
    except RecursionError:
        return dict(
            out,
            verdict="refuse",
            why="nested deeper than PyYAML can load (RecursionError)",
        )
    if cfg is None:
        return dict(
            out,
            verdict="accept",
            why="cloud-config with no keys (cloud-init skips the part)",
            empty=True,
        )
    if not isinstance(cfg, dict):
        return dict(
            out,
            verdict="refuse",
            why=f"the document is a {type(cfg).__name__}, not a mapping: cloud-init ignores it",
        )
    errors, warnings, deprecations = schema_findings(cfg, text)
    out["warnings"] = warnings
    if deprecations:
        out["deprecations"] = deprecations
    try:
        yaml.load(text, Loader=DuplicateCheckingLoader)
        dup = None
    except DuplicateKey as d:
        dup = d
    if dup is not None:
        entry = {"path": None, "line": dup.line, "first_line": dup.first_line}
        res = dict(
            out,
            verdict="refuse",
            why=f"duplicate key {dup.key!r} (lines {dup.first_line} and {dup.line})",
            errors=[entry],
        )
        if not errors:
            res["deviation"] = DUPLICATE_DEVIATION
        else:
            res["why"] += f"; the schema also fails at {len(errors)} place(s)"
        return res
    if errors:
        return dict(
            out,
            verdict="refuse",
            why=f"cloud-init {WANT_VERSION}'s schema: {len(errors)} error(s)",
            errors=errors,
        )
    default_user = other_default_user(cfg)
    if default_user is not None:
        return dict(
            out,
            verdict="refuse",
            why=f"valid cloud-config that makes {default_user!r} the default user",
            errors=[],
            deviation=DEFAULT_USER_DEVIATION,
        )
    return dict(out, verdict="accept", why="valid cloud-config")


def other_default_user(cfg):
    """The name a top-level `user:` gives cloud-init's default user, when it is not the
    login user clem-image makes the default user on the corpus test's image."""
    if not isinstance(cfg, dict) or "user" not in cfg:
        return None
    user = cfg["user"]
    name = user.get("name") if isinstance(user, dict) else user
    if name is None or name == LOGIN_USER:
        return None
    return name


def corpus_files():
    files = []
    for root, _dirs, names in os.walk(CORPUS):
        for n in names:
            rel = os.path.relpath(os.path.join(root, n), CORPUS)
            if rel in ("LICENSE-Apache2.0", "SOURCE.md"):
                continue
            files.append(rel)
    return sorted(files)


def main(argv):
    env = check_environment()
    if argv[1:]:
        out = {}
        for f in argv[1:]:
            with open(f, "rb") as fh:
                out[f] = verdict(fh.read())
        json.dump(out, sys.stdout, indent=1, sort_keys=True, default=str)
        print()
        return 0
    files = {}
    for rel in corpus_files():
        with open(os.path.join(CORPUS, rel), "rb") as fh:
            files[rel] = verdict(fh.read())
    counts = {"files": len(files)}
    for v in files.values():
        counts[v["verdict"]] = counts.get(v["verdict"], 0) + 1
    counts["deviations"] = sum(1 for v in files.values() if "deviation" in v)
    doc = {"recorded_with": dict(env, command=COMMAND), "counts": counts, "files": files}
    tmp = VERDICTS + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1, sort_keys=True, ensure_ascii=False)
        fh.write("\n")
    os.replace(tmp, VERDICTS)
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
