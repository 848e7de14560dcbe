//! The globs of rules and ignores: `!` negates, and a list matches when any glob does.

use super::*;

/// A glob of the rules (parsed at load, compiled at first use); `!` in front negates it.
#[derive(Debug, Clone)]
pub(super) struct Glob {
    pub(super) negated: bool,
    pub(super) glob: globset::Glob,
    /// Compiled on first use: compiling every rule's regex at start-up cost each `dawgctl`
    /// call ~55 ms and 10 MB (most rules never see a change in a given run).
    pub(super) matcher: OnceLock<GlobMatcher>,
}

/// Parses one glob of the rules' dialect: `!` in front negates, `*` crosses `/`.
pub(super) fn parse_glob(text: &str) -> Result<(bool, globset::Glob), String> {
    let (negated, pattern) = match text.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let glob = GlobBuilder::new(pattern)
        .literal_separator(false)
        .backslash_escape(true)
        .empty_alternates(true)
        .build()
        .map_err(|e| e.kind().to_string())?;
    Ok((negated, glob))
}

impl Glob {
    pub(super) fn new(text: &str) -> Result<Glob, String> {
        let (negated, glob) = parse_glob(text)?;
        Ok(Glob::parsed(negated, glob))
    }

    pub(super) fn parsed(negated: bool, glob: globset::Glob) -> Glob {
        Glob {
            negated,
            glob,
            matcher: OnceLock::new(),
        }
    }

    pub(super) fn is_match(&self, text: &str) -> bool {
        // Most globs are plain names (`collector = "check_etc"`): compared as text, no regex.
        let pattern = self.glob.glob();
        if !pattern.contains(['*', '?', '[', ']', '{', '}', '\\']) {
            return (pattern == text) != self.negated;
        }
        let matcher = self.matcher.get_or_init(|| self.glob.compile_matcher());
        matcher.is_match(text) != self.negated
    }
}

/// A list of key globs, any one of which may match (none: every key). The plain globs are
/// one [`GlobSet`] (one pass over the key, literals and prefixes without a regex); negated
/// ones are checked one by one.
#[derive(Debug, Clone, Default)]
pub(super) struct AnyGlob {
    pub(super) empty: bool,
    pub(super) plain: Vec<globset::Glob>,
    /// Built on first use (see [`Glob::matcher`]); `Err` when the set cannot be built (a
    /// regex size limit), in which case each glob is matched on its own.
    pub(super) set: OnceLock<Result<GlobSet, Vec<GlobMatcher>>>,
    pub(super) negated: Vec<Glob>,
}

impl AnyGlob {
    pub(super) fn new(globs: &[String]) -> Result<AnyGlob, (String, String)> {
        let mut plain = Vec::new();
        let mut negated = Vec::new();
        for text in globs {
            let (neg, glob) = parse_glob(text).map_err(|e| (text.clone(), e))?;
            if neg {
                negated.push(Glob::parsed(true, glob));
            } else {
                plain.push(glob);
            }
        }
        Ok(AnyGlob {
            empty: globs.is_empty(),
            plain,
            set: OnceLock::new(),
            negated,
        })
    }

    pub(super) fn is_match(&self, text: &str) -> bool {
        if self.empty {
            return true;
        }
        let set = self.set.get_or_init(|| {
            let mut set = GlobSetBuilder::new();
            for g in &self.plain {
                set.add(g.clone());
            }
            set.build()
                .map_err(|_| self.plain.iter().map(|g| g.compile_matcher()).collect())
        });
        let plain = match set {
            Ok(set) => set.is_match(text),
            Err(each) => each.iter().any(|m| m.is_match(text)),
        };
        plain || self.negated.iter().any(|g| g.is_match(text))
    }
}
