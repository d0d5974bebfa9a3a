//! Reading a `.deb` without unpacking it: its control fields and which programs it ships.
//!
//! A deb (deb(5)) is an `ar` archive: `debian-binary` ("2.0\n"), optional members whose
//! names start with `_`, `control.tar[.gz|.xz|.zst]`, then `data.tar[.gz|.xz|.zst|.lzma]`
//! (`.bz2` is refused: dpkg-deb has not written it for a decade and it would need another
//! crate). Everything is streamed — ar member → decompressor → tar — and bounded: the
//! control file is read up to [`CONTROL_CAP`], at most [`MAX_DATA_ENTRIES`] data entries
//! are looked at, each decompressed stream is capped, and nothing is buffered whole. The
//! tar walker is shared with the 15.04 snap reader, whose files are click debs.

use std::io::{self, BufReader, Read};
use std::path::Path;

use thiserror::Error;

use super::ar::{open_regular, ArError, ArReader, Member};
use super::control::{self, ControlError};
use super::member::{decompress, describe, walk_tar, Capped, Flow};

/// The largest `control` file read (real ones are a few KiB).
pub const CONTROL_CAP: u64 = 1 << 20;
/// The most data.tar entries looked at; a deb with more is refused, not half-read.
pub const MAX_DATA_ENTRIES: usize = 200_000;
const MAX_CONTROL_ENTRIES: usize = 10_000;
/// Decompressed sizes beyond which a member is refused (a bomb, not a package).
const CONTROL_TAR_CAP: u64 = 256 << 20;
const DATA_TAR_CAP: u64 = 16 << 30;
/// Where programs live; `DebInfo::files` keeps only these (the full list can be huge).
const BIN_DIRS: [&str; 4] = ["usr/bin/", "usr/sbin/", "bin/", "sbin/"];

#[derive(Debug, Error)]
pub enum DebError {
    #[error("{file}: cannot open")]
    Open { file: String, source: io::Error },
    #[error("{file}: not a regular file")]
    NotRegular { file: String },
    #[error("{file}: not a Debian package (no ar magic)")]
    NotDeb { file: String },
    #[error("{file}")]
    Ar { file: String, source: ArError },
    #[error("{file}: {member}: {what}")]
    Member {
        file: String,
        member: String,
        what: String,
    },
    #[error("{file}: {what}")]
    Format { file: String, what: String },
    #[error("{file}: control")]
    Control { file: String, source: ControlError },
}

/// What a deb says about itself, and the programs it installs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebInfo {
    pub package: String,
    pub version: String,
    pub architecture: String,
    /// The raw `Depends:` field; empty when there is none.
    pub depends: String,
    pub pre_depends: String,
    /// Names from `Provides:` (versions dropped).
    pub provides: Vec<String>,
    /// Regular files, hard links and symlinks under `usr/bin/`, `usr/sbin/`, `bin/` and
    /// `sbin/`, as paths without a leading `./`, in archive order.
    pub files: Vec<String>,
}

/// Reads the deb at `path`. Refuses anything that is not a regular file before reading
/// a byte (a FIFO does not block).
pub fn read_deb(path: &Path) -> Result<DebInfo, DebError> {
    let file = path.display().to_string();
    let ar_err = |e: ArError| ar_error(&file, e);
    let io_err = |e: io::Error| ar_error(&file, ArError::Io(e));
    let format = |what: String| DebError::Format {
        file: file.clone(),
        what,
    };
    let (f, len) = open_regular(path).map_err(|e| match e {
        ArError::Io(source) => DebError::Open {
            file: file.clone(),
            source,
        },
        e => ar_err(e),
    })?;
    let mut ar = ArReader::new(BufReader::new(f), len).map_err(ar_err)?;

    let first = ar.next_member().map_err(ar_err)?;
    let first = first.ok_or_else(|| format("empty ar archive".into()))?;
    if first.name != "debian-binary" {
        return Err(format(format!(
            "first member is {}, not debian-binary",
            first.name
        )));
    }
    check_debian_binary(ar.open(&first).map_err(io_err)?)
        .map_err(|what| member_error(&file, &first, what))?;

    let control_m =
        next_payload(&mut ar, "control.tar").map_err(|e| e.map_or_else(ar_err, format))?;
    let text = read_control(ar.open(&control_m).map_err(io_err)?, &control_m.name)
        .map_err(|what| member_error(&file, &control_m, what))?;
    let mut info = parse_control(&text).map_err(|e| match e {
        Ok(what) => format(what),
        Err(source) => DebError::Control {
            file: file.clone(),
            source,
        },
    })?;

    let data_m = next_payload(&mut ar, "data.tar").map_err(|e| e.map_or_else(ar_err, format))?;
    info.files = program_files(ar.open(&data_m).map_err(io_err)?, &data_m.name)
        .map_err(|what| member_error(&file, &data_m, what))?;
    Ok(info)
}

