//! Local 3D: the procedural preview engine (GLB/STL), behind a bounded queue.

use std::sync::Arc;

use base64::Engine as _;
use ingot_core::{Backend, BackendError, BackendFuture, ModelKind, Reply, TrellisReply};
use ingot_gen3d::{Gen3dError, Gen3dParams, OutputFormat as Fmt};
use ingot_protocol::trellis::{OutputFormat, TrellisMode, TrellisRequest, TrellisResponse};
use tokio::sync::Semaphore;

/// `root` of the 3D id: the procedural preview engine.
pub const GEN3D_ROOT: &str = "ingot/gen3d-procedural-preview";

/// The local 3D preview engine.
pub struct LocalGen3d {
    /// Requests admitted (running or waiting); beyond it, 429.
    admitted: Arc<Semaphore>,
    /// Assets being generated.
    running: Arc<Semaphore>,
}

impl LocalGen3d {
    /// `concurrency` assets at once, `queue` more waiting.
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            admitted: Arc::new(Semaphore::new(concurrency + queue)),
            running: Arc::new(Semaphore::new(concurrency)),
        }
    }

    async fn generate(&self, req: TrellisRequest) -> Result<TrellisReply, BackendError> {
        let job = req
            .validate()
            .map_err(|f| BackendError::invalid(f.loc.join("."), f.message))?;
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
        let _admitted = Arc::clone(&self.admitted)
            .try_acquire_owned()
            .map_err(|_| BackendError::Overloaded {
                what: "the local 3D engine's queue is full".to_owned(),
                retry_after: 5,
            })?;
        let _running = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|e| BackendError::Internal(format!("3D engine gate closed: {e}")))?;
        let asset = tokio::task::spawn_blocking(move || ingot_gen3d::generate(&params))
            .await
            .map_err(|e| BackendError::Internal(format!("3D task failed: {e}")))?
            .map_err(gen3d_error)?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&asset.bytes);
        Ok(Reply::Body(TrellisResponse::new(b64, job.format, seed)))
    }
}

impl Backend for LocalGen3d {
    fn kind(&self) -> ModelKind {
        ModelKind::Gen3d
    }

    fn trellis(&self, _model: &str, req: TrellisRequest) -> BackendFuture<'_, TrellisReply> {
        Box::pin(self.generate(req))
    }
}

fn decode_data_url(url: &str) -> Result<Vec<u8>, BackendError> {
    let data = url
        .split_once(";base64,")
        .map(|(_, d)| d)
        .ok_or_else(|| BackendError::invalid("image", "image must be a base64 data URL"))?;
    base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| BackendError::invalid("image", format!("invalid base64: {e}")))
}

fn gen3d_error(e: Gen3dError) -> BackendError {
    match e {
        Gen3dError::EmptyInput => {
            BackendError::invalid("", "Input needs to be either image or prompt")
        }
        Gen3dError::ImageDecode(_) | Gen3dError::ImageTooLarge { .. } => {
            BackendError::invalid("image", e.to_string())
        }
        other => BackendError::Internal(other.to_string()),
    }
}
