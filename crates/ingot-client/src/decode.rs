//! Turning success bodies into what callers want: vectors and asset bytes.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use ingot_protocol::embeddings::EmbeddingResponse;
use serde_json::Value;

use crate::ClientError;

/// The vectors of an embeddings response in input order (sorted by `index`), decoding the
/// base64 form (little-endian f32) where the server used it.
///
/// # Errors
/// [`ClientError::Decode`] if a vector is not valid base64 of f32 values.
pub fn decode_embeddings(resp: &EmbeddingResponse) -> Result<Vec<Vec<f32>>, ClientError> {
    let mut data: Vec<_> = resp.data.iter().collect();
    data.sort_by_key(|d| d.index);
    data.iter()
        .map(|d| {
            d.embedding.to_floats().ok_or_else(|| {
                ClientError::decode(
                    "embedding response",
                    format!("vector {} is not base64 of little-endian f32", d.index),
                )
            })
        })
        .collect()
}

/// The asset bytes of a TRELLIS response: `artifacts[0].base64`, else `output.glb` or
/// `output.stl`.
pub(crate) fn trellis_asset(value: &Value) -> Result<Vec<u8>, ClientError> {
    let artifact = value.pointer("/artifacts/0");
    let encoded = artifact
        .and_then(|a| a.get("base64"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or_else(|| {
            ["/output/glb", "/output/stl"].iter().find_map(|p| {
                value
                    .pointer(p)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
            })
        });
    let Some(encoded) = encoded else {
        let reason = artifact
            .and_then(|a| a.get("finishReason"))
            .and_then(Value::as_str)
            .map(|r| format!("generation finished with {r} and no asset"))
            .unwrap_or_else(|| "no artifacts[0].base64 or output.glb".to_owned());
        return Err(ClientError::decode("TRELLIS response", reason));
    };
    let encoded = match encoded.split_once(";base64,") {
        Some((prefix, data)) if prefix.starts_with("data:") => data,
        _ => encoded,
    };
    let cleaned: String = encoded
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD
        .decode(&cleaned)
        .or_else(|_| STANDARD_NO_PAD.decode(&cleaned))
        .map_err(|e| ClientError::decode("TRELLIS asset base64", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trellis_asset_shapes() {
        let v = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        let glb = trellis_asset(&v(
            r#"{"artifacts":[{"base64":"Z2xURg==","finishReason":"SUCCESS","seed":1}]}"#,
        ));
        assert_eq!(glb.unwrap(), b"glTF");
        assert_eq!(
            trellis_asset(&v(r#"{"output":{"glb":"Z2xURg"}}"#)).unwrap(),
            b"glTF"
        );
        let e = trellis_asset(&v(
            r#"{"artifacts":[{"base64":"","finishReason":"CONTENT_FILTERED"}]}"#,
        ));
        assert!(e.unwrap_err().to_string().contains("CONTENT_FILTERED"));
        assert!(trellis_asset(&v("{}")).is_err());
    }
}
