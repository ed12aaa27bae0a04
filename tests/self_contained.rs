//! The repository (and the published package) is complete on its own: no
//! file names a path outside it, so every reference a reader follows can
//! be followed from a clone or from the unpacked crate.
//!
//! Two kinds of reference are refused: absolute paths under a machine's
//! home or work directories, and relative paths (`../…`) that, resolved
//! from the directory of the file naming them, climb above the root.

use std::path::{Component, Path, PathBuf};

/// Entries never scanned: build output and version-control data (`.git`
/// is a file in a git worktree, naming the main checkout).
const SKIPPED: &[&str] = &["target", ".git"];

/// Absolute prefixes that only exist on someone's machine. Spelled in
/// pieces so this file does not name them itself.
fn absolute_prefixes() -> Vec<String> {
    ["work", "home", "Users", "root"]
        .iter()
        .map(|dir| format!("/{dir}/"))
        .collect()
}

/// The path-like tokens of `line`: maximal runs of the characters paths
/// are made of.
fn path_tokens(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '_' | '-')))
        .filter(|token| token.contains('/'))
}

/// Whether `relative`, joined to `dir` (itself relative to the root),
/// climbs above the root.
fn escapes_root(dir: &Path, relative: &str) -> bool {
    let mut depth: usize = 0;
    for component in dir.join(relative).components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return true,
            },
            _ => {}
        }
    }
    false
}

/// Every reference outside the root in `text`, the content of the file at
/// `file` (relative to the root), as `file:line: token`.
fn outside_references(file: &Path, text: &str) -> Vec<String> {
    let dir = file.parent().unwrap_or(Path::new(""));
    let prefixes = absolute_prefixes();
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        for token in path_tokens(line) {
            let absolute = prefixes
                .iter()
                .any(|prefix| token.contains(prefix.as_str()));
            let climbs = token
                .find("../")
                .is_some_and(|from| escapes_root(dir, &token[from..]));
            if absolute || climbs {
                found.push(format!("{}:{}: {token}", file.display(), number + 1));
            }
        }
    }
    found
}

/// Every file under `root` (relative paths), skipping [`SKIPPED`].
fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(root.join(&dir))
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", root.join(&dir).display()));
        for entry in entries {
            let entry = entry.expect("directory entry");
            let name = entry.file_name();
            if SKIPPED.iter().any(|skip| name == *skip) {
                continue;
            }
            let relative = dir.join(&name);
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                pending.push(relative);
            } else if kind.is_file() {
                files.push(relative);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn no_file_names_a_path_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = files_under(root);
    assert!(
        files.iter().any(|f| f == Path::new("docs/contract.md")),
        "the scan must see the docs (found {} files)",
        files.len()
    );
    let mut found = Vec::new();
    for file in &files {
        // Binary files (images, archives) hold no readable reference.
        let Ok(text) = std::fs::read_to_string(root.join(file)) else {
            continue;
        };
        found.extend(outside_references(file, &text));
    }
    assert!(
        found.is_empty(),
        "files name paths outside the repository; point them at docs/contract.md \
         or another file inside it:\n{}",
        found.join("\n")
    );
}

#[test]
fn references_outside_the_root_are_found_and_inside_ones_are_not() {
    let doc = Path::new("docs/architecture.md");
    // Built at run time so this file does not name them itself.
    let up = "../";
    let outside = [
        &format!("the authority is `{up}{up}shared/relay-contract.md`"),
        &format!("see [the spec]({up}{up}spec.md)"),
        &format!("read it against `/{}/shared/cli-contract.md`.", "work"),
        &format!("cargo at /{}/someone/.cargo", "home"),
    ];
    for line in outside {
        assert_eq!(
            outside_references(doc, line).len(),
            1,
            "not found in {line:?}"
        );
    }
    let inside = [
        "[contract](contract.md) and [README](../README.md)",
        "include_str!(\"../docs/contract.md\")",
        "snapshot_path => \"../fixtures/snapshots\"",
        "a ratio of 0.75/1.0 and https://example.com/a/b",
    ];
    for line in inside {
        assert_eq!(
            outside_references(doc, line),
            Vec::<String>::new(),
            "wrongly found in {line:?}"
        );
    }
    // A file at the root cannot climb even one level.
    assert_eq!(
        outside_references(Path::new("README.md"), &format!("see {up}shared/x.md")).len(),
        1
    );
}
