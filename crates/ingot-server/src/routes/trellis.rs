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

/// Generates one asset; locally, both response shapes are returned. An upstream's answer
/// is passed through as it is.
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
            upstream::forward(&state, endpoint, TRELLIS_ID, &req, false, tally.as_deref()).await?
        {
            return Ok(resp);
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
