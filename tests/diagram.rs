//! The diagram embedded in `docs/state-machine.md` must be the one the
//! machine generates.

use std::path::Path;

/// The fenced Mermaid block of the doc.
fn embedded_diagram(doc: &str) -> Option<String> {
    let start = doc.find("```mermaid\n")? + "```mermaid\n".len();
    let end = start + doc[start..].find("```")?;
    Some(doc[start..end].to_owned())
}

#[test]
fn the_documented_diagram_is_the_generated_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/state-machine.md");
    let doc = std::fs::read_to_string(&path).expect("docs/state-machine.md exists");
    let embedded = embedded_diagram(&doc).expect("the doc embeds a ```mermaid block");
    assert_eq!(
        embedded,
        relay_link::diagram::mermaid(),
        "docs/state-machine.md is stale: regenerate it with `cargo run --example diagram`"
    );
}

#[test]
fn the_readme_diagram_is_the_generated_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md exists");
    let embedded = embedded_diagram(&readme).expect("the README embeds a ```mermaid block");
    assert_eq!(
        embedded,
        relay_link::diagram::mermaid(),
        "README.md's diagram is stale: paste `cargo run --example diagram` into it"
    );
}

#[test]
fn the_diagram_shows_the_revocation_path() {
    let diagram = relay_link::diagram::mermaid();
    for edge in [
        "handshaken --> connecting: 4401 unauthorized",
        "connecting --> revoked: 4401 unauthorized",
        "revoked --> disabled: fatal acknowledged",
        "connecting --> retrying:",
    ] {
        assert!(
            diagram.contains(edge),
            "missing edge {edge:?} in\n{diagram}"
        );
    }
    assert!(
        !diagram.contains("disabled -->  connecting")
            && !diagram.contains("disabled --> connecting"),
        "a disabled link must never dial"
    );
}
