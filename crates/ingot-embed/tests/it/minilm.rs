use ingot_embed::{
    EmbedError, EmbedInput, EmbedOptions, Embedder, EmbedderConfig, InputType, Truncate,
};

use crate::common::{cosine, fixture, minilm, minilm_with, texts, vec_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minilm_matches_sentence_transformers() {
    let Some(model) = minilm() else { return };
    matches_sentence_transformers(&model, "default (bf16 where the CPU has it)").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minilm_f32_matches_sentence_transformers() {
    let cfg = EmbedderConfig {
        bf16: false,
        ..EmbedderConfig::default()
    };
    let Some(model) = minilm_with(&cfg) else {
        return;
    };
    matches_sentence_transformers(&model, "f32").await;
}

async fn matches_sentence_transformers(model: &Embedder, precision: &str) {
    let info = model.info();
    assert_eq!(
        (info.dims, info.max_tokens, info.uses_prefixes),
        (384, 256, false)
    );
    let fx = fixture("minilm_fixture.json");
    let items = fx["items"].as_array().expect("items");
    assert!(items.len() >= 50);
    let sentences: Vec<String> = items
        .iter()
        .map(|i| i["text"].as_str().expect("text").to_string())
        .collect();
    let out = model
        .embed(texts(&sentences), EmbedOptions::default())
        .await
        .expect("embed");
    assert_eq!(out.vectors.len(), items.len());
    let want_tokens: u64 = items
        .iter()
        .map(|i| i["tokens"].as_u64().expect("tokens"))
        .sum();
    assert_eq!(
        out.prompt_tokens as u64, want_tokens,
        "token counts match the HF tokenizer"
    );
    let mut worst = (1.0f32, String::new());
    for (item, got) in items.iter().zip(&out.vectors) {
        let c = cosine(got, &vec_of(&item["embedding"]));
        if c < worst.0 {
            worst = (c, item["text"].as_str().unwrap_or_default().to_string());
        }
    }
    eprintln!(
        "MiniLM {precision} worst cosine vs sentence-transformers: {:.6} ({:?})",
        worst.0, worst.1
    );
    assert!(worst.0 >= 0.999, "cosine {} for {:?}", worst.0, worst.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minilm_single_calls_equal_one_batched_call_and_concurrent_calls() {
    let Some(model) = minilm() else { return };
    let s = [
        "short one",
        "a somewhat longer sentence about the weather in spring",
        "x",
    ];
    let batched = model
        .embed(texts(&s), EmbedOptions::default())
        .await
        .expect("embed");
    // Concurrent single-input calls are gathered by the worker into shared batches.
    let calls = s.iter().map(|t| {
        let m = model.clone();
        let t = t.to_string();
        tokio::spawn(async move {
            m.embed(vec![EmbedInput::Text(t)], EmbedOptions::default())
                .await
        })
    });
    let singles: Vec<_> = futures_join(calls).await;
    for (one, want) in singles.iter().zip(&batched.vectors) {
        let one = one.as_ref().expect("single embed");
        assert!(cosine(&one.vectors[0], want) > 0.99999);
    }
    // Symmetric model: input_type is accepted and ignored.
    let q = EmbedOptions {
        input_type: Some(InputType::Passage),
        truncate: Truncate::None,
    };
    let p = model.embed(texts(&s[..1]), q).await.expect("embed");
    assert!(cosine(&p.vectors[0], &batched.vectors[0]) > 0.99999);
}

async fn futures_join<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("join"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minilm_length_limit_and_truncation() {
    let Some(model) = minilm() else { return };
    let long = "word ".repeat(300); // 300 word pieces + 2 specials
    let err = model
        .embed(texts(&[&long]), EmbedOptions::default())
        .await
        .expect_err("too long");
    match &err {
        EmbedError::TooLong {
            index: 0,
            tokens: 302,
            max: 256,
        } => {}
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("Input length 302 exceeds maximum allowed token size 256")
    );
    for truncate in [Truncate::Start, Truncate::End] {
        let out = model
            .embed(
                texts(&[&long]),
                EmbedOptions {
                    input_type: None,
                    truncate,
                },
            )
            .await
            .expect("truncated");
        assert_eq!(out.prompt_tokens, 256);
    }
    // END keeps the head, START the tail.
    let mixed = format!("{}{}", "alpha ".repeat(300), "omega ".repeat(300));
    let end = model
        .embed(
            texts(&[&mixed]),
            EmbedOptions {
                input_type: None,
                truncate: Truncate::End,
            },
        )
        .await
        .expect("end");
    let start = model
        .embed(
            texts(&[&mixed]),
            EmbedOptions {
                input_type: None,
                truncate: Truncate::Start,
            },
        )
        .await
        .expect("start");
    let alpha = model
        .embed(texts(&["alpha ".repeat(254)]), EmbedOptions::default())
        .await
        .expect("alpha");
    let omega = model
        .embed(texts(&["omega ".repeat(254)]), EmbedOptions::default())
        .await
        .expect("omega");
    assert!(cosine(&end.vectors[0], &alpha.vectors[0]) > 0.9999);
    assert!(cosine(&start.vectors[0], &omega.vectors[0]) > 0.9999);

    let err = model
        .embed(texts(&["ok", ""]), EmbedOptions::default())
        .await
        .expect_err("empty");
    assert!(matches!(err, EmbedError::EmptyInput { index: 1 }));
    let err = model
        .embed(vec![], EmbedOptions::default())
        .await
        .expect_err("none");
    assert!(matches!(err, EmbedError::NoInputs));
    let err = model
        .embed(texts(&vec!["a"; 2049]), EmbedOptions::default())
        .await
        .expect_err("many");
    assert!(matches!(
        err,
        EmbedError::TooManyInputs {
            count: 2049,
            max: 2048
        }
    ));
    let err = model
        .embed(
            vec![EmbedInput::Tokens(vec![101, 40000, 102])],
            EmbedOptions::default(),
        )
        .await
        .expect_err("bad id");
    assert!(matches!(
        err,
        EmbedError::InvalidToken {
            index: 0,
            token: 40000,
            ..
        }
    ));
    // Token input: the ids of "hello world" give the same vector as the text.
    let ids = model
        .embed(
            vec![EmbedInput::Tokens(vec![7592, 2088])],
            EmbedOptions::default(),
        )
        .await
        .expect("ids");
    let txt = model
        .embed(texts(&["hello world"]), EmbedOptions::default())
        .await
        .expect("text");
    assert_eq!(ids.prompt_tokens, 4);
    assert!(cosine(&ids.vectors[0], &txt.vectors[0]) > 0.99999);
    // 2048 inputs in one call.
    let many: Vec<String> = (0..2048).map(|i| format!("sentence number {i}")).collect();
    let out = model
        .embed(texts(&many), EmbedOptions::default())
        .await
        .expect("2048");
    assert_eq!(out.vectors.len(), 2048);
    let again = model
        .embed(texts(&many[1234..1235]), EmbedOptions::default())
        .await
        .expect("one");
    assert!(
        cosine(&out.vectors[1234], &again.vectors[0]) > 0.99999,
        "order is input order"
    );
}
