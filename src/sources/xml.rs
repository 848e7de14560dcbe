//! A safe XML parser for policy files (polkit actions, D-Bus policy): DTDs allowed, external
//! entities never fetched, a bound on nodes per file.

use crate::model::Item;
use crate::sources::confdirs::{Keys, line_text};

/// Parses one XML policy file (polkit actions, D-Bus policy) safely: DTDs allowed, external
/// entities never fetched, at most [`MAX_NODES`] nodes. A file that does not parse becomes a
/// `malformed FILE` item in `out` (with the parser's error) and `None`.
pub fn parse_xml<'t>(
    text: &'t str,
    file: &str,
    keys: &mut Keys,
    out: &mut Vec<Item>,
) -> Option<roxmltree::Document<'t>> {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        nodes_limit: MAX_NODES,
        ..roxmltree::ParsingOptions::default()
    };
    match roxmltree::Document::parse_with_options(text, opts) {
        Ok(d) => Some(d),
        Err(e) => {
            out.push(
                Item::new(keys.unique(format!("malformed {file}")))
                    .with("error", line_text(&e.to_string())),
            );
            None
        }
    }
}

/// Nodes parsed at most per policy file (the largest shipped ones have a few thousand).
pub const MAX_NODES: u32 = 200_000;
