//! What cloud-init makes of a user-data (or a plain part) by its first characters: it
//! lower-cases the text, strips leading white space and takes the longest known prefix
//! (`handlers.type_from_starts_with`). So `#Cloud-Config`, a leading blank line and
//! `#cloud-config  # mine` are all cloud-config; a byte-order mark is not white space.

/// The kinds of user-data cloud-init tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    CloudConfig,
    CloudConfigArchive,
    JsonPatch,
    Script,
    Include,
    IncludeOnce,
    Boothook,
    PartHandler,
    Jinja,
    /// No known prefix: cloud-init logs it and does nothing with it.
    Plain,
}

/// Longest first, as cloud-init searches them.
const PREFIXES: [(&str, Kind); 9] = [
    ("## template: jinja", Kind::Jinja),
    ("#cloud-config-archive", Kind::CloudConfigArchive),
    ("#cloud-config-jsonp", Kind::JsonPatch),
    ("#cloud-boothook", Kind::Boothook),
    ("#include-once", Kind::IncludeOnce),
    ("#cloud-config", Kind::CloudConfig),
    ("#part-handler", Kind::PartHandler),
    ("#include", Kind::Include),
    ("#!", Kind::Script),
];

/// The kind cloud-init gives `text` by its prefix.
pub fn classify(text: &str) -> Kind {
    let head: String = text
        .trim_start_matches(char::is_whitespace)
        .chars()
        .take(32)
        .collect::<String>()
        .to_lowercase();
    PREFIXES
        .iter()
        .find(|(p, _)| head.starts_with(p))
        .map_or(Kind::Plain, |(_, k)| *k)
}

impl Kind {
    /// The kind a MIME part's `Content-Type` names.
    pub fn from_content_type(ct: &str) -> Kind {
        match ct {
            "text/cloud-config" => Kind::CloudConfig,
            "text/cloud-config-archive" => Kind::CloudConfigArchive,
            "text/cloud-config-jsonp" => Kind::JsonPatch,
            "text/x-shellscript" => Kind::Script,
            "text/x-include-url" => Kind::Include,
            "text/x-include-once-url" => Kind::IncludeOnce,
            "text/cloud-boothook" => Kind::Boothook,
            "text/part-handler" => Kind::PartHandler,
            "text/jinja2" => Kind::Jinja,
            _ => Kind::Plain,
        }
    }

    /// What cloud-init does with a file of this kind, and why clem-image does not take
    /// it as cloud-config.
    pub fn refusal(self, text: &str) -> String {
        let what = match self {
            Kind::CloudConfig => return String::new(),
            Kind::CloudConfigArchive => "it is a `#cloud-config-archive` (cloud-init reads it as a list of parts); clem-image takes cloud-config files: give each part as its own file",
            Kind::JsonPatch => "it is a `#cloud-config-jsonp` JSON patch; clem-image takes cloud-config: write the keys out",
            Kind::Script => "it is a script (`#!`) inside a MIME multipart",
            Kind::Include | Kind::IncludeOnce => "it is an `#include` list: cloud-init would download each URL on the node; clem-image takes cloud-config: download the files and give them",
            Kind::Boothook => "it is a `#cloud-boothook`: cloud-init would run it early at every boot; clem-image takes cloud-config: use bootcmd",
            Kind::PartHandler => "it is a `#part-handler`; clem-image takes cloud-config",
            Kind::Jinja => "it is a jinja template (`## template: jinja`), rendered on the node from its instance data; clem-image checks cloud-config offline: write the values out",
            Kind::Plain if text.starts_with('\u{feff}') => "it starts with a byte-order mark, which hides its `#cloud-config` header from cloud-init: cloud-init would treat it as plain text and ignore it; save it without the mark",
            Kind::Plain => "its first line is not `#cloud-config` (in any case): cloud-init would treat it as plain text and ignore it",
        };
        what.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_read_as_cloud_init_reads_them() {
        for ok in [
            "#cloud-config\n",
            "#Cloud-Config\n",
            "\n\n#cloud-config\n",
            "#cloud-config  # mine\n",
        ] {
            assert_eq!(classify(ok), Kind::CloudConfig, "{ok:?}");
        }
        assert_eq!(
            classify("#cloud-config-archive\n"),
            Kind::CloudConfigArchive
        );
        assert_eq!(classify("#!/bin/sh\n"), Kind::Script);
        assert_eq!(classify("\u{feff}#cloud-config\n"), Kind::Plain);
        assert_eq!(classify("packages: [x]\n"), Kind::Plain);
        assert!(Kind::Plain.refusal("\u{feff}#").contains("byte-order mark"));
        assert!(Kind::Plain.refusal("x").contains("ignore it"));
    }
}
