//! `clem-image cat IMAGE PARTITION:PATH`: bytes judged against debugfs (ext4) and mtools
//! (FAT) on the extracted partitions, from raw and compressed images; clear errors for a
//! missing partition or file, a directory, a symlink; secrets only with `--secret`. And
//! `inspect`'s text: headed columns, full digests (sha256sum's), lower-case fs names.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn cat(args: &[&str], home: &Path) -> (Option<i32>, Vec<u8>, String) {
    let mut all = vec!["cat"];
    all.extend_from_slice(args);
    let o = clem(&all, home);
    (o.status.code(), o.stdout.clone(), stderr(&o))
}

fn build_node(dir: &Path) -> PathBuf {
    build_nodes(dir, "rpi1", &[]).join("rpi1.img")
}

/// `path` dumped with debugfs from partition `index` (0-based) of `img`.
fn debugfs_bytes(img: &Path, index: usize, path: &str) -> Vec<u8> {
    let part = img.with_extension(format!("p{index}"));
    extract(img, &sfdisk_parts(img)[index], &part);
    let dst = img.with_extension("dumped");
    let _ = std::fs::remove_file(&dst);
    debugfs(&part, &format!("dump {path} {}", dst.display()));
    let data = std::fs::read(&dst).unwrap_or_else(|e| panic!("debugfs dump {path}: {e}"));
    std::fs::remove_file(&dst).unwrap();
    std::fs::remove_file(&part).unwrap();
    data
}

/// `path` copied with mcopy from the FAT partition `index` of `img`.
fn mcopy_bytes(img: &Path, index: usize, path: &str) -> Vec<u8> {
    let fat = format!("{}@@{}", img.display(), sfdisk_parts(img)[index].start);
    let dst = img.with_extension("mcopied");
    let (ok, text) = tool(
        "mcopy",
        &[
            "-n",
            "-i",
            &fat,
            &format!("::{path}"),
            dst.to_str().unwrap(),
        ],
    );
    assert!(ok, "mcopy {path}: {text}");
    let data = std::fs::read(&dst).unwrap();
    std::fs::remove_file(&dst).unwrap();
    data
}

#[test]
fn files_match_debugfs_and_mtools_raw_and_compressed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let img = build_node(dir);
    let i = img.to_str().unwrap();
    let host = "/system-data/etc/writable/hostname";
    let seed = "/system-data/var/lib/cloud/seed/nocloud-net/user-data";
    for (spec, want) in [
        (format!("4:{host}"), debugfs_bytes(&img, 3, host)),
        (format!("writable:{seed}"), debugfs_bytes(&img, 3, seed)),
        ("1:/cmdline.txt".into(), mcopy_bytes(&img, 0, "cmdline.txt")),
        (
            "system-boot:/a/hardware.yaml".into(),
            mcopy_bytes(&img, 0, "a/hardware.yaml"),
        ),
        // A binary file, bigger than a read buffer.
        (
            "system-boot:/a/vmlinuz".into(),
            mcopy_bytes(&img, 0, "a/vmlinuz"),
        ),
    ] {
        assert!(!want.is_empty(), "{spec}: the tools read nothing");
        let (code, got, err) = cat(&[i, &spec], dir);
        assert_eq!(code, Some(0), "{spec}: {err}");
        assert!(got == want, "{spec}: cat's bytes differ from the tool's");
    }
    assert_eq!(
        String::from_utf8(cat(&[i, &format!("4:{host}")], dir).1).unwrap(),
        "rpi1\n"
    );

    // The compressed sample and its decompression by xz: the same bytes.
    let raw = dir.join("sample.img");
    unxz(&fixture(SAMPLE_MBR), &raw);
    let xz = fixture(SAMPLE_MBR);
    let want = debugfs_bytes(&raw, 1, "/etc/os-release");
    for image in [raw.to_str().unwrap(), xz.to_str().unwrap()] {
        let (code, got, err) = cat(&[image, "system-a:/etc/os-release"], dir);
        assert_eq!(code, Some(0), "{image}: {err}");
        assert!(got == want, "{image}: os-release differs from debugfs's");
    }
}

