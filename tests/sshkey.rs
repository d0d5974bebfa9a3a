//! RFC 4716 public keys: made by `ssh-keygen -e`, given to `build --ssh-key`, and read back
//! off the image with debugfs; the node's key must be the original `.pub`'s type and blob.

mod common;

use common::*;

/// `ssh-keygen -e -f PUB` (RFC 4716) written to `dst`.
fn export_rfc4716(public: &std::path::Path, dst: &std::path::Path) {
    let (ok, text) = tool("ssh-keygen", &["-e", "-f", public.to_str().unwrap()]);
    assert!(
        ok && text.starts_with("---- BEGIN SSH2 PUBLIC KEY ----"),
        "{text}"
    );
    std::fs::write(dst, text).unwrap();
}

/// The Comment header's value, without its quotes, as read by a shell tool (sed).
fn good_comment(rfc: &std::path::Path) -> String {
    let (ok, text) = tool(
        "sed",
        &[
            "-n",
            "s/^Comment: \"\\(.*\\)\"$/\\1/p",
            rfc.to_str().unwrap(),
        ],
    );
    assert!(ok && !text.trim().is_empty(), "{text}");
    text.trim().to_string()
}

#[test]
fn an_rfc4716_key_lands_as_the_openssh_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, public) = keygen(tmp.path(), "key");
    let rfc = tmp.path().join("key.rfc");
    export_rfc4716(&public, &rfc);
    let out = tmp.path().join("out");
    build_nodes_with(tmp.path(), &rfc, &out, "rpi1", &[]);
    let img = out.join("rpi1.img");
    let p4 = tmp.path().join("p4");
    extract(&img, &sfdisk_parts(&img)[3], &p4);
    let text = debugfs(&p4, "cat /user-data/ubuntu/.ssh/authorized_keys");
    let original = std::fs::read_to_string(&public).unwrap();
    let want: Vec<&str> = original.split_whitespace().take(2).collect();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    let got: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(got[..2], want[..], "{text}");
    // The comment is the block's Comment header, as `ssh-keygen -i` gives it.
    let (ok, imported) = tool("ssh-keygen", &["-i", "-f", rfc.to_str().unwrap()]);
    assert!(ok, "{imported}");
    let comment = good_comment(&rfc);
    assert_eq!(got[2..].join(" "), comment, "{text}");
    assert_eq!(
        imported.split_whitespace().take(2).collect::<Vec<_>>(),
        want,
        "ssh-keygen -i disagrees"
    );
    // ssh-keygen itself accepts what landed on the card.
    let landed = tmp.path().join("landed.pub");
    std::fs::write(&landed, &text).unwrap();
    let (ok, fp) = tool("ssh-keygen", &["-l", "-f", landed.to_str().unwrap()]);
    let (_, fp_orig) = tool("ssh-keygen", &["-l", "-f", public.to_str().unwrap()]);
    assert!(ok, "{fp}");
    assert_eq!(
        fp.split_whitespace().nth(1),
        fp_orig.split_whitespace().nth(1)
    );
}

#[test]
fn a_malformed_rfc4716_block_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, public) = keygen(tmp.path(), "key");
    let rfc = tmp.path().join("key.rfc");
    export_rfc4716(&public, &rfc);
    let good = std::fs::read_to_string(&rfc).unwrap();
    let cases = [
        // A body line that is not base64 (line 3: BEGIN, Comment, body).
        (good.replacen("AAAA", "AA!A", 1), 3, "not base64"),
        // No END line: reported at BEGIN.
        (
            good.replace("---- END SSH2 PUBLIC KEY ----\n", ""),
            1,
            "END",
        ),
    ];
    for (i, (text, line, why)) in cases.iter().enumerate() {
        let bad = tmp.path().join(format!("bad{i}.rfc"));
        std::fs::write(&bad, text).unwrap();
        let o = clem(
            &[
                "build",
                "--node",
                "rpi1",
                "--ssh-key",
                bad.to_str().unwrap(),
                "--out",
                tmp.path().join("out").to_str().unwrap(),
            ],
            tmp.path(),
        );
        assert!(!o.status.success());
        let err = stderr(&o);
        let at = format!("{}:{line}:", bad.display());
        assert!(err.contains(&at) && err.contains(why), "{at} {why}: {err}");
        assert!(!err.contains("panicked"));
        assert!(!tmp.path().join("out/rpi1.img").exists());
    }
}
