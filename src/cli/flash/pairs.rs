//! Which image goes to which target: `IMAGE DEVICE`, `--node NODE DEVICE`, several nodes
//! paired in order with several targets (`--node rpi1..rpi4 T1 T2 T3 T4`), or `NODE=TARGET`
//! pairs. The build output's `OUT/NODE.img` and its side-car bmap are found here.

use std::path::{Path, PathBuf};

use anyhow::bail;

use clem_image::node::{parse_nodes, NodeName};

/// One image for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The node whose image it is.
    pub node: NodeName,
    pub image: PathBuf,
    pub bmap: Option<PathBuf>,
    pub target: PathBuf,
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// One target: the form `flash` always had, with its output.
    One {
        /// The node named (`--node NODE` or one `NODE=DEVICE`), if any.
        node: Option<String>,
        image: PathBuf,
        device: PathBuf,
        bmap: Option<PathBuf>,
    },
    /// Several nodes' images, each to its own target.
    Many(Vec<Pair>),
}

/// The parts of the arguments that say what goes where.
pub struct Spec<'a> {
    pub paths: &'a [PathBuf],
    pub node: Option<&'a str>,
    pub out: &'a Path,
    pub bmap: Option<&'a Path>,
    pub no_bmap: bool,
}

impl Spec<'_> {
    pub fn resolve(&self) -> anyhow::Result<Request> {
        match (self.node, self.paths) {
            // A list or a range: several nodes, paired in order with the targets.
            (Some(spec), paths) if spec.contains(',') || spec.contains("..") => {
                let nodes = parse_nodes(&[spec])?;
                if nodes.len() != paths.len() {
                    bail!(
                        "--node {spec} names {} node(s) but {} target(s) are given: give one \
                         target per node, in the same order",
                        nodes.len(),
                        paths.len()
                    );
                }
                self.pairs(nodes.into_iter().zip(paths.iter().cloned()).collect())
            }
            (Some(node), [device]) => self.one_node(node, device),
            (Some(_), _) => bail!("with --node give only the DEVICE"),
            (None, paths) => match paths.iter().map(|p| as_pair(p)).collect::<Option<_>>() {
                Some(pairs) => self.pairs(pairs),
                None if paths.len() == 2 => Ok(Request::One {
                    node: None,
                    image: paths[0].clone(),
                    device: paths[1].clone(),
                    bmap: self.bmap.map(Path::to_owned),
                }),
                None => bail!(
                    "give IMAGE and DEVICE (or --node NODE DEVICE, --node rpi1..rpi4 and a \
                     DEVICE for each node, or NODE=DEVICE pairs)"
                ),
            },
        }
    }

    fn one_node(&self, node: &str, device: &Path) -> anyhow::Result<Request> {
        let (image, bmap) = self.node_image(node)?;
        Ok(Request::One {
            node: Some(node.to_owned()),
            image,
            device: device.to_owned(),
            bmap,
        })
    }

    /// OUT/NODE.img, and its bmap: --bmap, else the side-car unless --no-bmap.
    fn node_image(&self, node: &str) -> anyhow::Result<(PathBuf, Option<PathBuf>)> {
        if node.is_empty() || node.contains('/') || node.starts_with('.') {
            bail!("--node {node:?}: not a node name");
        }
        let image = self.out.join(format!("{node}.img"));
        if !image.exists() {
            bail!(
                "{}: no image for node {node} (run the build first, or check --out)",
                image.display()
            );
        }
        let side = self.out.join(format!("{node}.img.bmap"));
        let bmap = match self.bmap {
            Some(b) => Some(b.to_owned()),
            None if !self.no_bmap && side.exists() => Some(side),
            None => None,
        };
        Ok((image, bmap))
    }

    /// Several nodes, each with its target (one is the `--node NODE DEVICE` form).
    fn pairs(&self, pairs: Vec<(NodeName, PathBuf)>) -> anyhow::Result<Request> {
        if self.bmap.is_some() && pairs.len() > 1 {
            bail!("--bmap is one image's map: with several nodes each uses OUT/NODE.img.bmap");
        }
        let mut seen: Vec<&NodeName> = Vec::new();
        for (node, _) in &pairs {
            if seen.contains(&node) {
                bail!("node {node} is given more than once");
            }
            seen.push(node);
        }
        if let [(node, target)] = pairs.as_slice() {
            return self.one_node(node.as_str(), target);
        }
        let mut out = Vec::new();
        for (node, target) in pairs {
            let (image, bmap) = self.node_image(node.as_str())?;
            out.push(Pair {
                node,
                image,
                bmap,
                target,
            });
        }
        Ok(Request::Many(out))
    }
}

