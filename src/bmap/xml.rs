//! The part of a bmap file the parser needs, read with quick-xml: the root element's name
//! and `version`, the direct text of each child of the root, and the `<Range>` elements of
//! the first `<BlockMap>`. Everything else is checked for well-formedness and dropped, and
//! text borrows from the file where it can, so memory stays a small multiple of the file.

use std::borrow::Cow;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use super::{BmapError, XmlCause};

/// Deepest nesting accepted; a bmap is three levels deep.
const MAX_DEPTH: usize = 32;

/// Most elements accepted in one file: far more ranges than a real image has, few enough
/// that the kept ranges stay within a few hundred MiB.
const MAX_ELEMENTS: usize = 1 << 22;

/// The attributes of `<Range>` that any bmap format uses; others are checked, not kept.
const RANGE_ATTRS: [&str; 2] = ["chksum", "sha1"];

/// Text directly inside an element (not inside its children), and where it lies.
#[derive(Debug, Default)]
pub(super) struct Text<'a> {
    /// The pieces concatenated, references resolved; not trimmed.
    pub text: Cow<'a, str>,
    /// Byte span in the file from the first to past the last non-space byte of text.
    pub span: Option<(usize, usize)>,
}

impl<'a> Text<'a> {
    fn push(&mut self, piece: Cow<'a, str>, span: Option<(usize, usize)>) {
        if self.text.is_empty() {
            self.text = piece;
        } else {
            self.text.to_mut().push_str(&piece);
        }
        if let Some((s, e)) = span {
            self.span = Some(self.span.map_or((s, e), |(s0, _)| (s0, e)));
        }
    }
}

/// A child of the root element.
#[derive(Debug)]
pub(super) struct Field<'a> {
    pub name: String,
    pub body: Text<'a>,
}

/// A `<Range>` of the first `<BlockMap>`.
#[derive(Debug)]
pub(super) struct RangeEl<'a> {
    pub body: Text<'a>,
    attrs: Vec<(&'static str, String)>,
}

impl RangeEl<'_> {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
pub(super) struct Doc<'a> {
    pub root: String,
    pub version: Option<String>,
    pub fields: Vec<Field<'a>>,
    /// Whether the root has a `<BlockMap>`; `ranges` are those of the first.
    pub has_block_map: bool,
    pub ranges: Vec<RangeEl<'a>>,
}

impl<'a> Doc<'a> {
    /// The first child of the root named `name`.
    pub fn field(&self, name: &str) -> Option<&Text<'a>> {
        self.fields.iter().find(|f| f.name == name).map(|f| &f.body)
    }
}

/// Where the text of an open element goes.
#[derive(Clone, Copy)]
enum Slot {
    Root,
    Field(usize),
    BlockMap,
    Range(usize),
    Other,
}

/// Reads `src` into a [`Doc`], refusing what is not well-formed or not one document.
pub(super) fn read(src: &str) -> Result<Doc<'_>, BmapError> {
    let mut reader = Reader::from_str(src);
    let mut b = Builder {
        src,
        doc: None,
        stack: Vec::new(),
        closed: false,
        elements: 0,
    };
    loop {
        let at = reader.buffer_position() as usize;
        let event = reader.read_event().map_err(|source| BmapError::Xml {
            line: line(src, reader.error_position() as usize),
            source: XmlCause(source),
        })?;
        let end = reader.buffer_position() as usize;
        match event {
            Event::Start(e) => b.open(&e, at, false)?,
            Event::Empty(e) => b.open(&e, at, true)?,
            Event::End(_) => b.close(),
            Event::Text(t) => b.text(t.into_inner(), at)?,
            // `<![CDATA[` is 9 bytes; the content follows it.
            Event::CData(c) => b.text(c.into_inner(), at + 9)?,
            Event::GeneralRef(r) => b.reference(&r, at, end)?,
            // Entity declarations are never expanded, so a document that has them is refused.
            Event::DocType(d) if d.contains('[') => {
                return Err(b.invalid(at, "a DOCTYPE with declarations is not supported"));
            }
            Event::Eof => return b.finish(),
            Event::DocType(_) | Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
    }
}

/// The line (from 1) of byte `pos` of `src`.
fn line(src: &str, pos: usize) -> usize {
    let pos = pos.min(src.len());
    src.as_bytes()[..pos]
        .iter()
        .filter(|&&c| c == b'\n')
        .count()
        + 1
}

struct Builder<'a> {
    src: &'a str,
    doc: Option<Doc<'a>>,
    /// Open elements, innermost last, with their names for the error of one left open.
    stack: Vec<(Slot, String)>,
    /// The root element has been closed.
    closed: bool,
    elements: usize,
}

impl<'a> Builder<'a> {
    fn invalid(&self, at: usize, what: &str) -> BmapError {
        BmapError::Invalid(format!("line {}: {what}", line(self.src, at)))
    }

