//! Ubuntu Snappy 15.04 `.snap` files: name, version and architectures, read offline.
//!
//! What a 15.04 snap is, from snappy's own sources (github.com/ubuntu-core/snappy, now
//! canonical/snapd; `clickdeb/deb.go`, `snappy/build.go`, `snappy/snapp.go` at the
//! 2015-04-22 commit 7394c87 that 15.04 shipped, and `docs/meta.md` of that time):
//!
//! - `snappy build` writes a click package (click's `doc/file-format.rst`, format 0.4): an
//!   `ar` archive of `debian-binary` ("2.0\n"), `_click-binary` ("0.4\n"),
//!   `control.tar.gz` (a generated `control` and click `manifest`) and `data.tar.gz` (later
//!   snappy 1.x builds write `data.tar.xz`; the reader also takes `.bz2`, which we refuse).
//! - The metadata is `meta/package.yaml` in data.tar: `name`, `version` and `vendor` are
//!   mandatory; the architectures are `architectures:` (a list) or the older
//!   `architecture:` (a string or a list), and `["all"]` when neither is there.
//!   The file is named `<name>_<version>_<arch>.snap` (`multi` for several arches).
//! - Snaps became squashfs images (magic `hsqs`) in snappy 1.7 (November 2015, the
//!   15.10/16.04 series, `pkg/squashfs`); snappy 15.04 cannot install those.
//!
//! YAML is read with `saphyr-parser` events, keeping scalars as written: snappy decoded
//! these fields into Go strings, so `version: 1.10` is "1.10", not a number.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use saphyr_parser::{Event, Parser};
use thiserror::Error;

use super::ar::{open_regular, ArError, ArReader, Member};
use super::deb::check_debian_binary;
use super::member::{decompress, describe, walk_tar, Capped, Flow};

const PACKAGE_YAML: &str = "meta/package.yaml";
const YAML_CAP: u64 = 1 << 20;
const MAX_ENTRIES: usize = 200_000;
const DATA_TAR_CAP: u64 = 16 << 30;

#[derive(Debug, Error)]
pub enum SnapError {
    #[error("{file}: cannot open")]
    Open {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: not a regular file")]
    NotRegular { file: String },
    #[error("{file}: a squashfs snap (the format of Ubuntu 15.10 and later); Snappy 15.04 installs only click-package snaps")]
    Squashfs { file: String },
    #[error("{file}: not a snap (neither a 15.04 click package nor squashfs)")]
    NotSnap { file: String },
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
    #[error("{file}: {PACKAGE_YAML}: line {line}: {what}")]
    Yaml {
        file: String,
        line: usize,
        what: String,
    },
}

/// What `meta/package.yaml` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapInfo {
    pub name: String,
    pub version: String,
    /// As listed; `["all"]` when package.yaml names none.
    pub architectures: Vec<String>,
}

/// Reads a 15.04 snap. A squashfs snap is recognised and refused by name.
pub fn read_snap(path: &Path) -> Result<SnapInfo, SnapError> {
    let file = path.display().to_string();
    let ar_err = |e: ArError| ar_error(&file, e);
    let io_err = |e: std::io::Error| ar_error(&file, ArError::Io(e));
    let format = |what: String| SnapError::Format {
        file: file.clone(),
        what,
    };
    let (mut f, len) = open_regular(path).map_err(|e| match e {
        ArError::Io(source) => SnapError::Open {
            file: file.clone(),
            source,
        },
        e => ar_err(e),
    })?;
    let mut magic = Vec::with_capacity(4);
    (&mut f).take(4).read_to_end(&mut magic).map_err(io_err)?;
    if magic == b"hsqs" {
        return Err(SnapError::Squashfs { file });
    }
    f.seek(SeekFrom::Start(0)).map_err(io_err)?;
    let mut ar = ArReader::new(std::io::BufReader::new(f), len).map_err(ar_err)?;
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
    // _click-binary and control.tar.gz come before data.tar; package.yaml is in data.
    let data = loop {
        let Some(m) = ar.next_member().map_err(ar_err)? else {
            return Err(format("no data.tar member".into()));
        };
        if m.name.starts_with("data.tar") {
            break m;
        }
        if !m.name.starts_with('_') && !m.name.starts_with("control.tar") {
            return Err(format(format!("unexpected member {}", m.name)));
        }
    };
    let yaml = package_yaml(ar.open(&data).map_err(io_err)?, &data.name)
        .map_err(|what| member_error(&file, &data, what))?;
    parse_package_yaml(&yaml).map_err(|(line, what)| match line {
        0 => format(format!("{PACKAGE_YAML}: {what}")),
        line => SnapError::Yaml {
            file: file.clone(),
            line,
            what,
        },
    })
}

