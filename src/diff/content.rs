//! The content of changed files: a unified diff of small text files that are not
//! secrets, read through each side's [`PartFs`].

use super::report::{Change, FileChange};
use super::{unified, DiffError, Side, TEXT_LIMIT};
use crate::fs::part::PartFs;
use crate::fs::{Entry, EntryKind};
use crate::probe::PartInfo;
use crate::secret::Sensitivity;

fn is_text_candidate(a: &Entry, b: &Entry) -> bool {
    // A name that was not UTF-8 is listed lossily and cannot be opened by that name.
    !a.path.contains(char::REPLACEMENT_CHARACTER)
        && a.kind == EntryKind::File
        && b.kind == EntryKind::File
        && a.sha256 != b.sha256
        && a.size < TEXT_LIMIT
        && b.size < TEXT_LIMIT
}

fn as_text(data: &[u8]) -> Option<&str> {
    if data.contains(&0) {
        return None;
    }
    std::str::from_utf8(data).ok()
}

/// Both sides' file systems of one partition, opened when a file's content is first
/// needed.
pub(super) struct Readers<'a> {
    sides: (Side<'a>, Side<'a>),
    infos: (&'a PartInfo, &'a PartInfo),
    number: u32,
    open: Option<(PartFs, PartFs)>,
}

impl<'a> Readers<'a> {
    pub(super) fn new(
        sides: (Side<'a>, Side<'a>),
        infos: (&'a PartInfo, &'a PartInfo),
        number: u32,
    ) -> Self {
        Readers {
            sides,
            infos,
            number,
            open: None,
        }
    }

    /// A changed file: its fields, and a unified diff of small text files that are not
    /// secrets ([`Sensitivity`]). A secret's content never leaves this function.
    pub(super) fn file_change(
        &mut self,
        path: &str,
        (ea, eb): (&Entry, &Entry),
        changes: Vec<Change>,
    ) -> Result<FileChange, DiffError> {
        let mut secret =
            Sensitivity::of_entry(ea).is_secret() || Sensitivity::of_entry(eb).is_secret();
        let mut diff = None;
        if !secret && is_text_candidate(ea, eb) {
            let (da, db) = self.read_both(path)?;
            secret = Sensitivity::of_content(&da).is_secret()
                || Sensitivity::of_content(&db).is_secret();
            if let (false, Some(ta), Some(tb)) = (secret, as_text(&da), as_text(&db)) {
                let name = |side: &str| format!("{side}/p{}{path}", self.number);
                let u = unified(ta, tb, &name("a"), &name("b"));
                diff = (!u.is_empty()).then_some(u);
            }
        }
        Ok(FileChange {
            path: path.to_string(),
            changes,
            secret,
            diff,
        })
    }

    /// `path`'s bytes on both sides.
    fn read_both(&mut self, path: &str) -> Result<(Vec<u8>, Vec<u8>), DiffError> {
        if self.open.is_none() {
            let (sa, sb) = self.sides;
            self.open = Some((
                PartFs::open(sa.raw.path(), sa.name, &self.infos.0.partition)?,
                PartFs::open(sb.raw.path(), sb.name, &self.infos.1.partition)?,
            ));
        }
        let (ra, rb) = self.open.as_ref().expect("just opened");
        Ok((ra.read(path)?, rb.read(path)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::parts::tests::entry;

    #[test]
    fn text_only_when_small_utf8_without_nul() {
        assert_eq!(as_text(b"hi\n"), Some("hi\n"));
        assert_eq!(as_text(b"a\0b"), None);
        assert_eq!(as_text(&[0xff, 0xfe]), None);
        let a = entry("/x", "a");
        let mut b = entry("/x", "b");
        assert!(is_text_candidate(&a, &b));
        b.size = TEXT_LIMIT;
        assert!(!is_text_candidate(&a, &b));
    }
}
