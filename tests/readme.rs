//! The README's embedding example compiles as pasted into a new crate.
//!
//! The example itself is compiled as a doctest (`ReadmeDoctests` in
//! `src/lib.rs`), but a doctest sees every dependency of this crate, so it
//! cannot tell whether the README names the crates the example needs. This
//! test reads the README's dependency block and checks that every crate the
//! Rust example names is in it, and that the example hides no lines.

/// The README, as published.
const README: &str = include_str!("../README.md");

/// Crates every Rust program has without a dependency.
const BUILTIN: &[&str] = &["std", "core", "alloc", "crate", "self", "super"];

/// The fenced blocks of `text` whose info string starts with `lang`, in
/// order.
fn fenced_blocks<'a>(text: &'a str, lang: &str) -> Vec<&'a str> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let Some(line_end) = after.find('\n') else {
            break;
        };
        let info = after[..line_end].trim();
        let body = &after[line_end + 1..];
        let Some(close) = body.find("\n```") else {
            break;
        };
        if info.split(',').next() == Some(lang) {
            blocks.push(&body[..close + 1]);
        }
        rest = &body[close + 4..];
    }
    blocks
}

/// The crate names in a `[dependencies]` block, with `-` read as `_`.
fn dependencies(toml: &str) -> Vec<String> {
    toml.lines()
        .skip_while(|line| line.trim() != "[dependencies]")
        .skip(1)
        .take_while(|line| !line.trim_start().starts_with('['))
        .filter_map(|line| line.split('=').next())
        .map(|name| name.trim().replace('-', "_"))
        .filter(|name| !name.is_empty())
        .collect()
}

/// The crate roots a Rust snippet names: lower-case identifiers that start
/// a path (`smol::spawn`, `relay_link::config`), not a segment inside one.
fn crate_roots(code: &str) -> Vec<String> {
    let mut roots = Vec::new();
    for (at, _) in code.match_indices("::") {
        let before = &code[..at];
        let start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let ident = &before[start..];
        let starts_path = !before[..start].ends_with("::");
        if starts_path
            && ident.starts_with(|c: char| c.is_ascii_lowercase())
            && !BUILTIN.contains(&ident)
            && !roots.iter().any(|r| r == ident)
        {
            roots.push(ident.to_owned());
        }
    }
    roots
}

/// The README's embedding section: its dependency block and its example.
fn embedding_section() -> (&'static str, &'static str) {
    let start = README.find("## Embedding").expect("an Embedding section");
    let section = &README[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
    let section = &section[..end];
    let toml = fenced_blocks(section, "toml");
    let rust = fenced_blocks(section, "rust");
    assert_eq!(
        toml.len(),
        1,
        "one dependency block in the Embedding section"
    );
    assert_eq!(rust.len(), 1, "one Rust example in the Embedding section");
    (toml[0], rust[0])
}

#[test]
fn the_embedding_example_names_every_crate_it_uses_as_a_dependency() {
    let (toml, code) = embedding_section();
    let deps = dependencies(toml);
    let roots = crate_roots(code);
    assert!(
        roots.iter().any(|r| r == "relay_link"),
        "the example uses relay_link (found {roots:?})"
    );
    let missing: Vec<&String> = roots.iter().filter(|r| !deps.contains(r)).collect();
    assert!(
        missing.is_empty(),
        "the example uses {missing:?}, which the README's [dependencies] ({deps:?}) do not list"
    );
}

#[test]
fn the_embedding_example_hides_no_lines() {
    let (_, code) = embedding_section();
    let hidden: Vec<&str> = code
        .lines()
        .filter(|line| line.trim_start() == "#" || line.trim_start().starts_with("# "))
        .collect();
    assert!(
        hidden.is_empty(),
        "a reader pastes what they see; hidden lines: {hidden:?}"
    );
}

#[test]
fn crate_roots_and_dependencies_are_read_as_a_reader_would() {
    assert_eq!(
        crate_roots("use relay_link::config::Config;\nsmol::block_on(x);\nDuration::from_secs(1); std::env::var(\"A\")"),
        ["relay_link", "smol"]
    );
    assert_eq!(
        dependencies(
            "[dependencies]\nrelay-link = \"0.1\"\nsmol = \"2\"\n\n[dev-dependencies]\nx = \"1\"\n"
        ),
        ["relay_link", "smol"]
    );
}
