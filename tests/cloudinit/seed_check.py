#!/usr/bin/env python3
"""Does a node's user-data give cloud-init the user's cloud-config as the user wrote it?

Usage: seed_check.py [--default-user NAME] USER_DATA ORIGINAL...

USER_DATA is the seed's `user-data` as written on the image; ORIGINAL... are the user's
files in layer order (the cluster's, then the node's). The user-data goes through the
installed cloud-init as a NoCloud seed does: `cloudinit.user_data.UserDataProcessor`, then
every part through cloud-init's own part handlers (`CloudConfigPartHandler`, which merges
the cloud-config parts with `cloudinit.mergers`, and `ShellScriptPartHandler`), driven as
`cloudinit.stages` drives them. Then it checks:

- the user-data is MIME multipart: first clem-image's own `text/cloud-config` part, then
  one part per original, in order, holding the original byte for byte (cloud-config with
  the Merge-Type header below; a `#!` script as `text/x-shellscript`);
- cloud-init merged every part (none skipped with an error);
- every key path of every original is in the merged document with an equal value of the
  same Python type (recursively; mapping keys in order), except where an earlier layer
  (clem-image's part first) holds the same path: there the earlier scalar wins, mappings
  merge, and lists join (earlier items first);
- `users`, after cloud-init's normalisation (`cloudinit.distros.ug_util`): every user of
  every layer is a user on the node, and for each setting the earliest layer's value is
  the node's (groups: the earliest layer's groups are among the node's);
- a script original was written by cloud-init as it is (after cloud-init's dos2unix).

--default-user NAME: the image's default user (what `default` in `users` means), by name.

Exit status 0 when all holds; 1 with every difference printed; 2 on bad usage. Works with
cloud-init 22.4 (Debian bookworm) and 25.1.
"""

import copy
import datetime
import email
import logging
import math
import os
import sys
import tempfile

import yaml

try:
    from cloudinit import handlers, helpers, util
    from cloudinit import user_data as ci_user_data
    from cloudinit.distros import ug_util
    from cloudinit.handlers.cloud_config import CloudConfigPartHandler
    from cloudinit.handlers.shell_script import ShellScriptPartHandler
    from cloudinit.settings import PER_INSTANCE
except ImportError as e:
    sys.stderr.write(f"seed_check.py: cloud-init is not importable ({e})\n")
    sys.exit(2)

MERGE_TYPE = "dict(no_replace,recurse_list)+list(append)+str()"
CLOUD_CONFIG = "text/cloud-config"
SHELLSCRIPT = "text/x-shellscript"
MERGER_KEYS = ("merge_how", "merge_type")


class Problems:
    def __init__(self):
        self.items = []
        self.layout_broken = False

    def add(self, msg, layout=False):
        """`layout`: the parts are not clem-image's layout, so which layer is which is
        unknown and values are not compared."""
        self.items.append(msg)
        self.layout_broken = self.layout_broken or layout


class Missing:
    def __repr__(self):
        return "nothing"


MISSING = Missing()


def show(v, limit=200):
    if v is MISSING:
        return "nothing"
    text = f"{type(v).__name__} {v!r}"
    return text if len(text) <= limit else text[:limit] + "..."


def fmt_path(path):
    out = ""
    for kind, seg in path:
        if kind == "index":
            out += f"[{seg}]"
        elif isinstance(seg, str) and seg and all(c.isalnum() or c in "_-" for c in seg):
            out += ("." if out else "") + seg
        else:
            out += f"[key {seg!r}]"
    return out or "(top level)"


def same(a, b, path, diffs, ordered=True):
    """Strict equality: same Python types, same values, and (when `ordered`) mapping keys
    in the same order."""
    if type(a) is not type(b):
        diffs.append((path, a, b))
        return
    if isinstance(a, dict):
        for k in a:
            if k not in b:
                diffs.append((path + [("key", k)], a[k], MISSING))
        for k in b:
            if k not in a:
                diffs.append((path + [("key", k)], MISSING, b[k]))
        ka = [k for k in a if k in b]
        kb = [k for k in b if k in a]
        if ordered and any(type(x) is not type(y) or x != y for x, y in zip(ka, kb)):
            diffs.append((path + [("keys", "")], ka, kb))
        for k in ka:
            same(a[k], b[k], path + [("key", k)], diffs, ordered)
        return
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            diffs.append((path, a, b))
            return
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, path + [("index", i)], diffs, ordered)
        return
    if isinstance(a, float) and math.isnan(a) and math.isnan(b):
        return
    if isinstance(a, (set, frozenset)):
        if sorted(map(repr, a)) != sorted(map(repr, b)):
            diffs.append((path, a, b))
        return
    if isinstance(a, datetime.datetime) and a.utcoffset() != b.utcoffset():
        diffs.append((path, a, b))
        return
    if a != b:
        diffs.append((path, a, b))


