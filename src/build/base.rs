//! Where a build's base comes from: a checked cache entry (nothing decompressed, nothing
//! of the input read when the file is unchanged), or the input decompressed once, into a
//! new cache entry or, without a cache, the output directory.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use indicatif::HumanBytes;
use tempfile::NamedTempFile;

use super::{io_err, BuildError, BuildOptions};
use crate::bmap::Bmap;
use crate::cache::{hash_file, Cache, CachedBase, Checked, ContentKey, InputId, NewEntry, KEEP};
use crate::io::checkpoint::{CheckpointHasher, Checkpoints};
use crate::outdir::OutDir;
use crate::progress::StreamBar;
use crate::source::{unpack_into, Compression, Source, SourceError};

/// What [`locate`] found: a cached base, or the input to decompress.
pub(super) enum Located {
    Hit(CachedBase),
    Miss {
        source: Source,
        pending: Option<Pending>,
    },
}

/// A base to put in the cache once the build has mapped it.
pub(super) struct Pending {
    cache: Cache,
    key: ContentKey,
    id: InputId,
}

/// The base a build copies its nodes from.
pub(super) struct Base {
    store: Store,
    pub checkpoints: Option<Checkpoints>,
}

enum Store {
    Out(NamedTempFile),
    Fresh { entry: NewEntry, pending: Pending },
    Cached(CachedBase),
}

/// Looks for the input's base in the cache: first by the file's fingerprint (reading
/// nothing), then by the SHA-256 of its content (reading, not decompressing, it). Raw
/// images, inputs that are not regular files, and builds without a cache go uncached.
pub(super) fn locate(
    opts: &BuildOptions,
    log: &mut dyn FnMut(String),
) -> Result<Located, BuildError> {
    let uncached = || -> Result<Located, BuildError> {
        let source = Source::open(&opts.image)?;
        Ok(Located::Miss {
            source,
            pending: None,
        })
    };
    let Some(dir) = &opts.cache else {
        return uncached();
    };
    let id = match std::fs::metadata(&opts.image) {
        Ok(md) if md.is_file() => InputId::of(&md),
        _ => return uncached(),
    };
    let cache = match Cache::open(dir, KEEP) {
        Ok(cache) => cache,
        Err(e) => {
            let why = crate::error::chain(&e);
            log(format!("warning: {why}; building without the cache"));
            return uncached();
        }
    };
    if let Some(key) = cache.find_by_input(&id) {
        if let Some(hit) = cache.load(&key, &id, log) {
            log(hit_note(&opts.image, &hit, 0));
            cache.prune(&key, log);
            return Ok(Located::Hit(hit));
        }
    }
    let source = Source::open(&opts.image)?;
    if source.compression() == Compression::None {
        return Ok(Located::Miss {
            source,
            pending: None,
        });
    }
    let (key, read) = hash_file(&opts.image).map_err(|e| SourceError::Open {
        path: opts.image.clone(),
        source: e,
    })?;
    if let Some(hit) = cache.load(&key, &id, log) {
        log(hit_note(&opts.image, &hit, read));
        cache.prune(&key, log);
        return Ok(Located::Hit(hit));
    }
    let pending = Some(Pending { cache, key, id });
    Ok(Located::Miss { source, pending })
}

/// Says where the base came from and how much of the input that read (the count the
/// tests check: nothing, for an unchanged file).
fn hit_note(image: &Path, hit: &CachedBase, read: u64) -> String {
    let how = match hit.checked {
        Checked::Sealed => "unchanged since it was sealed, not read again",
        Checked::Hashed => "its seal did not hold: every range checked, then sealed again",
    };
    format!(
        "reused the decompressed {}: {} bytes ({}) from the cache {} ({how}); read {read} \
         bytes of the input",
        image.display(),
        hit.len,
        HumanBytes(hit.len),
        hit.dir.display()
    )
}

/// Makes the base: the cached one as it is, else the input decompressed into a new cache
/// entry (or, when there is none or it cannot be made, a temporary in `out`). With
/// `hash`, also the hash checkpoints of the whole base.
pub(super) fn materialize(
    located: Located,
    out: &OutDir,
    hash: bool,
    log: &mut dyn FnMut(String),
) -> Result<Base, BuildError> {
    let (mut source, pending) = match located {
        Located::Hit(hit) => {
            let checkpoints = if hash {
                Some(checkpoints_of(&hit.file, &hit.path)?)
            } else {
                None
            };
            let store = Store::Cached(hit);
            return Ok(Base { store, checkpoints });
        }
        Located::Miss { source, pending } => (source, pending),
    };
    let fresh = pending.and_then(|p| match p.cache.new_entry() {
        Ok(entry) => Some((entry, p)),
        Err(e) => {
            let why = crate::error::chain(&e);
            log(format!("warning: {why}; building without the cache"));
            None
        }
    });
    let store = match fresh {
        Some((entry, pending)) => Store::Fresh { entry, pending },
        None => Store::Out(out.temp_file("base")?),
    };
    let (file, path) = store.file_and_path();
    let (checkpoints, len) = decompress(&mut source, file, path, hash)?;
    log(decoded_note(&source, len));
    Ok(Base { store, checkpoints })
}