fn ar_error(file: &str, source: ArError) -> SnapError {
    let file = file.to_string();
    match source {
        ArError::NoMagic => SnapError::NotSnap { file },
        ArError::NotRegular => SnapError::NotRegular { file },
        source => SnapError::Ar { file, source },
    }
}

fn member_error(file: &str, m: &Member, what: String) -> SnapError {
    SnapError::Member {
        file: file.to_string(),
        member: m.name.clone(),
        what,
    }
}

/// The text of meta/package.yaml, found by streaming data.tar (stops when found).
fn package_yaml(r: impl Read, member: &str) -> Result<String, String> {
    let stream = Capped::new(decompress(member, r)?, DATA_TAR_CAP);
    let mut found = None;
    walk_tar(stream, MAX_ENTRIES, |path, entry| {
        if path != PACKAGE_YAML || !entry.header().entry_type().is_file() {
            return Ok(Flow::Continue);
        }
        let mut bytes = Vec::new();
        entry
            .take(YAML_CAP + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| describe(&e))?;
        if bytes.len() as u64 > YAML_CAP {
            return Err(format!(
                "{PACKAGE_YAML} is larger than {} KiB",
                YAML_CAP >> 10
            ));
        }
        found = Some(String::from_utf8(bytes).map_err(|_| format!("{PACKAGE_YAML} is not UTF-8"))?);
        Ok(Flow::Stop)
    })?;
    found.ok_or_else(|| format!("no {PACKAGE_YAML}"))
}

/// A top-level value we care about: a scalar, a list of scalars, or something else.
enum Node {
    Scalar(String),
    List(Vec<String>),
    Other,
}

type YamlResult<T> = Result<T, (usize, String)>;

/// name, version and architectures from package.yaml; errors as (line, message), line 0
/// when there is no one place.
fn parse_package_yaml(text: &str) -> YamlResult<SnapInfo> {
    let mut events = Events(Parser::new_from_str(text));
    loop {
        match events.next()?.0 {
            Event::StreamStart | Event::DocumentStart(_) | Event::Nothing => {}
            Event::MappingStart(..) => break,
            _ => return Err((0, "not a YAML mapping".into())),
        }
    }
    let (mut name, mut version, mut archs, mut old_archs) = (None, None, None, None);
    loop {
        let key = match events.next()? {
            (Event::MappingEnd, _) => break,
            (Event::Scalar(k, ..), line) => (k.into_owned(), line),
            (other, _) => {
                events.skip(other)?;
                let value = events.next()?.0;
                events.skip(value)?;
                continue;
            }
        };
        let node = events.node()?;
        let slot = match key.0.as_str() {
            "name" => &mut name,
            "version" => &mut version,
            "architectures" => &mut archs,
            "architecture" => &mut old_archs,
            _ => continue,
        };
        if slot.is_some() {
            return Err((key.1, format!("`{}` appears twice", key.0)));
        }
        *slot = Some((node, key.1));
    }
    let name = scalar("name", name, valid_name)?;
    let version = scalar("version", version, valid_version)?;
    let architectures = match archs.or(old_archs) {
        None => vec!["all".to_string()],
        Some((Node::Scalar(a), line)) => arch_list(vec![a], line)?,
        Some((Node::List(list), line)) => arch_list(list, line)?,
        Some((Node::Other, line)) => {
            return Err((
                line,
                "architectures: not a string or a list of strings".into(),
            ))
        }
    };
    Ok(SnapInfo {
        name,
        version,
        architectures,
    })
}

