//! The TOML examples of the docs load with the real config loader, so a documented key is
//! one the server takes.

fn toml_blocks(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```toml") => current = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => out.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    out
}

/// The first line of a TOML example that is the client's settings, not the server's.
const CLIENT_SETTINGS: &str = "# ~/.config/ingot/config.toml";

#[test]
fn every_toml_example_in_the_docs_loads() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut checked = 0;
    for doc in ["docs/configuration.md", "README.md", "docs/reliability.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        for (i, block) in toml_blocks(&text).into_iter().enumerate() {
            // The client's settings file is checked by the client's own tests.
            if block.starts_with(CLIENT_SETTINGS) {
                continue;
            }
            // Examples name their keys' environment variables (read at start): point them at
            // one that is set here.
            let block: String = block
                .lines()
                .map(|l| match l.split_once("api_key_env") {
                    Some((head, _)) => format!("{head}api_key_env = \"PATH\"\n"),
                    None => format!("{l}\n"),
                })
                .collect();
            if let Err(e) = ingot_server::Config::from_toml(&block) {
                panic!("{doc}, TOML example {}: {e}\n{block}", i + 1);
            }
            checked += 1;
        }
    }
    assert!(checked >= 5, "{checked}");
}