fn ar_error(file: &str, source: ArError) -> DebError {
    let file = file.to_string();
    match source {
        ArError::NoMagic => DebError::NotDeb { file },
        ArError::NotRegular => DebError::NotRegular { file },
        source => DebError::Ar { file, source },
    }
}

fn member_error(file: &str, m: &Member, what: String) -> DebError {
    DebError::Member {
        file: file.to_string(),
        member: m.name.clone(),
        what,
    }
}

/// Format 2.x; dpkg reads any minor version.
pub(crate) fn check_debian_binary(r: impl Read) -> Result<(), String> {
    let mut text = Vec::new();
    r.take(64)
        .read_to_end(&mut text)
        .map_err(|e| describe(&e))?;
    let text = String::from_utf8_lossy(&text);
    if !text.starts_with("2.") || !text.ends_with('\n') {
        return Err(format!("format `{}`, not 2.x", text.trim()));
    }
    Ok(())
}

/// The next member, skipping `_`-prefixed ones; it must be `prefix` plus a compression
/// suffix. `Ok(message)` is a format problem, `Err` one of the archive.
fn next_payload<R: Read + io::Seek>(
    ar: &mut ArReader<R>,
    prefix: &str,
) -> Result<Member, Result<String, ArError>> {
    loop {
        match ar.next_member().map_err(Err)? {
            None => return Err(Ok(format!("no {prefix} member"))),
            Some(m) if m.name.starts_with('_') => continue,
            Some(m) if m.name.starts_with(prefix) => return Ok(m),
            Some(m) => {
                return Err(Ok(format!(
                    "unexpected member {} (wanted {prefix})",
                    m.name
                )))
            }
        }
    }
}

fn read_control(r: impl Read, member: &str) -> Result<String, String> {
    let stream = Capped::new(decompress(member, r)?, CONTROL_TAR_CAP);
    let mut control = None;
    walk_tar(stream, MAX_CONTROL_ENTRIES, |path, entry| {
        if path == "control" && entry.header().entry_type().is_file() {
            let mut bytes = Vec::new();
            entry
                .take(CONTROL_CAP + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| describe(&e))?;
            if bytes.len() as u64 > CONTROL_CAP {
                return Err(format!("control is larger than {} KiB", CONTROL_CAP >> 10));
            }
            let text = String::from_utf8(bytes).map_err(|_| "control is not UTF-8")?;
            control = Some(text);
        }
        Ok(Flow::Continue)
    })?;
    control.ok_or_else(|| "no control file".to_string())
}

/// The fields a [`DebInfo`] needs. `Ok(message)` is a missing or bad field.
fn parse_control(text: &str) -> Result<DebInfo, Result<String, ControlError>> {
    let stanzas = control::parse(text).map_err(Err)?;
    let [stanza] = &stanzas[..] else {
        return Err(Ok(format!(
            "control has {} stanzas, not one",
            stanzas.len()
        )));
    };
    let field = |name: &str| {
        stanza
            .get(name)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .ok_or_else(|| Ok(format!("no {name} field in control")))
    };
    let package = field("Package")?;
    let one_word = |name: &str, v: &str| {
        if v.contains(char::is_whitespace) {
            Err(Ok(format!("{name} field `{v}` is not one word")))
        } else {
            Ok(())
        }
    };
    one_word("Package", &package)?;
    let version = field("Version")?;
    one_word("Version", &version)?;
    let architecture = field("Architecture")?;
    one_word("Architecture", &architecture)?;
    let relation = |name: &str| stanza.get(name).unwrap_or("").to_string();
    let (depends, pre_depends) = (relation("Depends"), relation("Pre-Depends"));
    // Checked here so a bundle check can rely on them parsing.
    control::parse_depends(&depends).map_err(Err)?;
    control::parse_depends(&pre_depends).map_err(Err)?;
    let provides = control::parse_depends(&relation("Provides"))
        .map_err(Err)?
        .into_iter()
        .flatten()
        .map(|d| d.name)
        .collect();
    Ok(DebInfo {
        package,
        version,
        architecture,
        depends,
        pre_depends,
        provides,
        files: Vec::new(),
    })
}