def model_merge(old, new):
    """What the Merge-Type header promises, written out: a key only in `new` is added, a
    mapping in both merges, a list in both joins (old items first), else `old` stays."""
    out = dict(old)
    for k, v in new.items():
        if k not in out:
            out[k] = v
        else:
            o = out[k]
            if isinstance(o, dict) and isinstance(v, dict):
                out[k] = model_merge(o, v)
            elif isinstance(o, list) and isinstance(v, list):
                out[k] = o + v
    return out


def layers_at(layers, path):
    """The layers (by name) that hold a value at `path`."""
    names = []
    for name, doc in layers:
        node = doc
        ok = True
        for kind, seg in path:
            if kind == "keys":
                break
            if kind == "key" and isinstance(node, dict) and seg in node:
                node = node[seg]
            elif kind == "index" and isinstance(node, list) and seg < len(node):
                node = node[seg]
            else:
                ok = False
                break
        if ok:
            names.append(name)
    return names


class FakeDatasource:
    """What helpers.Paths needs of a datasource to name the instance directory."""

    def get_instance_id(self):
        return "iid-seed-check"


class FakeDistro:
    def __init__(self, default_user):
        self.default_user = default_user

    def get_default_user(self):
        return {"name": self.default_user} if self.default_user else {}


def normalize_users(doc, distro):
    cfg = {k: copy.deepcopy(doc[k]) for k in ("users", "user") if k in doc}
    return ug_util.normalize_users_groups(cfg, distro)[0]


def group_names(v):
    if v is None:
        return set()
    if isinstance(v, str):
        return {g.strip() for g in v.split(",") if g.strip()}
    if isinstance(v, (list, tuple)):
        out = set()
        for g in v:
            out |= group_names(g) if isinstance(g, str) else {repr(g)}
        return out
    return {repr(v)}


def check_users(layers, merged, distro, problems):
    if not any("users" in d or "user" in d for _, d in layers):
        return
    try:
        node_users = normalize_users(merged, distro)
    except Exception as e:  # cloud-init would fail the same way on the node
        problems.add(f"users: cloud-init cannot normalise the merged users: {e!r}")
        return
    first = {}  # (user, setting) -> (layer, value), earliest layer first
    for name, doc in layers:
        if "users" not in doc and "user" not in doc:
            continue
        try:
            users = normalize_users(doc, distro)
        except Exception as e:
            problems.add(f"users: cloud-init cannot normalise the users of {name}: {e!r}")
            continue
        hint = ""
        if isinstance(doc.get("users"), str):
            hint = " (its users is a string; merged into a list, cloud-init keeps only the list)"
        elif isinstance(doc.get("users"), dict):
            hint = " (its users is a mapping; merged into a list, cloud-init adds only its names)"
        for user, settings in users.items():
            if user not in node_users:
                problems.add(
                    f"users: {user} (from {name}) is not a user after cloud-init's merge "
                    f"and normalisation{hint}"
                )
                continue
            for k, v in settings.items():
                if k == "default":
                    continue
                first.setdefault((user, k), (name, v, hint))
    for (user, k), (name, v, hint) in first.items():
        got = node_users[user].get(k, None) if user in node_users else None
        if user not in node_users:
            continue
        if k not in node_users[user]:
            problems.add(f"users: {user}.{k}: {name} gives {show(v)}, the node gets nothing{hint}")
            continue
        if k == "groups":
            missing = group_names(v) - group_names(got)
            if missing:
                problems.add(
                    f"users: {user}.groups: {name} gives {show(v)}, the node's are "
                    f"{show(got)} (missing {sorted(missing)}){hint}"
                )
            continue
        diffs = []
        same(v, got, [], diffs)
        if diffs:
            problems.add(
                f"users: {user}.{k}: {name} gives {show(v)} and wins, the node gets {show(got)}{hint}"
            )


def parts_of(msg):
    return [p for p in msg.walk() if p.get_content_maintype() != "multipart"]


