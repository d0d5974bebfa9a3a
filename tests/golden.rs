//! Golden manifest: `inspect --json` of a built rpi1 against `fixtures/expected/rpi1.json`.
//! Regenerate deliberately with `CLEM_IMAGE_BLESS=1 cargo test --test golden`.

mod common;

use common::*;
use std::path::Path;

#[test]
fn rpi1_inspect_matches_the_golden_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let key = fixture("keys/test_ed25519.pub");
    // TLS material is an input: use the committed test cluster (copied: builds may add to it).
    let cluster = tmp.path().join("cluster");
    let (ok, text) = tool(
        "cp",
        &[
            "-a",
            fixture("cluster").to_str().unwrap(),
            cluster.to_str().unwrap(),
        ],
    );
    assert!(ok, "{text}");
    // Git keeps no modes: the committed keys check out 0644, and open keys are refused.
    let (ok, text) = tool("chmod", &["-R", "go-rwx", cluster.to_str().unwrap()]);
    assert!(ok, "{text}");
    let o = clem(
        &[
            "build",
            "--node",
            "rpi1",
            "--ssh-key",
            key.to_str().unwrap(),
            "--cluster-dir",
            cluster.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = clem(
        &["inspect", "--json", out.join("rpi1.img").to_str().unwrap()],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let actual = stdout(&o);
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/expected/rpi1.json");
    if std::env::var_os("CLEM_IMAGE_BLESS").is_some() {
        std::fs::write(&golden, &actual).unwrap();
        eprintln!("blessed {}", golden.display());
        return;
    }
    let expected = std::fs::read_to_string(&golden).unwrap_or_else(|_| {
        panic!(
            "{} missing: run with CLEM_IMAGE_BLESS=1 to create it",
            golden.display()
        )
    });
    if actual != expected {
        let got = tmp.path().join("rpi1.actual.json");
        std::fs::write(&got, &actual).unwrap();
        let (_, diff) = tool(
            "diff",
            &["-u", golden.to_str().unwrap(), got.to_str().unwrap()],
        );
        panic!("inspect --json of rpi1 differs from the golden manifest (CLEM_IMAGE_BLESS=1 to accept):\n{diff}");
    }
}