fn scalar(key: &str, node: Option<(Node, usize)>, valid: fn(&str) -> bool) -> YamlResult<String> {
    match node {
        None => Err((0, format!("no `{key}`"))),
        Some((Node::Scalar(s), line)) if !valid(&s) => {
            Err((line, format!("{key} `{s}` is not valid for a snap")))
        }
        Some((Node::Scalar(s), _)) => Ok(s),
        Some((_, line)) => Err((line, format!("{key} is not a string"))),
    }
}

/// Snappy's rules: names `[a-z0-9][a-z0-9+-]*`, versions `[a-zA-Z0-9.+~-]+`. They become
/// paths on the image (`/apps/<name>/<version>`), so they are checked, not trusted.
fn valid_name(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'+' || c == b'-')
}

fn valid_version(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b".+~-".contains(&c))
}

fn arch_list(list: Vec<String>, line: usize) -> YamlResult<Vec<String>> {
    let ok = |a: &&String| {
        !a.is_empty()
            && a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    };
    if let Some(bad) = list.iter().find(|a| !ok(a)) {
        return Err((line, format!("`{bad}` is not an architecture")));
    }
    if list.is_empty() {
        return Err((line, "an empty architecture list".into()));
    }
    Ok(list)
}

/// The parser's events with errors as (line, message).
struct Events<'a>(Parser<'a, saphyr_parser::StrInput<'a>>);

impl<'a> Events<'a> {
    fn next(&mut self) -> YamlResult<(Event<'a>, usize)> {
        match self.0.next() {
            Some(Ok((ev, span))) => Ok((ev, span.start.line())),
            Some(Err(e)) => Err((e.marker().line(), e.info().to_string())),
            None => Err((0, "unexpected end of YAML".into())),
        }
    }

    /// Consumes the rest of the node that `first` starts (nothing for a scalar), by depth
    /// rather than recursion: nesting in hostile YAML is only bounded by its size.
    fn skip(&mut self, first: Event<'a>) -> YamlResult<()> {
        let opens = |e: &Event| matches!(e, Event::SequenceStart(..) | Event::MappingStart(..));
        let mut depth = usize::from(opens(&first));
        while depth > 0 {
            let (ev, _) = self.next()?;
            if opens(&ev) {
                depth += 1;
            } else if matches!(ev, Event::SequenceEnd | Event::MappingEnd) {
                depth -= 1;
            }
        }
        Ok(())
    }

