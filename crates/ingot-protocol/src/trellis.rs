//! `POST /v1/genai/microsoft/trellis` and NIM's `POST /v1/infer` (wire-spec §4).

use serde::{Deserialize, Serialize};

use crate::Extra;
use crate::chat::FieldError;

/// Longest prompt the hosted model accepts (its CLIP text encoder's limit).
pub const MAX_PROMPT_CHARS: usize = 77;

/// A TRELLIS request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "openapi",
    schemars(extend("anyOf" = [{"required": ["prompt"]}, {"required": ["image"]}]))
)]
pub struct TrellisRequest {
    /// `text` or `image`; inferred from the inputs when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<TrellisMode>,
    /// Text prompt, at most 77 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(length(max = 77)))]
    pub prompt: Option<String>,
    /// Image as a data URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schemars(regex(pattern = r"^$|^data:image/[\s\S]*;base64,"))
    )]
    pub image: Option<String>,
    /// Skip texture baking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_texture: Option<bool>,
    /// `glb` (default) or `stl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_format: Option<OutputFormat>,
    /// Number of samples; only 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(range(min = 1, max = 1)))]
    pub samples: Option<u32>,
    /// 0 = random.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(range(min = 0)))]
    pub seed: Option<i64>,
    /// Sparse-structure guidance, ≤ 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(range(min = 0, max = 10)))]
    pub ss_cfg_scale: Option<f64>,
    /// Structured-latent guidance, ≤ 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(range(min = 0, max = 10)))]
    pub slat_cfg_scale: Option<f64>,
    /// Sparse-structure sampling steps, 10–50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(range(min = 10, max = 50)))]
    pub ss_sampling_steps: Option<u32>,
    /// Structured-latent sampling steps, 10–50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(range(min = 10, max = 50)))]
    pub slat_sampling_steps: Option<u32>,
    /// Fields not modelled.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Generation mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum TrellisMode {
    /// From the prompt.
    Text,
    /// From the image.
    Image,
}

/// Asset format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Binary glTF.
    #[default]
    Glb,
    /// Binary STL (no texture).
    Stl,
}

/// A validated request with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct TrellisJob {
    /// Resolved mode.
    pub mode: TrellisMode,
    /// Prompt (text mode).
    pub prompt: Option<String>,
    /// Image data URL (image mode).
    pub image: Option<String>,
    /// Requested seed; 0 means pick one.
    pub seed: u64,
    /// Sparse-structure steps.
    pub ss_steps: u32,
    /// Structured-latent steps.
    pub slat_steps: u32,
    /// Asset format.
    pub format: OutputFormat,
    /// Skip texture.
    pub no_texture: bool,
}

/// Default sampling steps.
pub const DEFAULT_STEPS: u32 = 25;

impl TrellisRequest {
    /// Validates and resolves defaults.
    ///
    /// # Errors
    /// The first invalid field; `{}` gives "Input needs to be either image or prompt".
    pub fn validate(&self) -> Result<TrellisJob, FieldError> {
        let prompt = self.prompt.as_deref().filter(|p| !p.trim().is_empty());
        let image = self.image.as_deref().filter(|i| !i.is_empty());
        let mode = match (self.mode, prompt, image) {
            (_, None, None) => {
                return Err(FieldError::new(
                    "",
                    "Input needs to be either image or prompt",
                ));
            }
            (Some(TrellisMode::Text), None, _) => {
                return Err(FieldError::new(
                    "prompt",
                    "mode is text but no prompt was given",
                ));
            }
            (Some(TrellisMode::Image), _, None) => {
                return Err(FieldError::new(
                    "image",
                    "mode is image but no image was given",
                ));
            }
            (Some(m), _, _) => m,
            (None, _, Some(_)) => TrellisMode::Image,
            (None, Some(_), None) => TrellisMode::Text,
        };
        // The raw prompt is measured, so a long blank prompt next to an image is refused too
        // (the OpenAPI schema's `maxLength` says so).
        if let Some(p) = self.prompt.as_deref() {
            let n = p.chars().count();
            if n > MAX_PROMPT_CHARS {
                return Err(FieldError::new(
                    "prompt",
                    format!("String should have at most {MAX_PROMPT_CHARS} characters, got {n}"),
                ));
            }
        }
        if let Some(img) = image
            && (!img.starts_with("data:image/") || !img.contains(";base64,"))
        {
            return Err(FieldError::new(
                "image",
                "image must be a data URL: data:image/<png|jpeg|webp>;base64,<data>",
            ));
        }
        for (loc, v) in [
            ("ss_cfg_scale", self.ss_cfg_scale),
            ("slat_cfg_scale", self.slat_cfg_scale),
        ] {
            if let Some(x) = v
                && !(0.0..=10.0).contains(&x)
            {
                return Err(FieldError::new(
                    loc,
                    format!("Input should be in [0, 10], got {x}"),
                ));
            }
        }
        for (loc, v) in [
            ("ss_sampling_steps", self.ss_sampling_steps),
            ("slat_sampling_steps", self.slat_sampling_steps),
        ] {
            if let Some(x) = v
                && !(10..=50).contains(&x)
            {
                return Err(FieldError::new(
                    loc,
                    format!("Input should be in [10, 50], got {x}"),
                ));
            }
        }
        if let Some(s) = self.samples
            && s != 1
        {
            return Err(FieldError::new(
                "samples",
                format!("only 1 sample is supported, got {s}"),
            ));
        }
        let seed = match self.seed {
            Some(s) if s < 0 => {
                return Err(FieldError::new(
                    "seed",
                    "Input should be greater than or equal to 0",
                ));
            }
            Some(s) => s.unsigned_abs(),
            None => 0,
        };
        Ok(TrellisJob {
            mode,
            prompt: prompt.map(str::to_owned),
            image: image.map(str::to_owned),
            seed,
            ss_steps: self.ss_sampling_steps.unwrap_or(DEFAULT_STEPS),
            slat_steps: self.slat_sampling_steps.unwrap_or(DEFAULT_STEPS),
            format: self.output_format.unwrap_or_default(),
            no_texture: self.no_texture.unwrap_or(false),
        })
    }
}