def main(argv):
    args = argv[1:]
    default_user = None
    if len(args) >= 2 and args[0] == "--default-user":
        default_user = args[1]
        args = args[2:]
    if len(args) < 1 or args[0].startswith("-"):
        sys.stderr.write(__doc__)
        return 2
    user_data_path, originals = args[0], args[1:]

    caught = []

    class Catch(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.WARNING:
                caught.append(record.getMessage())

    logging.getLogger().addHandler(Catch())
    logging.getLogger().setLevel(logging.DEBUG)

    problems = Problems()
    with open(user_data_path, "rb") as f:
        raw = f.read()
    origs = []
    for path in originals:
        with open(path, "rb") as f:
            data = f.read()
        kind = handlers.type_from_starts_with(data)
        doc = None
        if kind == CLOUD_CONFIG:
            doc = yaml.safe_load(data.decode("utf-8"))
        origs.append({"path": path, "data": data, "kind": kind, "doc": doc})

    # The outer message, as the datasource hands it over.
    outer = email.message_from_bytes(raw)
    if b"mime-version:" not in raw[:4096].lower() or outer.get_content_type() != "multipart/mixed":
        problems.add(
            f"{user_data_path}: not a MIME multipart/mixed message (starts {raw[:40]!r}): "
            "cloud-init reads it as one part",
            layout=True,
        )

    with tempfile.TemporaryDirectory(prefix="seed-check.") as tmp:
        paths = helpers.Paths(
            {"cloud_dir": os.path.join(tmp, "cloud"), "run_dir": os.path.join(tmp, "run")},
            ds=FakeDatasource(),
        )
        msg = ci_user_data.UserDataProcessor(paths).process(raw)
        parts = parts_of(msg)

        # Structure: clem-image's part, then the originals, each byte for byte.
        tool_doc = {}
        if not parts or parts[0].get_content_type() != CLOUD_CONFIG:
            problems.add(
                f"{user_data_path}: the first part is "
                f"{parts[0].get_content_type() if parts else 'missing'}, not clem-image's {CLOUD_CONFIG}",
                layout=True,
            )
        else:
            tool_doc = yaml.safe_load(util.fully_decoded_payload(parts[0])) or {}
            if not isinstance(tool_doc, dict):
                problems.add(f"{user_data_path}: clem-image's part is not a mapping", layout=True)
                tool_doc = {}
        rest = parts[1:]
        i = 0
        empty_parts = set()
        for o in origs:
            part = rest[i] if i < len(rest) else None
            if o["kind"] == CLOUD_CONFIG and o["doc"] is None:
                # An empty cloud-config: cloud-init skips such a part ("empty cloud
                # config"), so leaving it out is fine too.
                if part is None or part.get_payload(decode=True) != o["data"]:
                    continue
                empty_parts.add(part.get_filename())
            if o["kind"] not in (CLOUD_CONFIG, SHELLSCRIPT):
                problems.add(
                    f"{o['path']}: cloud-init reads it as {o['kind']}: not passed by clem-image",
                    layout=True,
                )
                continue
            if part is None:
                problems.add(f"{o['path']}: no part of the user-data holds it", layout=True)
                continue
            i += 1
            got = part.get_payload(decode=True)
            ctype = part.get_content_type()
            if ctype != o["kind"]:
                problems.add(
                    f"{o['path']}: its part is {ctype}, cloud-init would read the file as {o['kind']}",
                    layout=True,
                )
            if got != o["data"]:
                problems.add(
                    f"{o['path']}: its part is not the file byte for byte "
                    f"({len(got or b'')} bytes, the file has {len(o['data'])})"
                )
            if o["kind"] == CLOUD_CONFIG:
                # cloud-init looks the header up with this exact spelling (dict(part)).
                hdr = dict(part).get("Merge-Type") or dict(part).get("X-Merge-Type")
                if hdr != MERGE_TYPE:
                    problems.add(f"{o['path']}: its part's Merge-Type is {hdr!r}, not {MERGE_TYPE!r}")
        for extra in rest[i:]:
            problems.add(
                f"{user_data_path}: an extra {extra.get_content_type()} part "
                f"({extra.get_filename()}) that no original accounts for",
                layout=True,
            )

        structure_ok = not problems.layout_broken

        # Merge, as stages.Init._do_handlers does.
        c_handlers = helpers.ContentHandlers()
        cc = CloudConfigPartHandler(paths=paths)
        sh = ShellScriptPartHandler(paths=paths)
        for mod in (cc, sh):
            c_handlers.register(mod, overwrite=False)
        data = {
            "handlers": c_handlers,
            "handlerdir": os.path.join(tmp, "handlers"),
            "data": None,
            "frequency": PER_INSTANCE,
            "handlercount": 0,
            "excluded": [],
        }
        for _ctype, mod in c_handlers.items():
            if mod not in c_handlers.initialized:
                handlers.call_begin(mod, None, PER_INSTANCE)
                c_handlers.initialized.append(mod)
        handlers.walk(msg, handlers.walker_callback, data=data)
        merged = copy.deepcopy(cc.cloud_buf) if cc.cloud_buf is not None else {}
        # The handler lists the parts it merged (both releases); a part it could not
        # merge is only logged.
        merged_names = set(cc.file_names)
        for p in parts:
            fn = (p.get_filename() or "").strip()
            if p.get_content_type() == CLOUD_CONFIG and fn not in merged_names and fn not in empty_parts:
                problems.add(f"cloud-init could not merge part {fn} (see its log above)")
        for mod in list(c_handlers.initialized):
            c_handlers.initialized.remove(mod)
            handlers.call_end(mod, None, PER_INSTANCE)

        # What the modules will read: cloud-init's own dump of the merge, loaded again.
        cc_file = paths.get_ipath("cloud_config")
        reread = None
        if not os.path.exists(cc_file):
            problems.add("cloud-init wrote no merged cloud-config (cloud-config.txt)")
        else:
            with open(cc_file, encoding="utf-8") as f:
                reread = yaml.safe_load(f.read())

        script_dir = paths.get_ipath_cur("scripts")
        sparts = [p for p in parts if p.get_content_type() == SHELLSCRIPT]
        for o in (o for o in origs if o["kind"] == SHELLSCRIPT):
            want = util.dos2unix(o["data"].decode("utf-8", "surrogateescape"))
            found = False
            for p in sparts:
                fn = os.path.join(script_dir, util.clean_filename(p.get_filename()))
                if os.path.exists(fn):
                    with open(fn, encoding="utf-8", errors="surrogateescape") as f:
                        if f.read() == want:
                            found = True
            if not found:
                problems.add(f"{o['path']}: cloud-init did not write this script as it is")

    # The layers, as cloud-init merged them (it takes merge_how/merge_type out of a part).
    layers = [("clem-image's part", {k: v for k, v in tool_doc.items() if k not in MERGER_KEYS})]
    for o in origs:
        if o["kind"] != CLOUD_CONFIG or not isinstance(o["doc"], dict):
            continue
        doc = dict(o["doc"])
        for k in MERGER_KEYS:
            if k in doc:
                caught.append(
                    f"note: {o['path']} sets {k}: cloud-init applies it to this part "
                    "before the part's Merge-Type header"
                )
                doc.pop(k)
        layers.append((o["path"], doc))

    if not structure_ok:
        # Without clem-image's layout the layers are unknown: the differences would
        # mislead. The layout problems above are the answer.
        layers = []
        caught.append("note: values not compared: the parts are not clem-image's layout")
    expected = {}
    for _name, doc in layers:
        expected = model_merge(expected, doc)
    exp = {k: v for k, v in expected.items() if k != "users"}
    got = {k: v for k, v in merged.items() if k != "users"}
    diffs = []
    if layers:
        same(exp, got, [], diffs)
    for path, want, have in diffs:
        # The deepest part of the path some layer holds (a joined list's items are
        # numbered in the join, not in the layer).
        n = len(path)
        while n > 0 and not layers_at(layers, path[:n]):
            n -= 1
        holders = layers_at(layers, path[:n])
        who = " and ".join(holders) if holders else "no layer"
        if n < len(path):
            who += f", under {fmt_path(path[:n])}"
        rule = ""
        if len(holders) > 1:
            rule = " (earlier layer's scalar wins, mappings merge, lists join)"
        if path and path[-1][0] == "keys":
            problems.add(
                f"{fmt_path(path[:-1])}: keys in the order {show(want)} expected "
                f"(from {who}), cloud-init's merge has {show(have)}"
            )
        else:
            problems.add(
                f"{fmt_path(path)}: {show(want)} expected (from {who}){rule}, "
                f"cloud-init's merge has {show(have)}"
            )

    check_users(layers, merged, FakeDistro(default_user), problems)

    if reread is not None:
        rdiffs = []
        # safeyaml.dumps sorts keys: only values and types count here.
        same(merged, reread, [], rdiffs, ordered=False)
        for path, a, b in rdiffs:
            caught.append(
                f"note: cloud-init's own dump and reload of the merge (cloud-config.txt) "
                f"changes {fmt_path(path)}: {show(a)} -> {show(b)}"
            )

    for c in caught:
        print(f"cloud-init: {c}" if not c.startswith("note:") else c)
    if problems.items:
        print(f"seed_check: {user_data_path}: {len(problems.items)} problem(s):")
        for p in problems.items:
            print(f"  - {p}")
        return 1
    print(
        f"seed_check: {user_data_path}: ok ({len(parts)} part(s), "
        f"{len(origs)} original(s), {len(merged)} top-level key(s) merged)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