    /// The value after a key: scalars and lists of scalars are kept, the rest skipped.
    fn node(&mut self) -> YamlResult<Node> {
        match self.next()?.0 {
            Event::Scalar(s, ..) => Ok(Node::Scalar(s.into_owned())),
            Event::SequenceStart(..) => {
                let mut items = Some(Vec::new());
                loop {
                    match self.next()?.0 {
                        Event::SequenceEnd => return Ok(items.map_or(Node::Other, Node::List)),
                        Event::Scalar(s, ..) => {
                            if let Some(items) = items.as_mut() {
                                items.push(s.into_owned());
                            }
                        }
                        other => {
                            items = None;
                            self.skip(other)?;
                        }
                    }
                }
            }
            other => {
                self.skip(other)?;
                Ok(Node::Other)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ar::tests::build as build_ar;
    use super::*;
    use std::io::Write;
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    const DOCKER_YAML: &str = "\
name: docker
version: 1.6.1.002
vendor: Canonical Docker Team <snappy-devel@lists.ubuntu.com>
icon: meta/docker.png
architecture: armhf
services:
  - name: docker
    description: the docker daemon
    start: bin/docker.wrap -d
    security-template: unconfined
binaries:
  - name: bin/docker.wrap
    security-template: unconfined
";

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, path, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn xz(data: &[u8]) -> Vec<u8> {
        let mut e = xz2::write::XzEncoder::new(Vec::new(), 6);
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// A snap as snappy 15.04's `snappy build` wrote it.
    fn click_snap(yaml: Option<&str>, data_member: &str) -> Vec<u8> {
        let control = tar_of(&[
            (
                "./control",
                b"Package: docker\nVersion: 1.6.1.002\nArchitecture: armhf\n",
            ),
            ("./manifest", b"{\"name\": \"docker\"}\n"),
        ]);
        let mut data_entries: Vec<(&str, &[u8])> = vec![("./bin/docker", b"\x7fELF")];
        if let Some(y) = yaml {
            data_entries.push(("./meta/package.yaml", y.as_bytes()));
        }
        let data = tar_of(&data_entries);
        let data = if data_member.ends_with(".xz") {
            xz(&data)
        } else {
            gz(&data)
        };
        build_ar(&[
            ("debian-binary", b"2.0\n"),
            ("_click-binary", b"0.4\n"),
            ("control.tar.gz", &gz(&control)),
            (data_member, &data),
        ])
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn reads_a_15_04_snap() {
        let dir = tempfile::tempdir().unwrap();
        for member in ["data.tar.gz", "data.tar.xz"] {
            let p = write(
                dir.path(),
                "docker_1.6.1.002_armhf.snap",
                &click_snap(Some(DOCKER_YAML), member),
            );
            let info = read_snap(&p).unwrap_or_else(|e| panic!("{member}: {e}"));
            assert_eq!(
                info,
                SnapInfo {
                    name: "docker".into(),
                    version: "1.6.1.002".into(),
                    architectures: vec!["armhf".into()],
                }
            );
        }
    }

    #[test]
    fn package_yaml_forms() {
        let archs = |y: &str| parse_package_yaml(y).map(|i| i.architectures);
        assert_eq!(
            archs("name: a\nversion: 1\narchitectures: [amd64, armhf]\n").unwrap(),
            ["amd64", "armhf"]
        );
        assert_eq!(
            archs("name: a\nversion: 1\narchitecture:\n  - arm64\n  - 'armhf'\n").unwrap(),
            ["arm64", "armhf"]
        );
        assert_eq!(archs("name: a\nversion: 1\n").unwrap(), ["all"]);
        // The newer key wins over the deprecated one, as in snappy.
        assert_eq!(
            archs("name: a\nversion: 1\narchitecture: i386\narchitectures: [amd64]\n").unwrap(),
            ["amd64"]
        );
        // Scalars stay as written: snappy read them into Go strings.
        let v = parse_package_yaml("name: a\nversion: 1.10\n").unwrap();
        assert_eq!(v.version, "1.10");
        let v =
            parse_package_yaml("# c\n---\nname: \"hello-world\"\nversion: '1.0~rc1'\n").unwrap();
        assert_eq!(
            (v.name.as_str(), v.version.as_str()),
            ("hello-world", "1.0~rc1")
        );
        // Nested values of other keys are skipped, however deep.
        let v = parse_package_yaml("x: {a: [1, {b: [2, 3]}]}\n? [k]\n: v\nname: a\nversion: 2\n")
            .unwrap();
        assert_eq!(v.version, "2");
    }

    #[test]
    fn package_yaml_problems() {
        let err = |y: &str| parse_package_yaml(y).unwrap_err();
        assert_eq!(err("version: 1\n"), (0, "no `name`".into()));
        assert_eq!(err("name: a\n"), (0, "no `version`".into()));
        assert_eq!(
            err("name: ../../etc\nversion: 1\n"),
            (1, "name `../../etc` is not valid for a snap".into())
        );
        assert_eq!(
            err("name: a\nversion: 1 2\n"),
            (2, "version `1 2` is not valid for a snap".into())
        );
        assert_eq!(
            err("name: a\nname: b\nversion: 1\n"),
            (2, "`name` appears twice".into())
        );
        assert_eq!(err("name: [a]\nversion: 1\n").1, "name is not a string");
        assert_eq!(err("name: a\nversion: 1\narchitectures: [{x: 1}]\n").0, 3);
        assert_eq!(
            err("name: a\nversion: 1\narchitectures: []\n").1,
            "an empty architecture list"
        );
        assert_eq!(err("- a\n- b\n"), (0, "not a YAML mapping".into()));
        assert_eq!(err("").1, "not a YAML mapping");
        let (line, _) = err("name: a\nversion: [1\n");
        assert!(line >= 2, "a syntax error names its line: {line}");
    }

    #[test]
    fn squashfs_garbage_and_fifo() {
        let dir = tempfile::tempdir().unwrap();
        let sq = write(
            dir.path(),
            "docker_17.03.1_armhf.snap",
            b"hsqs\x00\x00\x00\x00 rest of a squashfs image",
        );
        let e = read_snap(&sq)
            .map_err(|e| crate::error::chain(&e))
            .unwrap_err();
        assert_eq!(
            e,
            format!(
                "{}: a squashfs snap (the format of Ubuntu 15.10 and later); Snappy 15.04 installs only click-package snaps",
                sq.display()
            )
        );
        let g = write(dir.path(), "g.snap", b"PK\x03\x04 not a snap");
        assert_eq!(
            read_snap(&g)
                .map_err(|e| crate::error::chain(&e))
                .unwrap_err(),
            format!(
                "{}: not a snap (neither a 15.04 click package nor squashfs)",
                g.display()
            )
        );
        let tiny = write(dir.path(), "t.snap", b"hs");
        assert!(matches!(read_snap(&tiny), Err(SnapError::NotSnap { .. })));

        let fifo = dir.path().join("pipe.snap");
        crate::sys::mkfifo(&fifo, 0o644).unwrap();
        let t = Instant::now();
        assert!(matches!(
            read_snap(&fifo),
            Err(SnapError::NotRegular { .. })
        ));
        assert!(t.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn truncated_and_incomplete_snaps() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = click_snap(Some(DOCKER_YAML), "data.tar.gz");
        let cut = write(dir.path(), "cut.snap", &bytes[..bytes.len() - 10]);
        let e = read_snap(&cut)
            .map_err(|e| crate::error::chain(&e))
            .unwrap_err();
        assert!(
            e.starts_with(&format!("{}: data.tar.gz: truncated", cut.display())),
            "{e}"
        );

        let none = write(dir.path(), "none.snap", &click_snap(None, "data.tar.gz"));
        let e = read_snap(&none)
            .map_err(|e| crate::error::chain(&e))
            .unwrap_err();
        assert_eq!(
            e,
            format!("{}: data.tar.gz: no meta/package.yaml", none.display())
        );

        let bad = write(
            dir.path(),
            "bad.snap",
            &click_snap(Some("name: docker\nversion: ../x\n"), "data.tar.gz"),
        );
        let e = read_snap(&bad)
            .map_err(|e| crate::error::chain(&e))
            .unwrap_err();
        assert_eq!(
            e,
            format!(
                "{}: meta/package.yaml: line 2: version `../x` is not valid for a snap",
                bad.display()
            )
        );

        let odd = build_ar(&[("debian-binary", b"2.0\n"), ("evil", b"x")]);
        let e = read_snap(&write(dir.path(), "odd.snap", &odd))
            .map_err(|e| crate::error::chain(&e))
            .unwrap_err();
        assert!(e.ends_with("odd.snap: unexpected member evil"), "{e}");
    }
}
