//! Snappy Core 15.04's path rules: where a path the node sees is kept on the image. The
//! system partitions are read-only (replaced whole on update); everything a node owns is on
//! the `writable` partition, mounted at `/writable`: `/home` is its `user-data/`, and each
//! writable path of `/etc/system-image/writable-paths` is `system-data/<path>`.
//!
//! The build (what it writes) and `explain` (what it reads) both map paths through here.

/// The label of the partition that keeps the node's state.
pub const WRITABLE_LABEL: &str = "writable";
/// Where the node mounts `writable`.
pub const WRITABLE_MOUNT: &str = "/writable";
/// The directory of `writable` that holds the writable paths.
pub const SYSTEM_DATA: &str = "/system-data";
/// The directory of `writable` that is the node's `/home`.
pub const USER_DATA: &str = "/user-data";
const HOME: &str = "/home";

/// The NoCloud seed the node reads (an `auto` path, so on `writable`).
pub const SEED_DIR: &str = "/var/lib/cloud/seed/nocloud-net";
/// The host name file: `/etc/hostname` links to it (an `auto` path).
pub const HOSTNAME: &str = "/etc/writable/hostname";
/// The default user's passwd entry (extrausers, an `auto` path).
pub const EXTRAUSERS_PASSWD: &str = "/var/lib/extrausers/passwd";
/// systemd units: a transition path (enabling a unit writes here).
pub const UNIT_DIR: &str = "/etc/systemd/system";
/// ifupdown's per-interface files: a transition path.
pub const IFACES_DIR: &str = "/etc/network/interfaces.d";

/// The `auto` writable paths we use: always on `writable` (`system-data/<path>`).
pub const AUTO_PATHS: [&str; 6] = [
    "/var/lib/cloud",
    "/var/lib/apps",
    "/apps",
    "/var/lib/extrausers",
    "/etc/writable",
    "/var/lib/clem-image",
];

/// The `transition` writable paths we use: copied from the system partition to `writable`
/// at boot only while `writable` lacks them, so they are on `writable` only once copied.
pub const TRANSITION_PATHS: [&str; 3] = [UNIT_DIR, IFACES_DIR, "/etc/ssh"];

/// Where a node path is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// On `writable`, at this path of the partition.
    Writable(String),
    /// A transition path: on `writable` at `path` once `writable` has `copied` (the
    /// transition directory, already copied), else on the system partition as it is.
    Transition { path: String, copied: String },
    /// On the system partition, at the same path.
    System,
}

/// `path` or anything below it.
fn under(path: &str, dir: &str) -> bool {
    path.strip_prefix(dir)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// `system-data/<path>` on `writable`.
pub fn system_data(path: &str) -> String {
    format!("{SYSTEM_DATA}{path}")
}

/// Where the node's absolute `path` is kept.
pub fn place(path: &str) -> Place {
    let inside = |dir: &str| path.strip_prefix(dir)?.strip_prefix('/');
    if let Some(rest) = inside(WRITABLE_MOUNT) {
        return Place::Writable(format!("/{rest}"));
    }
    if let Some(rest) = inside(HOME) {
        return Place::Writable(format!("{USER_DATA}/{rest}"));
    }
    if AUTO_PATHS.iter().any(|d| under(path, d)) {
        return Place::Writable(system_data(path));
    }
    match TRANSITION_PATHS.iter().find(|d| under(path, d)) {
        Some(d) => Place::Transition {
            path: system_data(path),
            copied: system_data(d),
        },
        None => Place::System,
    }
}

/// The path on `writable` the build writes the node's `path` to. Anything not on
/// `writable` by [`place`] goes to `system-data/<path>`: the build copies a transition
/// directory there before writing into it.
pub fn written(path: &str) -> String {
    match place(path) {
        Place::Writable(p) | Place::Transition { path: p, .. } => p,
        Place::System => system_data(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writable_itself_and_home() {
        assert_eq!(
            place("/writable/clem-image/node.env"),
            Place::Writable("/clem-image/node.env".into())
        );
        assert_eq!(
            place("/home/ubuntu/.ssh"),
            Place::Writable("/user-data/ubuntu/.ssh".into())
        );
        // The mount point and /home themselves are not inside the partition's dirs.
        assert_eq!(place("/writable"), Place::System);
        assert_eq!(place("/home"), Place::System);
    }

    #[test]
    fn auto_paths_are_system_data() {
        assert_eq!(
            place(HOSTNAME),
            Place::Writable("/system-data/etc/writable/hostname".into())
        );
        assert_eq!(
            place(SEED_DIR),
            Place::Writable("/system-data/var/lib/cloud/seed/nocloud-net".into())
        );
        assert_eq!(place("/apps"), Place::Writable("/system-data/apps".into()));
        // A longer name is not below the directory.
        assert_eq!(place("/appsx/y"), Place::System);
    }

    #[test]
    fn transition_paths_name_their_directory() {
        assert_eq!(
            place("/etc/systemd/system/a.service"),
            Place::Transition {
                path: "/system-data/etc/systemd/system/a.service".into(),
                copied: "/system-data/etc/systemd/system".into(),
            }
        );
        assert_eq!(place("/etc/fstab"), Place::System);
    }

    #[test]
    fn written_maps_everything_onto_writable() {
        assert_eq!(written("/writable/clem-image"), "/clem-image");
        assert_eq!(
            written("/etc/systemd/system/x.service"),
            "/system-data/etc/systemd/system/x.service"
        );
        assert_eq!(written("/etc/other"), "/system-data/etc/other");
        assert_eq!(written("/home/ubuntu/.ssh"), "/user-data/ubuntu/.ssh");
    }
    /// The first-boot table (cluster::firstboot::layout) must keep Snappy's files on
    /// writable, the only partition the node can write.
    #[test]
    fn snappy_keeps_every_first_boot_file_on_writable() {
        let l = crate::flavour::layout(crate::probe::Flavour::SnappyCore15);
        for p in [
            l.conf_dir,
            l.script,
            l.lib,
            l.watch_script,
            l.state_dir,
            l.data_dir,
            l.debs_dir,
        ] {
            assert!(
                matches!(place(p), Place::Writable(_)),
                "{p} is not on writable"
            );
        }
    }
}
