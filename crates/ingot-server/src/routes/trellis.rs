//! `POST /v1/genai/microsoft/trellis` and `POST /v1/infer` (wire-spec §4): forwarded to the
//! upstream's TRELLIS path when upstreams serve `microsoft/trellis`, otherwise 3D assets
//! from the local procedural preview engine.

use axum::Json;
use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use ingot_gen3d::{Gen3dError, Gen3dParams, OutputFormat as Fmt};
use ingot_protocol::chat::FieldError;
use ingot_protocol::trellis::{OutputFormat, TrellisMode, TrellisRequest, TrellisResponse};

use super::upstream;
use crate::error::ApiError;
use crate::extract::AppJson;
use crate::observe::Tally;
use crate::state::AppState;

/// The id TRELLIS requests are routed by (their body names no model).
pub const TRELLIS_ID: &str = "microsoft/trellis";

/// Generates one asset. Both response shapes are returned: the reference's `output.glb` and
/// real deployments' `artifacts[0]`; an upstream's answer gets whichever it lacks.
pub async fn generate(
    State(state): State<AppState>,
    tally: Option<Extension<Arc<Tally>>>,
    AppJson(req): AppJson<TrellisRequest>,
) -> Result<Response, ApiError> {
    let tally = tally.map(|Extension(t)| t);
    if let Some(t) = &tally {
        t.set_model(TRELLIS_ID);
    }
    let job = req.validate()?;
    if upstream::routed(&state, TRELLIS_ID) {
        let endpoint = ingot_proxy::Endpoint::Trellis;
        if let Some(resp) =
            upstream::forward(&state, endpoint, TRELLIS_ID, &req, false, tally.as_ref()).await?
        {
            return Ok(with_both_shapes(resp, req.output_format).await);
        }
    }
    let image = match (job.mode, &job.image) {
        (TrellisMode::Image, Some(url)) => Some(decode_data_url(url)?),
        _ => None,
    };
    let seed = if job.seed == 0 {
        // 0 asks for a random seed; the one used is reported in `artifacts[0].seed`.
        (uuid::Uuid::new_v4().as_u128() as u64 % 4_294_967_295).max(1)
    } else {
        job.seed
    };
    let params = Gen3dParams {
        prompt: if job.mode == TrellisMode::Text {
            job.prompt.clone()
        } else {
            None
        },
        image,
        seed,
        steps: (job.ss_steps + job.slat_steps) / 2,
        no_texture: job.no_texture,
        format: match job.format {
            OutputFormat::Glb => Fmt::Glb,
            OutputFormat::Stl => Fmt::Stl,
        },
    };
    let (admitted, running) = state.gen3d_gates();
    let _admitted = Arc::clone(admitted)
        .try_acquire_owned()
        .map_err(|_| ApiError::Overloaded {
            what: "the local 3D engine's queue is full".to_owned(),
            retry_after: 5,
        })?;
    let _running = Arc::clone(running)
        .acquire_owned()
        .await
        .map_err(|e| ApiError::Internal(format!("3D engine gate closed: {e}")))?;
    let asset = tokio::task::spawn_blocking(move || ingot_gen3d::generate(&params))
        .await
        .map_err(|e| ApiError::Internal(format!("3D task failed: {e}")))?
        .map_err(gen3d_error)?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&asset.bytes);
    Ok(Json(TrellisResponse::new(b64, job.format, seed)).into_response())
}

/// A successful upstream answer with both shapes: `output.glb` added from `artifacts[0]`
/// (hosted API, NIM containers), or `artifacts` from `output.glb`. Anything else (errors,
/// bodies that are not such JSON) passes through unchanged.
async fn with_both_shapes(resp: Response, format: Option<OutputFormat>) -> Response {
    if !resp.status().is_success() {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            return ApiError::UpstreamFailed {
                detail: format!("the TRELLIS upstream's answer broke off: {e}"),
                timeout: false,
            }
            .into_response();
        }
    };
    let body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(mut v) => {
            if add_missing_shape(&mut v, format) {
                serde_json::to_vec(&v).map_or(bytes, axum::body::Bytes::from)
            } else {
                bytes
            }
        }
        Err(_) => bytes,
    };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// Adds the shape `v` lacks; false when it has both or neither.
fn add_missing_shape(v: &mut serde_json::Value, format: Option<OutputFormat>) -> bool {
    let from_artifacts = v
        .pointer("/artifacts/0/base64")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    let from_output = v
        .pointer("/output/glb")
        .or_else(|| v.pointer("/output/stl"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    let Some(obj) = v.as_object_mut() else {
        return false;
    };
    match (from_artifacts, from_output) {
        (Some(b64), None) => {
            let key = if format == Some(OutputFormat::Stl) {
                "stl"
            } else {
                "glb"
            };
            obj.insert("output".to_owned(), serde_json::json!({ key: b64 }));
            true
        }
        (None, Some(b64)) => {
            obj.insert(
                "artifacts".to_owned(),
                serde_json::json!([{"base64": b64, "finishReason": "SUCCESS"}]),
            );
            true
        }
        _ => false,
    }
}

fn decode_data_url(url: &str) -> Result<Vec<u8>, ApiError> {
    let data = url.split_once(";base64,").map(|(_, d)| d).ok_or_else(|| {
        ApiError::Invalid(FieldError::new("image", "image must be a base64 data URL"))
    })?;
    base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| ApiError::Invalid(FieldError::new("image", format!("invalid base64: {e}"))))
}

fn gen3d_error(e: Gen3dError) -> ApiError {
    match e {
        Gen3dError::EmptyInput => ApiError::Invalid(FieldError::new(
            "",
            "Input needs to be either image or prompt",
        )),
        Gen3dError::ImageDecode(_) | Gen3dError::ImageTooLarge { .. } => {
            ApiError::Invalid(FieldError::new("image", e.to_string()))
        }
        other => ApiError::Internal(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upstream_answer_gets_the_shape_it_lacks() {
        let mut v =
            serde_json::json!({"artifacts":[{"base64":"QUJD","finishReason":"SUCCESS","seed":4}]});
        assert!(add_missing_shape(&mut v, None));
        assert_eq!(v["output"]["glb"], "QUJD");
        let mut v = serde_json::json!({"artifacts":[{"base64":"QUJD"}]});
        assert!(add_missing_shape(&mut v, Some(OutputFormat::Stl)));
        assert_eq!(v["output"]["stl"], "QUJD");
        let mut v = serde_json::json!({"output":{"glb":"QUJD"}});
        assert!(add_missing_shape(&mut v, None));
        assert_eq!(v["artifacts"][0]["base64"], "QUJD");
        assert_eq!(v["artifacts"][0]["finishReason"], "SUCCESS");
        let mut both = serde_json::json!({"output":{"glb":"x"},"artifacts":[{"base64":"x"}]});
        assert!(!add_missing_shape(&mut both, None));
        let mut neither = serde_json::json!({"detail":"queued"});
        assert!(!add_missing_shape(&mut neither, None));
    }
}