/// The response: the reference's `output.glb` and the deployed API's `artifacts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct TrellisResponse {
    /// `{"glb": base64}` (or `{"stl": base64}`), the reference's shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<TrellisOutput>,
    /// `[{"base64","finishReason","seed"}]`, what real deployments return.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<Artifact>,
}

/// The reference's output object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct TrellisOutput {
    /// Base64 GLB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glb: Option<String>,
    /// Base64 binary STL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stl: Option<String>,
}

/// One generated asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Artifact {
    /// Standard base64 with padding, no data-URL prefix.
    pub base64: String,
    /// `SUCCESS`, `CONTENT_FILTERED` or `ERROR`.
    #[serde(rename = "finishReason")]
    pub finish_reason: String,
    /// The seed actually used.
    pub seed: u64,
}

impl TrellisResponse {
    /// Both shapes for one asset.
    pub fn new(base64: String, format: OutputFormat, seed: u64) -> Self {
        let output = match format {
            OutputFormat::Glb => TrellisOutput {
                glb: Some(base64.clone()),
                stl: None,
            },
            OutputFormat::Stl => TrellisOutput {
                glb: None,
                stl: Some(base64.clone()),
            },
        };
        Self {
            output: Some(output),
            artifacts: vec![Artifact {
                base64,
                finish_reason: "SUCCESS".to_owned(),
                seed,
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Result<TrellisJob, FieldError> {
        serde_json::from_str::<TrellisRequest>(s)
            .unwrap()
            .validate()
    }

    #[test]
    fn empty_body_is_rejected_with_nims_message() {
        let e = v("{}").unwrap_err();
        assert!(
            e.message
                .contains("Input needs to be either image or prompt")
        );
    }

    #[test]
    fn mode_is_inferred_and_ranges_checked() {
        assert_eq!(
            v(r#"{"prompt":"A wooden chair","seed":42}"#).unwrap().mode,
            TrellisMode::Text
        );
        let j = v(r#"{"image":"data:image/png;base64,iVBO","output_format":"stl"}"#).unwrap();
        assert_eq!((j.mode, j.format), (TrellisMode::Image, OutputFormat::Stl));
        for bad in [
            r#"{"prompt":"x","ss_cfg_scale":11}"#,
            r#"{"prompt":"x","slat_sampling_steps":9}"#,
            r#"{"prompt":"x","ss_sampling_steps":51}"#,
            r#"{"prompt":"x","samples":2}"#,
            r#"{"prompt":"x","seed":-1}"#,
            r#"{"image":"https://x/y.png"}"#,
            r#"{"mode":"image","prompt":"x"}"#,
        ] {
            assert!(v(bad).is_err(), "{bad}");
        }
        let long = format!(r#"{{"prompt":"{}"}}"#, "a".repeat(78));
        assert_eq!(v(&long).unwrap_err().param().as_deref(), Some("prompt"));
        // A blank prompt counts as absent, but not past the length limit.
        let blank = format!(
            r#"{{"prompt":"{}","image":"data:image/png;base64,iVBO"}}"#,
            " ".repeat(78)
        );
        assert_eq!(v(&blank).unwrap_err().param().as_deref(), Some("prompt"));
        let blank = r#"{"prompt":"  ","image":"data:image/png;base64,iVBO"}"#;
        assert_eq!(v(blank).unwrap().mode, TrellisMode::Image);
        assert!(
            serde_json::from_str::<TrellisRequest>(r#"{"prompt":"x","output_format":"obj"}"#)
                .is_err()
        );
    }
}