#[test]
fn clear_errors_and_secrets_need_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let img = build_node(dir);
    let i = img.to_str().unwrap();
    // The symlink's target, as debugfs sees it.
    let link = "/system-data/apps/docker/current";
    let part = dir.join("p4");
    extract(&img, &sfdisk_parts(&img)[3], &part);
    let stat = debugfs(&part, &format!("stat {link}"));
    let target = stat
        .lines()
        .find_map(|l| l.trim().strip_prefix("Fast link dest: "))
        .unwrap_or_else(|| panic!("not a symlink to debugfs: {stat}"))
        .trim_matches('"')
        .to_string();
    let cases: [(&str, &[&str]); 7] = [
        ("9:/x", &["rpi1.img", "no partition 9", "4 (writable)"]),
        ("nolabel:/x", &["no partition nolabel"]),
        (
            "4:/nothing/here",
            &["partition 4", "/nothing/here", "no such file"],
        ),
        ("1:/nothing.txt", &["partition 1", "no such file"]),
        ("4:/clem-image", &["/clem-image", "is a directory"]),
        (
            "writable:/system-data/apps/docker/current",
            &["is a symlink to"],
        ),
        ("writable", &["PARTITION:PATH"]),
    ];
    for (spec, needles) in cases {
        let (code, out, err) = cat(&[i, spec], dir);
        assert_eq!(code, Some(1), "{spec}: {err}");
        assert!(out.is_empty(), "{spec}: printed something");
        for n in needles {
            assert!(err.contains(n), "{spec}: stderr lacks {n:?}: {err}");
        }
        assert!(!err.contains("panicked"));
    }
    let (_, _, err) = cat(&[i, &format!("4:{link}")], dir);
    assert!(err.contains(&format!("symlink to {target}")), "{err}");
    let (code, _, err) = cat(&[dir.join("missing.img").to_str().unwrap(), "1:/x"], dir);
    assert_eq!(code, Some(1));
    assert!(err.contains("missing.img"), "{err}");

    // A secret (0600 root, a private key): refused, and printed only with --secret.
    for key in ["/clem-image/tls/server-key.pem", "/clem-image/node.env"] {
        let spec = format!("4:{key}");
        let (code, out, err) = cat(&[i, &spec], dir);
        assert_eq!(code, Some(1), "{key}: {err}");
        assert!(out.is_empty());
        assert!(err.contains("secret") && err.contains("--secret"), "{err}");
        assert!(!err.contains("PRIVATE KEY"), "{err}");
        let (code, out, err) = cat(&[i, &spec, "--secret"], dir);
        assert_eq!(code, Some(0), "{err}");
        assert!(
            out == debugfs_bytes(&img, 3, key),
            "{key}: differs from debugfs's"
        );
    }
}

#[test]
fn inspect_text_has_headings_full_digests_and_fs_names() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let raw = dir.join("sample.img");
    unxz(&fixture(SAMPLE_MBR), &raw);
    let o = clem(&["inspect", raw.to_str().unwrap()], dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains(" fs vfat label system-boot\n"), "{text}");
    assert!(text.contains(" fs ext4 label writable\n"), "{text}");
    assert!(!text.contains("Vfat") && !text.contains("Ext4"), "{text}");
    let headings = text
        .lines()
        .filter(|l| {
            l.split_whitespace().collect::<Vec<_>>()
                == ["MODE", "UID:GID", "SIZE", "SHA-256", "PATH"]
        })
        .count();
    assert_eq!(headings, 4, "one heading per partition: {text}");
    // The full digest of a file, as sha256sum computes it on debugfs's copy.
    let path = "/etc/os-release";
    let part = dir.join("p2");
    extract(&raw, &sfdisk_parts(&raw)[1], &part);
    let dumped = dir.join("os-release");
    debugfs(&part, &format!("dump {path} {}", dumped.display()));
    let sha = sha256_file(&dumped);
    let line = text
        .lines()
        .find(|l| l.ends_with(&format!(" {path}")))
        .unwrap_or_else(|| panic!("{path} not listed: {text}"));
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols[0], "0644", "{line}");
    assert_eq!(
        cols[2],
        std::fs::metadata(&dumped).unwrap().len().to_string()
    );
    assert_eq!(cols[3], sha, "{line}");
}