impl Store {
    fn file_and_path(&self) -> (&File, &Path) {
        match self {
            Store::Out(tmp) => (tmp.as_file(), tmp.path()),
            Store::Fresh { entry, .. } => (entry.base_file(), entry.base_path()),
            Store::Cached(hit) => (&hit.file, &hit.path),
        }
    }
}

impl Base {
    pub fn file(&self) -> &File {
        self.store.file_and_path().0
    }

    pub fn path(&self) -> &Path {
        self.store.file_and_path().1
    }

    /// The base's block map when the cache had it (else the build makes it).
    pub fn map(&self) -> Option<&Bmap> {
        match &self.store {
            Store::Cached(hit) => Some(&hit.map),
            _ => None,
        }
    }

    /// After a successful build: a freshly decompressed base goes into the cache with its
    /// map, unless the input changed while it was read. Failing to cache fails nothing.
    pub fn keep(self, map: Option<&Bmap>, image: &Path, log: &mut dyn FnMut(String)) {
        let (Store::Fresh { entry, pending }, Some(map)) = (self.store, map) else {
            return;
        };
        let now = std::fs::metadata(image).map(|md| InputId::of(&md));
        if now.as_ref().ok() != Some(&pending.id) {
            log(format!(
                "note: {} changed while it was read; its base is not cached",
                image.display()
            ));
            return;
        }
        let Pending { cache, key, id } = pending;
        match cache.publish(entry, &key, &id, image, map, log) {
            Ok((dir, _)) => log(format!("cache: the base is kept in {}", dir.display())),
            Err(e) => log(format!(
                "warning: {}; the base is not cached",
                crate::error::chain(&e)
            )),
        }
    }
}

/// The hash checkpoints of a cached base, read back from it (holes read as zeros): what
/// `--sha256` needs, which decompression would otherwise have fed.
fn checkpoints_of(file: &File, path: &Path) -> Result<Checkpoints, BuildError> {
    let len = file.metadata().map_err(io_err(path))?.len();
    let hasher = CheckpointHasher::start();
    let mut pos = 0u64;
    while pos < len {
        let mut chunk = vec![0u8; (len - pos).min(1 << 20) as usize];
        file.read_exact_at(&mut chunk, pos).map_err(io_err(path))?;
        pos += chunk.len() as u64;
        hasher.feed(chunk);
    }
    Ok(hasher.finish())
}

/// Decompresses into `dst` (sparse). With `hash`, a second thread hashes the stream,
/// keeping checkpoints from which each node's whole-image hash resumes. Progress counts
/// decoded bytes against the size the format records, if it does. Returns the checkpoints
/// and the image's size.
fn decompress(
    source: &mut Source,
    dst: &File,
    dst_path: &Path,
    hash: bool,
) -> Result<(Option<Checkpoints>, u64), BuildError> {
    let raw = source.compression() == Compression::None;
    let bar = StreamBar::new(
        source.expected_len(),
        if raw { "copying" } else { "decompressing" },
    );
    let hasher = hash.then(CheckpointHasher::start);
    let result = unpack_into(source, dst, dst_path, |chunk, pos| {
        if let Some(h) = &hasher {
            h.feed(chunk.to_vec());
        }
        bar.set(pos)
    });
    match &result {
        Ok(len) => bar.finish(*len, if raw { "copied" } else { "decompressed" }),
        Err(_) => bar.abandon(),
    }
    let checkpoints = hasher.map(CheckpointHasher::finish);
    let len = result?;
    Ok((checkpoints, len))
}

/// The line saying what came out of the input: "decompressed" only when something was.
fn decoded_note(source: &Source, len: u64) -> String {
    let size = format!("{len} bytes ({})", HumanBytes(len));
    match source.compression() {
        Compression::None => format!("copied {}: {size}, a raw image", source.path().display()),
        c => format!(
            "decompressed {}: {size} from {} of {}",
            source.path().display(),
            HumanBytes(source.input_len()),
            c.name()
        ),
    }
}
