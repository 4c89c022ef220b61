//! Output constraints on the real model: whatever the seed and temperature, the text matches.

use ingot_engine::{Constraint, EngineError, FinishReason, Grammar};
use serde_json::{Value, json};

use crate::common::{collect, engine, job};

fn constrained(user: &str, grammar: Grammar, seed: u64, n: u32) -> ingot_engine::ChatJob {
    let mut j = job(user, 300);
    j.sampling.temperature = 1.0;
    j.sampling.seed = Some(seed);
    j.n = n;
    j.constraint = Some(Constraint::new(grammar, "response_format"));
    j
}

#[test]
fn json_schema_output_always_parses_and_fits() {
    let Some(engine) = engine() else { return };
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 20},
            "age": {"type": "integer", "minimum": 0, "maximum": 120},
            "colour": {"enum": ["red", "green", "blue"]},
            "tags": {"type": "array", "items": {"type": "boolean"}, "minItems": 1, "maxItems": 3},
            "home": {
                "type": "object",
                "properties": {"city": {"type": "string", "maxLength": 12}},
                "required": ["city"]
            }
        },
        "required": ["name", "age", "colour", "tags", "home"]
    });
    for seed in [1, 2, 3] {
        let handle = engine
            .submit(constrained(
                "Describe a person as JSON.",
                Grammar::JsonSchema(schema.clone()),
                seed,
                2,
            ))
            .unwrap();
        for out in collect(handle, 2) {
            assert_eq!(out.finish, Some(FinishReason::Stop), "{}", out.text);
            let v: Value = serde_json::from_str(&out.text).unwrap_or_else(|e| {
                panic!("seed {seed}: not JSON ({e}): {}", out.text);
            });
            let o = v.as_object().expect("an object");
            assert_eq!(o.len(), 5, "no extra properties: {v}");
            assert!(o["name"].as_str().is_some_and(|s| s.chars().count() <= 20));
            assert!(o["age"].as_i64().is_some_and(|a| (0..=120).contains(&a)));
            assert!(["red", "green", "blue"].contains(&o["colour"].as_str().unwrap()));
            let tags = o["tags"].as_array().unwrap();
            assert!((1..=3).contains(&tags.len()) && tags.iter().all(Value::is_boolean));
            assert!(o["home"]["city"].is_string(), "{v}");
        }
    }
}

#[test]
fn choices_and_regexes_are_matched_exactly() {
    let Some(engine) = engine() else { return };
    let choices = vec![
        "positive".to_owned(),
        "negative".to_owned(),
        "mixed feelings".to_owned(),
    ];
    for seed in 0..4 {
        let mut j = constrained(
            "Is 'I love rain' positive or negative?",
            Grammar::Choice(choices.clone()),
            seed,
            1,
        );
        j.sampling.temperature = 1.5;
        let out = collect(engine.submit(j).unwrap(), 1).remove(0);
        assert!(choices.contains(&out.text), "{:?}", out.text);
        assert_eq!(out.finish, Some(FinishReason::Stop));
    }
    for seed in 0..4 {
        let j = constrained(
            "Give me a product code.",
            Grammar::Regex(r"[A-Z]{3}-\d{2,4}".into()),
            seed,
            1,
        );
        let out = collect(engine.submit(j).unwrap(), 1).remove(0);
        let (head, tail) = out.text.split_once('-').expect("a dash");
        assert!(
            head.len() == 3 && head.chars().all(|c| c.is_ascii_uppercase()),
            "{}",
            out.text
        );
        assert!(
            (2..=4).contains(&tail.len()) && tail.chars().all(|c| c.is_ascii_digit()),
            "{}",
            out.text
        );
    }
}

#[test]
fn a_lark_grammar_constrains_and_streams() {
    let Some(engine) = engine() else { return };
    let lark = r#"
        start: "The answer is " NUMBER "."
        NUMBER: /[1-9][0-9]{0,2}/
    "#;
    let mut j = constrained("What is 6 times 7?", Grammar::Lark(lark.into()), 5, 1);
    j.top_logprobs = Some(2);
    let out = collect(engine.submit(j).unwrap(), 1).remove(0);
    let n = out
        .text
        .strip_prefix("The answer is ")
        .and_then(|r| r.strip_suffix('.'))
        .unwrap_or_else(|| panic!("{:?}", out.text));
    assert!(
        n.parse::<u32>().is_ok_and(|v| (1..1000).contains(&v)),
        "{n}"
    );
    assert!(out.deltas >= 2, "streamed in pieces");
    assert_eq!(
        out.logprobs
            .iter()
            .map(|l| l.token.as_str())
            .collect::<String>(),
        out.text
    );
}

#[test]
fn constrained_output_ends_even_with_ignore_eos() {
    let Some(engine) = engine() else { return };
    let mut j = constrained(
        "Pick one.",
        Grammar::Choice(vec!["yes".into(), "no".into()]),
        9,
        1,
    );
    j.ignore_eos = true;
    let out = collect(engine.submit(j).unwrap(), 1).remove(0);
    assert!(out.text == "yes" || out.text == "no", "{:?}", out.text);
    assert_eq!(out.finish, Some(FinishReason::Stop));
}

#[test]
fn stop_strings_and_max_tokens_still_apply() {
    let Some(engine) = engine() else { return };
    let mut j = constrained("Count.", Grammar::Regex("(ab){2,}c".into()), 3, 1);
    j.stop = vec!["ba".into()];
    let out = collect(engine.submit(j).unwrap(), 1).remove(0);
    assert_eq!(out.text, "a", "stopped at the first `ba`: {:?}", out.text);
    let mut j = constrained("Count.", Grammar::Regex("(ab)+c".into()), 3, 1);
    j.max_tokens = Some(2);
    let out = collect(engine.submit(j).unwrap(), 1).remove(0);
    assert!(out.completion_tokens <= 2);
}

#[test]
fn bad_constraints_name_their_field() {
    let Some(engine) = engine() else { return };
    for (grammar, needle) in [
        (
            Grammar::JsonSchema(json!({"type": "object", "properties": {"a": {"$ref": "#/nope"}}})),
            "schema",
        ),
        (Grammar::JsonSchema(json!({"type": "strnig"})), "schema"),
        (Grammar::Regex("(unclosed".into()), "regular expression"),
        (Grammar::Lark("start: undefined_rule".into()), "grammar"),
        (Grammar::Choice(vec![]), "empty"),
    ] {
        let mut j = job("hi", 5);
        j.constraint = Some(Constraint::new(grammar.clone(), "nvext.guided_json"));
        match engine.submit(j) {
            Err(EngineError::Grammar { param, message }) => {
                assert_eq!(param, "nvext.guided_json");
                assert!(message.contains(needle), "{grammar:?}: {message}");
            }
            other => panic!("{grammar:?}: {other:?}"),
        }
    }
}
