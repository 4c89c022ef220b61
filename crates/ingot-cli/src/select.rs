//! The reference's decision tree: the inputs pick the endpoint, `--model` or a use-case flag
//! picks the model (the "Model Selection" tables of the NIM API reference).

/// What the user asked for, by flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UseCase {
    /// `--fast`: fast, cost-effective.
    pub fast: bool,
    /// `--quality`: highest quality.
    pub quality: bool,
    /// `--reasoning`: complex reasoning.
    pub reasoning: bool,
    /// `--code`: code generation.
    pub code: bool,
    /// `--ocr`: OCR, documents, several images.
    pub ocr: bool,
    /// `--multilingual`: multilingual embeddings.
    pub multilingual: bool,
}

/// Default text model: general purpose, high quality.
pub const CHAT_DEFAULT: &str = "meta/llama-3.3-70b-instruct";
/// Default vision model: the balance of speed and quality.
pub const VISION_DEFAULT: &str = "meta/llama-3.2-11b-vision-instruct";
/// Default embedding model.
pub const EMBED_DEFAULT: &str = "nvidia/nv-embed-v1";

/// The text-generation table.
pub fn chat_model(u: UseCase) -> &'static str {
    if u.reasoning {
        "deepseek-ai/deepseek-r1"
    } else if u.code {
        "mistralai/codestral-22b-instruct-v0.1"
    } else if u.fast {
        "meta/llama-3.1-8b-instruct"
    } else {
        CHAT_DEFAULT
    }
}

/// The image-understanding table; `video` picks a model that takes `video_url`.
pub fn vision_model(u: UseCase, images: usize, video: bool) -> &'static str {
    if video || u.ocr || images > 1 {
        "nvidia/nemotron-nano-12b-v2-vl"
    } else if u.quality {
        "meta/llama-3.2-90b-vision-instruct"
    } else if u.fast {
        "microsoft/phi-4-multimodal-instruct"
    } else {
        VISION_DEFAULT
    }
}

/// The text-completion id `ingot complete` uses without --model: a code model.
pub const COMPLETE_DEFAULT: &str = "bigcode/starcoder2-7b";
/// The reranking id `ingot rerank` uses without --model.
pub const RERANK_DEFAULT: &str = "nvidia/llama-3.2-nv-rerankqa-1b-v2";

/// The embeddings table.
pub fn embed_model(u: UseCase) -> &'static str {
    if u.multilingual {
        "baai/bge-m3"
    } else {
        EMBED_DEFAULT
    }
}

/// A chat request with an attached image goes to a vision model: the tree's second branch.
pub fn chat_or_vision(u: UseCase, images: usize, video: bool) -> &'static str {
    if images > 0 || video {
        vision_model(u, images, video)
    } else {
        chat_model(u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_follow_the_reference() {
        let u = UseCase::default();
        assert_eq!(chat_model(u), "meta/llama-3.3-70b-instruct");
        assert_eq!(
            chat_model(UseCase { fast: true, ..u }),
            "meta/llama-3.1-8b-instruct"
        );
        assert_eq!(
            chat_model(UseCase {
                reasoning: true,
                ..u
            }),
            "deepseek-ai/deepseek-r1"
        );
        assert_eq!(
            chat_model(UseCase { code: true, ..u }),
            "mistralai/codestral-22b-instruct-v0.1"
        );
        assert_eq!(
            vision_model(u, 1, false),
            "meta/llama-3.2-11b-vision-instruct"
        );
        assert_eq!(
            vision_model(UseCase { ocr: true, ..u }, 1, false),
            "nvidia/nemotron-nano-12b-v2-vl"
        );
        assert_eq!(vision_model(u, 3, false), "nvidia/nemotron-nano-12b-v2-vl");
        assert_eq!(vision_model(u, 0, true), "nvidia/nemotron-nano-12b-v2-vl");
        assert_eq!(
            vision_model(UseCase { quality: true, ..u }, 1, false),
            "meta/llama-3.2-90b-vision-instruct"
        );
        assert_eq!(
            vision_model(UseCase { fast: true, ..u }, 1, false),
            "microsoft/phi-4-multimodal-instruct"
        );
        assert_eq!(embed_model(u), "nvidia/nv-embed-v1");
        assert_eq!(
            embed_model(UseCase {
                multilingual: true,
                ..u
            }),
            "baai/bge-m3"
        );
    }

    #[test]
    fn an_image_picks_a_vision_model() {
        let u = UseCase {
            code: true,
            ..UseCase::default()
        };
        assert_eq!(
            chat_or_vision(u, 0, false),
            "mistralai/codestral-22b-instruct-v0.1"
        );
        assert_eq!(chat_or_vision(u, 1, false), VISION_DEFAULT);
    }
}