fn program_files(r: impl Read, member: &str) -> Result<Vec<String>, String> {
    let stream = Capped::new(decompress(member, r)?, DATA_TAR_CAP);
    let mut files = Vec::new();
    walk_tar(stream, MAX_DATA_ENTRIES, |path, entry| {
        let kind = entry.header().entry_type();
        let wanted = kind.is_file() || kind.is_symlink() || kind.is_hard_link();
        if wanted
            && BIN_DIRS
                .iter()
                .any(|d| path.len() > d.len() && path.starts_with(d))
        {
            files.push(path.to_string());
        }
        Ok(Flow::Continue)
    })?;
    Ok(files)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::ar::tests::build as build_ar;
    use super::super::member::normalise;
    use super::*;
    use std::io::Cursor;
    use std::path::PathBuf;
    use std::process::Command;
    use std::time::{Duration, Instant};

    /// A package for dpkg-deb to build.
    pub(crate) struct Pkg<'a> {
        pub name: &'a str,
        pub version: &'a str,
        pub arch: &'a str,
        /// Extra control lines (`Depends: …\n`).
        pub control: &'a str,
        /// Regular files: path under the root, contents.
        pub files: &'a [&'a str],
        /// Symlinks: path, target.
        pub links: &'a [(&'a str, &'a str)],
    }

    /// Builds `pkg` with the real dpkg-deb, `-Z<compression>`, into `dir/<file_name>`.
    pub(crate) fn build_deb(dir: &Path, file_name: &str, pkg: &Pkg, compression: &str) -> PathBuf {
        let root = tempfile::tempdir().unwrap();
        let debian = root.path().join("DEBIAN");
        std::fs::create_dir_all(&debian).unwrap();
        let control = format!(
            "Package: {}\nVersion: {}\nArchitecture: {}\nMaintainer: Test <t@example.org>\n\
             Description: test package\n{}",
            pkg.name, pkg.version, pkg.arch, pkg.control
        );
        std::fs::write(debian.join("control"), control).unwrap();
        for f in pkg.files {
            let p = root.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, format!("contents of {f}\n")).unwrap();
        }
        for (link, target) in pkg.links {
            let p = root.path().join(link);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(target, &p).unwrap();
        }
        let out = dir.join(file_name);
        let status = Command::new("dpkg-deb")
            .arg("--root-owner-group")
            .arg(format!("-Z{compression}"))
            .arg("--build")
            .arg(root.path())
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("dpkg-deb runs");
        assert!(status.success(), "dpkg-deb -Z{compression} failed");
        out
    }

    pub(crate) fn docker_pkg() -> Pkg<'static> {
        Pkg {
            name: "docker.io",
            version: "26.1.5+dfsg1-9",
            arch: "armhf",
            control: "Depends: containerd (>= 1.7), iptables | nftables, libc6 (>= 2.34)\n\
                      Pre-Depends: init-system-helpers (>= 1.54~)\n\
                      Provides: docker, docker-engine (= 26.1.5)\n",
            files: &[
                "usr/bin/docker",
                "usr/sbin/dockerd",
                "usr/share/doc/docker.io/README",
                "etc/docker/daemon.json",
            ],
            links: &[("usr/bin/dockerd", "../sbin/dockerd")],
        }
    }

    fn members_of(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut ar = ArReader::new(Cursor::new(bytes), bytes.len() as u64).unwrap();
        let mut out = Vec::new();
        while let Some(m) = ar.next_member().unwrap() {
            let mut data = Vec::new();
            ar.open(&m).unwrap().read_to_end(&mut data).unwrap();
            out.push((m.name, data));
        }
        out
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn reads_debs_of_every_compression() {
        let dir = tempfile::tempdir().unwrap();
        for (comp, data_member) in [
            ("xz", "data.tar.xz"),
            ("gzip", "data.tar.gz"),
            ("none", "data.tar"),
            ("zstd", "data.tar.zst"),
        ] {
            let path = build_deb(dir.path(), &format!("{comp}.deb"), &docker_pkg(), comp);
            let names: Vec<_> = members_of(&std::fs::read(&path).unwrap())
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            assert_eq!(names[2], data_member, "dpkg-deb -Z{comp} wrote {names:?}");
            let info = read_deb(&path).unwrap_or_else(|e| panic!("-Z{comp}: {e}"));
            assert_eq!(info.package, "docker.io");
            assert_eq!(info.version, "26.1.5+dfsg1-9");
            assert_eq!(info.architecture, "armhf");
            assert_eq!(
                info.depends,
                "containerd (>= 1.7), iptables | nftables, libc6 (>= 2.34)"
            );
            assert_eq!(info.pre_depends, "init-system-helpers (>= 1.54~)");
            assert_eq!(info.provides, ["docker", "docker-engine"]);
            let mut files = info.files.clone();
            files.sort();
            assert_eq!(
                files,
                ["usr/bin/docker", "usr/bin/dockerd", "usr/sbin/dockerd"],
                "-Z{comp}"
            );
        }
    }

    #[test]
    fn long_program_names_and_no_relations() {
        let dir = tempfile::tempdir().unwrap();
        let long = format!("usr/bin/{}", "x".repeat(150));
        let files = [
            long.as_str(),
            "bin/sh-helper",
            "sbin/init-helper",
            "usr/lib/bin/not-this",
        ];
        let pkg = Pkg {
            name: "tools",
            version: "1:2.0~rc1-1",
            arch: "all",
            control: "",
            files: &files,
            links: &[],
        };
        let info = read_deb(&build_deb(dir.path(), "t.deb", &pkg, "xz")).unwrap();
        let mut got = info.files.clone();
        got.sort();
        assert_eq!(got, ["bin/sh-helper", "sbin/init-helper", long.as_str()]);
        assert_eq!((info.depends.as_str(), info.pre_depends.as_str()), ("", ""));
        assert!(info.provides.is_empty());
        assert_eq!(info.version, "1:2.0~rc1-1");
    }

    #[test]
    fn truncated_deb_names_file_and_member() {
        let dir = tempfile::tempdir().unwrap();
        let path = build_deb(dir.path(), "rpi.deb", &docker_pkg(), "xz");
        let bytes = std::fs::read(&path).unwrap();
        for keep in [bytes.len() - 1, bytes.len() * 2 / 3, 200, 70] {
            let cut = write(dir.path(), "cut.deb", &bytes[..keep]);
            let e = read_deb(&cut)
                .map_err(|e| crate::error::chain(&e))
                .unwrap_err();
            assert!(e.starts_with(&format!("{}: ", cut.display())), "{e}");
            assert!(e.contains("truncated"), "keep {keep}: {e}");
        }
        let magic_only = write(dir.path(), "cut.deb", &bytes[..8]);
        let e = read_deb(&magic_only)
            .map_err(|e| crate::error::chain(&e))
            .unwrap_err();
        assert_eq!(e, format!("{}: empty ar archive", magic_only.display()));
    }

    /// The ar member is whole but the compressed stream in it was cut: each decoder's way
    /// of saying so comes out as "truncated", with the member named.
    #[test]
    fn truncated_compressed_streams() {
        let dir = tempfile::tempdir().unwrap();
        for (comp, member) in [
            ("xz", "control.tar.xz"),
            ("gzip", "control.tar.gz"),
            ("zstd", "control.tar.zst"),
        ] {
            let path = build_deb(dir.path(), "a.deb", &docker_pkg(), comp);
            let m = members_of(&std::fs::read(&path).unwrap());
            assert_eq!(m[1].0, member);
            let half = &m[1].1[..m[1].1.len() / 2];
            let bytes = build_ar(&[
                ("debian-binary", &m[0].1),
                (member, half),
                (&m[2].0, &m[2].1),
            ]);
            let e = read_deb(&write(dir.path(), "rpi.deb", &bytes))
                .map_err(|e| crate::error::chain(&e))
                .unwrap_err();
            let want = format!(
                "{}: {member}: truncated",
                dir.path().join("rpi.deb").display()
            );
            assert_eq!(e, want, "-Z{comp}");
        }
    }

    #[test]
    fn corrupt_data_stream_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        // Both formats carry a checksum of the content, so any flipped byte is caught.
        for (comp, member) in [("gzip", "data.tar.gz"), ("xz", "data.tar.xz")] {
            let path = build_deb(dir.path(), "a.deb", &docker_pkg(), comp);
            let m = members_of(&std::fs::read(&path).unwrap());
            let mut data = m[2].1.clone();
            let mid = data.len() / 2;
            data[mid] ^= 0xff;
            data[mid + 1] ^= 0xff;
            let bytes = build_ar(&[
                ("debian-binary", &m[0].1),
                (&m[1].0, &m[1].1),
                (member, &data),
            ]);
            let e = read_deb(&write(dir.path(), "b.deb", &bytes))
                .map_err(|e| crate::error::chain(&e))
                .unwrap_err();
            assert!(e.contains(&format!("b.deb: {member}: ")), "{e}");
        }
    }

    #[test]
    fn garbage_and_lying_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let g = write(dir.path(), "rpi.deb", b"this is not a package at all\n");
        let e = read_deb(&g)
            .map_err(|e| crate::error::chain(&e))
            .unwrap_err();
        assert_eq!(
            e,
            format!("{}: not a Debian package (no ar magic)", g.display())
        );
        let empty = write(dir.path(), "empty.deb", b"");
        assert!(matches!(read_deb(&empty), Err(DebError::NotDeb { .. })));

        let path = build_deb(dir.path(), "a.deb", &docker_pkg(), "xz");
        let m = members_of(&std::fs::read(&path).unwrap());
        let mut bytes = build_ar(&[
            ("debian-binary", &m[0].1),
            (&m[1].0, &m[1].1),
            (&m[2].0, &m[2].1),
        ]);
        // The data member's size field, in the third header.
        let at = 8 + 60 + m[0].1.len().div_ceil(2) * 2 + 60 + m[1].1.len().div_ceil(2) * 2 + 48;
        assert_eq!(&bytes[at - 48..at - 48 + 11], b"data.tar.xz");
        bytes[at..at + 10].copy_from_slice(b"4000000000");
        let t = Instant::now();
        let e = read_deb(&write(dir.path(), "lies.deb", &bytes))
            .map_err(|e| crate::error::chain(&e))
            .unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(
            e.contains("lies.deb: data.tar.xz: truncated (the member says 4000000000 bytes"),
            "{e}"
        );
    }

    #[test]
    fn fifo_and_directory_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe.deb");
        crate::sys::mkfifo(&fifo, 0o644).unwrap();
        let t = Instant::now();
        let e = read_deb(&fifo).unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(2), "blocked on a FIFO");
        assert_eq!(
            crate::error::chain(&e),
            format!("{}: not a regular file", fifo.display())
        );
        assert!(matches!(
            read_deb(dir.path()),
            Err(DebError::NotRegular { .. })
        ));
        let missing = read_deb(&dir.path().join("nope.deb"))
            .map_err(|e| crate::error::chain(&e))
            .unwrap_err();
        assert!(missing.contains("nope.deb: cannot open: "), "{missing}");
    }

    fn control_tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, path, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn hand_deb(dir: &Path, control: &[u8]) -> Result<DebInfo, DebError> {
        let c = control_tar(&[("./control", control)]);
        let d = control_tar(&[("./usr/bin/docker", b"x")]);
        let bytes = build_ar(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar", &c),
            ("data.tar", &d),
        ]);
        read_deb(&write(dir, "hand.deb", &bytes))
    }

    #[test]
    fn control_problems_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let ok = hand_deb(dir.path(), b"Package: a\nVersion: 1\nArchitecture: all\n").unwrap();
        assert_eq!(ok.files, ["usr/bin/docker"]);
        let e = hand_deb(dir.path(), b"Version: 1\nArchitecture: all\n").unwrap_err();
        assert_eq!(
            crate::error::chain(&e),
            format!(
                "{}: no Package field in control",
                dir.path().join("hand.deb").display()
            )
        );
        let e = hand_deb(dir.path(), b"Package: a\nArchitecture: all\n").unwrap_err();
        assert!(
            crate::error::chain(&e).ends_with("hand.deb: no Version field in control"),
            "{e}"
        );
        let e = hand_deb(
            dir.path(),
            b"Package: a\nVersion: 1\nArchitecture: all\nDepends: Foo!\n",
        )
        .unwrap_err();
        assert!(
            crate::error::chain(&e).contains("hand.deb: control: bad relationship field"),
            "{e}"
        );
        let e = hand_deb(dir.path(), b"Package: a\n bad\nVersion 1\n").unwrap_err();
        assert!(
            crate::error::chain(&e).contains("hand.deb: control: line 3:"),
            "{e}"
        );
        let big = format!(
            "Package: a\nVersion: 1\nArchitecture: all\nDescription: {}\n",
            "x".repeat(2 << 20)
        );
        let e = hand_deb(dir.path(), big.as_bytes()).unwrap_err();
        assert!(
            crate::error::chain(&e)
                .ends_with("hand.deb: control.tar: control is larger than 1024 KiB"),
            "{e}"
        );
        let e = hand_deb(
            dir.path(),
            b"Package: a\nVersion: 1\nArchitecture: all\n\nPackage: b\n",
        )
        .unwrap_err();
        assert!(
            crate::error::chain(&e).ends_with("control has 2 stanzas, not one"),
            "{e}"
        );
    }

    #[test]
    fn member_order_and_format_version() {
        let dir = tempfile::tempdir().unwrap();
        let c = control_tar(&[("./control", b"Package: a\nVersion: 1\nArchitecture: all\n")]);
        let d = control_tar(&[]);
        type Members<'a> = &'a [(&'a str, &'a [u8])];
        let cases: [(Members, &str); 5] = [
            (
                &[("control.tar", &c), ("data.tar", &d)],
                "first member is control.tar, not debian-binary",
            ),
            (
                &[("debian-binary", b"3.0\n"), ("control.tar", &c)],
                "debian-binary: format `3.0`, not 2.x",
            ),
            (
                &[("debian-binary", b"2.0\n"), ("data.tar", &d)],
                "unexpected member data.tar (wanted control.tar)",
            ),
            (
                &[("debian-binary", b"2.0\n"), ("control.tar", &c)],
                "no data.tar member",
            ),
            (
                &[("debian-binary", b"2.0\n"), ("control.tar.bz2", &c)],
                "control.tar.bz2: bzip2 compression is not supported",
            ),
        ];
        for (members, want) in cases {
            let e = read_deb(&write(dir.path(), "m.deb", &build_ar(members))).unwrap_err();
            assert!(crate::error::chain(&e).ends_with(want), "{e} / {want}");
        }
        // `_`-members are skipped, as dpkg does.
        let bytes = build_ar(&[
            ("debian-binary", b"2.0\n"),
            ("_sig", b"x"),
            ("control.tar", &c),
            ("data.tar", &d),
        ]);
        assert_eq!(
            read_deb(&write(dir.path(), "m.deb", &bytes))
                .unwrap()
                .package,
            "a"
        );
    }

    #[test]
    fn tar_walker_bounds() {
        let many = control_tar(&[("a", b"1"), ("b", b"2"), ("c", b"3"), ("d", b"4")]);
        let e = walk_tar(&many[..], 3, |_, _| Ok(Flow::Continue)).unwrap_err();
        assert_eq!(e, "more than 3 tar entries");
        let mut seen = Vec::new();
        walk_tar(&many[..], 4, |p, _| {
            seen.push(p.to_string());
            Ok(if p == "b" { Flow::Stop } else { Flow::Continue })
        })
        .unwrap();
        assert_eq!(seen, ["a", "b"]);

        // A GNU long name too long to be a path is refused, not read into memory.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::GNULongName);
        h.set_size(5000);
        h.set_path("././@LongLink").unwrap();
        h.set_cksum();
        b.append(&h, &vec![b'a'; 5000][..]).unwrap();
        let long = b.into_inner().unwrap();
        let e = walk_tar(&long[..], 10, |_, _| Ok(Flow::Continue)).unwrap_err();
        assert_eq!(e, "a long file name longer than 4096 bytes");

        // Junk after the end blocks.
        let mut trailing = control_tar(&[("a", b"1")]);
        trailing.extend(std::iter::repeat_n(7u8, (2 << 20) as usize));
        let e = walk_tar(&trailing[..], 10, |_, _| Ok(Flow::Continue)).unwrap_err();
        assert_eq!(e, "data after the end of the tar archive");
    }

    #[test]
    fn capped_stream_refuses_more() {
        let mut out = Vec::new();
        let e = Capped::new(&[0u8; 100][..], 99)
            .read_to_end(&mut out)
            .unwrap_err();
        assert!(
            crate::error::chain(&e).starts_with("unpacks to more than"),
            "{e}"
        );
        let mut out = Vec::new();
        Capped::new(&[0u8; 100][..], 100)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out.len(), 100);
    }

    #[test]
    fn paths_are_normalised() {
        assert_eq!(normalise("./usr/bin/docker"), "usr/bin/docker");
        assert_eq!(normalise("/./usr/sbin/"), "usr/sbin");
        assert_eq!(normalise("./"), "");
        assert_eq!(normalise("."), "");
        assert_eq!(normalise("bin/x"), "bin/x");
    }
}