    fn xml_err(&self, at: usize, source: impl Into<quick_xml::Error>) -> BmapError {
        BmapError::Xml {
            line: line(self.src, at),
            source: XmlCause(source.into()),
        }
    }

    fn open(&mut self, e: &BytesStart, at: usize, empty: bool) -> Result<(), BmapError> {
        self.elements += 1;
        if self.elements > MAX_ELEMENTS {
            return Err(self.invalid(at, &format!("more than {MAX_ELEMENTS} elements")));
        }
        if self.closed {
            return Err(self.invalid(at, "content after the root element"));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.invalid(at, &format!("elements nested deeper than {MAX_DEPTH}")));
        }
        let name = e.name().as_ref().to_owned();
        if name.is_empty() {
            return Err(self.invalid(at, "empty tag name"));
        }
        let attrs = self.attributes(e, at)?;
        let keep = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let slot = match (self.stack.last().map(|s| s.0), self.doc.as_mut()) {
            (None, _) => {
                self.doc = Some(Doc {
                    version: keep("version"),
                    root: name.clone(),
                    fields: Vec::new(),
                    has_block_map: false,
                    ranges: Vec::new(),
                });
                Slot::Root
            }
            (Some(Slot::Root), Some(doc)) if name == "BlockMap" && !doc.has_block_map => {
                doc.has_block_map = true;
                Slot::BlockMap
            }
            (Some(Slot::Root), Some(doc)) => {
                doc.fields.push(Field {
                    name: name.clone(),
                    body: Text::default(),
                });
                Slot::Field(doc.fields.len() - 1)
            }
            (Some(Slot::BlockMap), Some(doc)) if name == "Range" => {
                let attrs = RANGE_ATTRS
                    .iter()
                    .filter_map(|&k| keep(k).map(|v| (k, v)))
                    .collect();
                doc.ranges.push(RangeEl {
                    body: Text::default(),
                    attrs,
                });
                Slot::Range(doc.ranges.len() - 1)
            }
            _ => Slot::Other,
        };
        if empty {
            self.close_slot(slot);
        } else {
            self.stack.push((slot, name));
        }
        Ok(())
    }

    /// Every attribute, checked and with references resolved (first of a name kept).
    fn attributes(&self, e: &BytesStart, at: usize) -> Result<Vec<(String, String)>, BmapError> {
        let mut out = Vec::new();
        for a in e.attributes() {
            let a = a.map_err(|err| self.xml_err(at, err))?;
            let value = a
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|err| self.xml_err(at, err))?;
            let key = a.key.as_ref().to_owned();
            out.push((key, value.into_owned()));
        }
        Ok(out)
    }

    fn close(&mut self) {
        if let Some((slot, _)) = self.stack.pop() {
            self.close_slot(slot);
        }
    }

    fn close_slot(&mut self, slot: Slot) {
        if matches!(slot, Slot::Root) {
            self.closed = true;
        }
    }

    /// A piece of text, as it is in the file from byte `at` on.
    fn text(&mut self, piece: Cow<'a, str>, at: usize) -> Result<(), BmapError> {
        let trimmed = piece.trim();
        let span = (!trimmed.is_empty()).then(|| {
            let lead = piece.len() - piece.trim_start().len();
            (at + lead, at + lead + trimmed.len())
        });
        self.push(piece, span, at)
    }

    fn reference(&mut self, r: &BytesRef, at: usize, end: usize) -> Result<(), BmapError> {
        let c = r.resolve_char_ref().map_err(|err| self.xml_err(at, err))?;
        let piece = match c {
            Some(c) => c.to_string(),
            None => {
                let name: &str = r;
                resolve_predefined_entity(name)
                    .ok_or_else(|| self.invalid(at, &format!("unknown entity '&{name};'")))?
                    .to_string()
            }
        };
        self.push(Cow::Owned(piece), Some((at, end)), at)
    }

    fn push(
        &mut self,
        piece: Cow<'a, str>,
        span: Option<(usize, usize)>,
        at: usize,
    ) -> Result<(), BmapError> {
        let Some((slot, _)) = self.stack.last() else {
            if span.is_some() {
                return Err(self.invalid(at, "text outside the root element"));
            }
            return Ok(());
        };
        let Some(doc) = self.doc.as_mut() else {
            return Ok(());
        };
        match *slot {
            Slot::Field(i) => doc.fields[i].body.push(piece, span),
            Slot::Range(i) => doc.ranges[i].body.push(piece, span),
            Slot::Root | Slot::BlockMap | Slot::Other => {}
        }
        Ok(())
    }

    fn finish(self) -> Result<Doc<'a>, BmapError> {
        if let Some((_, name)) = self.stack.last() {
            return Err(BmapError::Invalid(format!("<{name}> is not closed")));
        }
        self.doc
            .ok_or_else(|| BmapError::Invalid("no root element".into()))
    }
}
