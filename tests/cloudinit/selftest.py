#!/usr/bin/env python3
"""seed_check.py judged on hand-made user-data: MIME messages built with Python's email
package in the layout clem-image writes (its own text/cloud-config part, then each user
file byte for byte, base64, with the Merge-Type header), and broken variants of it. Each
case says whether seed_check must pass it. Run with the python3 that has cloud-init.

Usage: selftest.py   (exit 0 when every case gets the expected verdict)
"""

import os
import subprocess
import sys
import tempfile
from email import encoders
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart

HERE = os.path.dirname(os.path.abspath(__file__))
SEED_CHECK = os.path.join(HERE, "seed_check.py")
MERGE_TYPE = "dict(no_replace,recurse_list)+list(append)+str()"

TOOL = """#cloud-config
hostname: rpi1
preserve_hostname: false
ssh_authorized_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB8Ht8Z3j6yDWPBHQtOp/R9rjWvfU1lKI1nEg2vW3ZyR test']
users:
  - name: pi
    groups: [sudo]
    shell: /bin/bash
    sudo: "ALL=(ALL) NOPASSWD:ALL"
    lock_passwd: true
runcmd:
  - [systemctl, start, --no-block, clem-firstboot.service]
"""

USER = """#Cloud-Config  # mine
hostname: not-the-node
runcmd:
  - [sh, -c, 'echo user']
write_files:
  - path: /etc/motd
    content: !!binary aGVsbG8K
snap:
  commands:
    0: [echo, a]
    1: [echo, b]
    2: [echo, c]
    10: [echo, k]
    11: [echo, l]
users:
  - name: pi
    shell: /bin/zsh
    gecos: The Pi
  - alice
x_values:
  nan: .nan
  big: 123456789012345678901234567890
  f3: !!float 3
  plain_1e5: 1e5
  when: !!timestamp 2001-12-14t21:59:43.10-05:00
  day: 2032-09-01
  set: !!set {a, b}
  omap: !!omap [b: 1, a: 2]
  base: &name alpha
  *name : aliased key
"""

NODE = """#cloud-config
runcmd:
  - [sh, -c, 'echo node']
x_values:
  big: 1
  node_only: true
"""

SCRIPT = "#!/bin/sh\necho hello from a script\n"


def part(data, subtype, merge_type=MERGE_TYPE, header="Merge-Type"):
    p = MIMENonMultipart("text", subtype, charset="utf-8")
    p.set_payload(data)
    encoders.encode_base64(p)
    if merge_type is not None:
        p[header] = merge_type
    return p


def mime(tool, users, merge_type=MERGE_TYPE, header="Merge-Type"):
    outer = MIMEMultipart()
    outer.attach(part(tool.encode(), "cloud-config", merge_type=None))
    for data in users:
        if data.startswith(b"#!"):
            outer.attach(part(data, "x-shellscript", merge_type=None))
        else:
            outer.attach(part(data, "cloud-config", merge_type, header))
    return outer.as_bytes()


def run(tmp, name, user_data, originals, want_ok, needles=()):
    ud = os.path.join(tmp, f"{name}.user-data")
    with open(ud, "wb") as f:
        f.write(user_data)
    paths = []
    for i, data in enumerate(originals):
        p = os.path.join(tmp, f"{name}.{i}.yaml")
        with open(p, "wb") as f:
            f.write(data)
        paths.append(p)
    r = subprocess.run(
        [sys.executable, SEED_CHECK, "--default-user", "pi", ud, *paths],
        capture_output=True,
        text=True,
    )
    out = r.stdout + r.stderr
    ok = (r.returncode == 0) == want_ok and r.returncode in (0, 1)
    ok = ok and all(n in out for n in needles)
    print(f"{'ok  ' if ok else 'FAIL'} {name}: exit {r.returncode}, want {'0' if want_ok else '1'}")
    if not ok:
        print("\n".join("     " + line for line in out.splitlines()))
    return ok


def main():
    user, node, script = USER.encode(), NODE.encode(), SCRIPT.encode()
    cases = [
        ("good", mime(TOOL, [user, node]), [user, node], True, ()),
        ("good-with-script", mime(TOOL, [user, script]), [user, script], True, ()),
        (
            "old-single-document",
            (TOOL + "write_files: []\n").encode(),
            [user],
            False,
            ("not a MIME multipart", "no part of the user-data holds it"),
        ),
        (
            "changed-bytes",
            mime(TOOL, [user.replace(b"echo user", b"echo usr")]),
            [user],
            False,
            ("not the file byte for byte", "runcmd[1][2]"),
        ),
        (
            "no-merge-type",
            mime(TOOL, [user], merge_type=None),
            [user],
            False,
            ("Merge-Type is None", "hostname"),
        ),
        (
            "merge-type-spelt-lowercase",
            mime(TOOL, [user], header="merge-type"),
            [user],
            False,
            ("Merge-Type is None",),
        ),
        (
            "files-out-of-order",
            mime(TOOL, [node, user]),
            [user, node],
            False,
            ("not the file byte for byte",),
        ),
        (
            "users-as-a-string",
            mime(TOOL, [b"#cloud-config\nusers: 'oldstyle,default'\n"]),
            [b"#cloud-config\nusers: 'oldstyle,default'\n"],
            False,
            ("users: oldstyle", "its users is a string"),
        ),
        (
            "users-as-a-mapping",
            mime(TOOL, [b"#cloud-config\nusers:\n  bob:\n    shell: /bin/sh\n"]),
            [b"#cloud-config\nusers:\n  bob:\n    shell: /bin/sh\n"],
            False,
            ("users: bob.shell", "adds only its names"),
        ),
        (
            "users-as-a-list-of-names",
            mime(TOOL, [b"#cloud-config\nusers: [default, alice, pi]\n"]),
            [b"#cloud-config\nusers: [default, alice, pi]\n"],
            True,
            (),
        ),
        (
            "merge-how-in-the-file",
            mime(TOOL, [b"#cloud-config\nmerge_how: 'dict(replace)+list(replace)'\nhostname: mine\n"]),
            [b"#cloud-config\nmerge_how: 'dict(replace)+list(replace)'\nhostname: mine\n"],
            False,
            ("sets merge_how", "hostname: str 'rpi1' expected"),
        ),
    ]
    with tempfile.TemporaryDirectory(prefix="seed-check-selftest.") as tmp:
        results = [run(tmp, *c) for c in cases]
    print(f"{sum(results)}/{len(results)} cases as expected")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
