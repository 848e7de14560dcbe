//! Glob expansion under the scanned root (`include` lines of ld.so.conf, polkit's rule paths).

use crate::host::Host;
use crate::sources::confdirs;

/// The regular files a glob names (wildcards allowed in any component), sorted as glob(3)
/// sorts them. Names starting with a dot match only a pattern that starts with one.
pub(crate) fn expand(host: &Host, pattern: &str) -> Vec<String> {
    let mut current = vec![String::new()];
    for comp in pattern.split('/').filter(|c| !c.is_empty()) {
        let mut next = Vec::new();
        for base in &current {
            if comp == "." {
                next.push(base.clone());
                continue;
            }
            if comp == ".." {
                // Lexically, as the path is shown: the root has no parent.
                next.push(
                    base.rsplit_once('/')
                        .map_or(String::new(), |(b, _)| b.to_string()),
                );
                continue;
            }
            if !comp.contains(['*', '?', '[']) {
                next.push(format!("{base}/{comp}"));
                continue;
            }
            let real = host.path(if base.is_empty() { "/" } else { base });
            let Ok(entries) = host.list_dir(&real) else {
                continue;
            };
            for (name, _) in entries {
                let name = name.to_string_lossy();
                if name.starts_with('.') && !comp.starts_with('.') {
                    continue;
                }
                if confdirs::fnmatch(comp.as_bytes(), name.as_bytes()) {
                    next.push(format!("{base}/{name}"));
                }
            }
        }
        current = next;
    }
    let mut files: Vec<String> = current
        .into_iter()
        .filter(|p| {
            host.stat(p)
                .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG)
        })
        .collect();
    files.sort();
    files
}