/// `rpi1=/dev/sdb` → (rpi1, /dev/sdb); anything else (a path with `=` in a file name is
/// written `./a=b`, whose left side is not a node name) is not a pair.
fn as_pair(p: &Path) -> Option<(NodeName, PathBuf)> {
    let (node, target) = p.to_str()?.split_once('=')?;
    if target.is_empty() {
        return None;
    }
    Some((NodeName::new(node).ok()?, PathBuf::from(target)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out_with(nodes: &[&str]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for n in nodes {
            std::fs::write(d.path().join(format!("{n}.img")), b"x").unwrap();
        }
        std::fs::write(d.path().join("rpi2.img.bmap"), b"").unwrap();
        d
    }

    fn resolve(out: &Path, node: Option<&str>, paths: &[&str]) -> anyhow::Result<Request> {
        let paths: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
        Spec {
            paths: &paths,
            node,
            out,
            bmap: None,
            no_bmap: false,
        }
        .resolve()
    }

    fn targets(r: &Request) -> Vec<(String, String, bool)> {
        let Request::Many(pairs) = r else {
            panic!("not several: {r:?}")
        };
        pairs
            .iter()
            .map(|p| {
                (
                    p.node.to_string(),
                    p.target.display().to_string(),
                    p.bmap.is_some(),
                )
            })
            .collect()
    }

    #[test]
    fn nodes_pair_with_targets_in_order_and_pairs_say_so_themselves() {
        let d = out_with(&["rpi1", "rpi2", "rpi3"]);
        let r = resolve(d.path(), Some("rpi1..rpi3"), &["/a", "/b", "/c"]).unwrap();
        let want = |s: &[(&str, &str, bool)]| -> Vec<(String, String, bool)> {
            s.iter()
                .map(|(a, b, c)| (a.to_string(), b.to_string(), *c))
                .collect()
        };
        assert_eq!(
            targets(&r),
            want(&[
                ("rpi1", "/a", false),
                ("rpi2", "/b", true),
                ("rpi3", "/c", false)
            ])
        );
        let r = resolve(d.path(), None, &["rpi3=/c", "rpi1=/a"]).unwrap();
        assert_eq!(
            targets(&r),
            want(&[("rpi3", "/c", false), ("rpi1", "/a", false)])
        );
    }

    #[test]
    fn the_one_target_forms_stay_what_they_were() {
        let d = out_with(&["rpi1"]);
        let one = |r: Request| match r {
            Request::One {
                image,
                device,
                node,
                ..
            } => {
                assert_eq!(node.is_some(), image.starts_with(d.path()));
                (image, device)
            }
            other => panic!("{other:?}"),
        };
        let (image, device) = one(resolve(d.path(), None, &["x.img", "/dev/sdb"]).unwrap());
        assert_eq!(
            (image.to_str(), device.to_str()),
            (Some("x.img"), Some("/dev/sdb"))
        );
        let (image, _) = one(resolve(d.path(), Some("rpi1"), &["/dev/sdb"]).unwrap());
        assert_eq!(image, d.path().join("rpi1.img"));
        // One pair is the --node form.
        let (image, _) = one(resolve(d.path(), None, &["rpi1=/dev/sdb"]).unwrap());
        assert_eq!(image, d.path().join("rpi1.img"));
        // A file name with '=' is written ./a=b: not a node.
        let (image, _) = one(resolve(d.path(), None, &["./a=b", "c"]).unwrap());
        assert_eq!(image.to_str(), Some("./a=b"));
    }

    #[test]
    fn mismatches_duplicates_and_missing_images_are_refused() {
        let d = out_with(&["rpi1", "rpi2"]);
        let err = |node, paths: &[&str]| resolve(d.path(), node, paths).unwrap_err().to_string();
        assert!(err(Some("rpi1..rpi2"), &["/a"]).contains("names 2 node(s) but 1 target(s)"));
        assert!(err(None, &["rpi1=/a", "rpi1=/b"]).contains("rpi1 is given more than once"));
        assert!(err(None, &["rpi1=/a", "rpi9=/b"]).contains("no image for node rpi9"));
        assert!(err(Some("rpi1"), &["/a", "/b"]).contains("give only the DEVICE"));
        assert!(err(None, &["/a", "/b", "/c"]).contains("NODE=DEVICE pairs"));
        let paths = [PathBuf::from("/a"), PathBuf::from("/b")];
        let with_bmap = Spec {
            paths: &paths,
            node: Some("rpi1,rpi2"),
            out: d.path(),
            bmap: Some(Path::new("x.bmap")),
            no_bmap: false,
        };
        assert!(with_bmap
            .resolve()
            .unwrap_err()
            .to_string()
            .contains("--bmap"));
    }
}
