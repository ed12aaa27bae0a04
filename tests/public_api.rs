//! No dependency's type in the public API (issue 10, item 7).
//!
//! A source scan, not a compiler check: every `pub` declaration in `src/`
//! (a function's signature up to its body, a field, a type alias, a
//! re-export) must not name a type of a dependency the crate does not
//! re-export, whether spelled with its path (`smol::channel::Sender`) or
//! through a `use` of the same file (`use smol::channel::Sender;` then
//! `Sender<…>`). `serde_json` is re-exported (`relay_link::serde_json`),
//! so its types may appear, and so is `rustls`
//! (`relay_link::shell::tls::rustls`, with its `pki_types`); so may trait
//! implementations (`impl Stream for Events`), which are not declarations.

use std::path::{Path, PathBuf};

/// Dependencies that are not re-exported: none of their types may appear
/// in a public signature.
const HIDDEN: [&str; 14] = [
    "smol",
    "async_tungstenite",
    "tungstenite",
    "futures_util",
    "futures_rustls",
    "webpki_roots",
    "tokio",
    "statig",
    "hmac",
    "sha2",
    "fastrand",
    "memchr",
    "tracing",
    "async_io",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).expect("src/ is readable");
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The type names a file imports from hidden dependencies
/// (`use smol::channel::{Receiver, Sender};` gives both; `as` renames
/// give the new name).
fn hidden_imports(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    for statement in source.split(';') {
        let statement = statement.trim_start();
        let Some(path) = statement.strip_prefix("use ") else {
            continue;
        };
        let root = path.split("::").next().unwrap_or_default().trim();
        if !HIDDEN.contains(&root) {
            continue;
        }
        let words: Vec<&str> = path
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .collect();
        for (i, word) in words.iter().enumerate() {
            let renamed = words.get(i + 1) == Some(&"as");
            if word.starts_with(char::is_uppercase) && !renamed {
                names.push((*word).to_owned());
            }
        }
    }
    names
}

/// Every public declaration of a file with its line number: from a line
/// starting with `pub ` (not `pub(crate)`) up to its body, its end or the
/// end of a field.
fn public_declarations(source: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = source.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !line.trim_start().starts_with("pub ") {
            continue;
        }
        // A field ends at its comma; a function's parameters do not.
        let field = !line.contains(" fn ");
        let mut declaration = String::new();
        for next in &lines[i..] {
            let end = next.find(['{', ';']);
            declaration.push_str(&next[..end.unwrap_or(next.len())]);
            declaration.push(' ');
            if end.is_some() || (field && next.trim_end().ends_with(',')) {
                break;
            }
        }
        found.push((i + 1, declaration));
    }
    found
}

/// Whether `text` names `name` as a whole word.
fn names(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(at, _)| {
        let word = |c: char| c.is_alphanumeric() || c == '_';
        let before = text[..at].chars().next_back().is_none_or(|c| !word(c));
        let after = text[at + name.len()..]
            .chars()
            .next()
            .is_none_or(|c| !word(c));
        before && after
    })
}

/// The leaks of one file: (line, declaration, what it names).
fn leaks(source: &str) -> Vec<(usize, String, String)> {
    let imported = hidden_imports(source);
    let mut found = Vec::new();
    for (line, declaration) in public_declarations(source) {
        let paths = HIDDEN.iter().map(|krate| format!("{krate}::"));
        for named in paths.chain(imported.iter().cloned()) {
            let hit = match named.strip_suffix("::") {
                Some(krate) => names(&declaration, krate) && declaration.contains(&named),
                None => names(&declaration, &named),
            };
            if hit {
                found.push((line, declaration.trim().to_owned(), named));
            }
        }
    }
    found
}

#[test]
fn no_public_declaration_names_a_type_of_a_dependency_that_is_not_re_exported() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    assert!(files.len() > 20, "the scan read {} files", files.len());
    let mut found = Vec::new();
    for path in files {
        let relative = path
            .strip_prefix(root)
            .expect("under the manifest dir")
            .to_string_lossy()
            .replace('\\', "/");
        let source = std::fs::read_to_string(&path).expect("a readable source file");
        for (line, declaration, named) in leaks(&source) {
            found.push(format!("{relative}:{line}: `{declaration}` names {named}"));
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_scan_sees_a_dependency_type_by_its_path_and_through_a_use() {
    let by_path = "pub struct Options {\n    pub log: Option<smol::channel::Sender<Command>>,\n}\n";
    assert_eq!(leaks(by_path).len(), 1);
    let through_use = "use smol::channel::{Receiver, Sender as Tx};\n\
                       pub fn log(&self) -> Tx<Command> {\n    todo!()\n}\n\
                       pub fn rx(\n    &self,\n) -> Receiver<Command>;\n";
    let found = leaks(through_use);
    let named: Vec<&str> = found.iter().map(|(_, _, n)| n.as_str()).collect();
    assert_eq!(named, ["Tx", "Receiver"], "{found:?}");
    let fine = "use smol::channel::Sender;\npub(crate) fn tx() -> Sender<()>;\n\
                pub fn events(&self) -> Events;\npub use serde_json;\n";
    assert!(leaks(fine).is_empty());
}
