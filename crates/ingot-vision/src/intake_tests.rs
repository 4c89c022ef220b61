use super::*;

/// A 1×1 PNG, base64.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

fn msgs(json: &str) -> Vec<ChatMessage> {
    serde_json::from_str(json).unwrap()
}

fn run(json: &str) -> Result<Intake, InputError> {
    extract(&msgs(json), &IntakeLimits::default())
}

#[test]
fn object_bare_string_and_several_images_in_order() {
    let json = format!(
        r#"[{{"role":"system","content":"Be terse."}},
            {{"role":"user","content":[
              {{"type":"text","text":"Compare"}},
              {{"type":"image_url","image_url":{{"url":"data:image/png;base64,{PNG}","detail":"low"}}}},
              {{"type":"image_url","image_url":"data:image/jpg;base64,{PNG}"}},
              {{"type":"image_url","image_url":{{"url":"https://example.com/c.png"}}}}]}}]"#
    );
    let i = run(&json).unwrap();
    assert_eq!(i.media.len(), 3);
    assert_eq!(
        i.media.iter().map(|m| m.number).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(i.media[0].detail, Detail::Low);
    assert_eq!(
        i.media[0].loc.to_string(),
        "messages -> 1 -> content -> 1 -> image_url -> url"
    );
    assert_eq!(
        i.media[1].loc.to_string(),
        "messages -> 1 -> content -> 2 -> image_url"
    );
    assert!(matches!(&i.media[1].source, MediaSource::Inline(d) if d.mime == "image/jpeg"));
    assert!(
        matches!(&i.media[2].source, MediaSource::Remote(u) if u.as_str() == "https://example.com/c.png")
    );
    let text = i.text_messages(&msgs(&json), |k| format!("[Image {}]", k + 1));
    assert_eq!(
        text[1].content,
        Some(MessageContent::Text(
            "Compare\n[Image 1]\n[Image 2]\n[Image 3]".into()
        ))
    );
    assert_eq!(text[0], msgs(&json)[0]);
}

#[test]
fn img_tags_in_string_content_are_extracted_and_stripped() {
    let json = format!(
        r#"[{{"role":"user","content":"What is in <img src=\"data:image/png;base64,{PNG}\" /> and <img src='data:image/png;base64,{PNG}'>?"}}]"#
    );
    let m = msgs(&json);
    let i = extract(&m, &IntakeLimits::default()).unwrap();
    assert_eq!(i.media.len(), 2);
    assert_eq!(i.media[1].loc.to_string(), "messages -> 0 -> content");
    let text = i.text_messages(&m, |k| format!("<{k}>"));
    assert_eq!(
        text[0].content,
        Some(MessageContent::Text("What is in\n<0>\nand\n<1>\n?".into()))
    );
    // Not in assistant messages: there it is just text.
    let json = r#"[{"role":"assistant","content":"<img src=\"data:image/png;base64,AAAA\">"}]"#;
    assert!(run(json).unwrap().is_empty());
}

#[test]
fn video_parts_and_the_one_video_limit() {
    let one = r#"[{"role":"user","content":[{"type":"video_url","video_url":{"url":"https://example.com/v.mp4"}}]}]"#;
    let i = run(one).unwrap();
    assert_eq!(i.media[0].kind, MediaKind::Video);
    assert_eq!(
        i.media[0].loc.to_string(),
        "messages -> 0 -> content -> 0 -> video_url -> url"
    );
    let two = r#"[{"role":"user","content":[
        {"type":"video_url","video_url":{"url":"data:video/mp4;base64,AAAAIGZ0eXA="}},
        {"type":"video_url","video_url":"data:video/webm;base64,GkXfow=="}]}]"#;
    let e = run(two).unwrap_err();
    assert_eq!(
        e.to_string(),
        "messages -> 0 -> content -> 1 -> video_url: At most 1 video(s) may be provided in one prompt"
    );
}

#[test]
fn unsupported_schemes_asset_ids_and_types_name_the_path() {
    for (url, needle) in [
        ("file:///etc/passwd", "unsupported URL scheme `file`"),
        ("ftp://example.com/a.png", "unsupported URL scheme `ftp`"),
        ("gopher://x/", "unsupported URL scheme `gopher`"),
        (
            "data:image/png;asset_id,0d5d1a9e-1b7f",
            "NVCF asset references",
        ),
        (
            "data:image/svg+xml;base64,PHN2Zz4=",
            "unsupported media type `image/svg+xml`",
        ),
        ("data:image/png;base64,%%%%", "invalid base64"),
        ("not a url", "invalid URL"),
        ("", "the URL is empty"),
    ] {
        let json = format!(
            r#"[{{"role":"user","content":[{{"type":"text","text":"hi"}},{{"type":"image_url","image_url":{{"url":"{url}"}}}}]}}]"#
        );
        let e = run(&json).unwrap_err();
        let s = e.to_string();
        assert!(
            s.starts_with("messages -> 0 -> content -> 1 -> image_url -> url: "),
            "{url}: {s}"
        );
        assert!(s.contains(needle), "{url}: {s}");
    }
}

#[test]
fn langchain_blocks_are_translated_or_refused() {
    let json = format!(
        r#"[{{"role":"user","content":[
        {{"type":"image","base64":"{PNG}","mime_type":"image/png"}},
        {{"type":"image","source_type":"url","url":"https://example.com/a.png"}},
        {{"type":"image","source_type":"base64","data":"{PNG}"}},
        {{"type":"image","source":{{"type":"base64","media_type":"image/png","data":"{PNG}"}}}}]}}]"#
    );
    let i = run(&json).unwrap();
    assert_eq!(i.media.len(), 4);
    assert!(matches!(&i.media[1].source, MediaSource::Remote(_)));
    assert!(matches!(&i.media[2].source, MediaSource::Inline(d) if d.mime == "image/png"));
    assert_eq!(
        i.media[3].loc.to_string(),
        "messages -> 0 -> content -> 3 -> source -> data"
    );

    let e =
        run(r#"[{"role":"user","content":[{"type":"image","file_id":"file-123"}]}]"#).unwrap_err();
    assert!(e.to_string().contains("file ids are not supported"), "{e}");
    let e = run(r#"[{"role":"user","content":[{"type":"image"}]}]"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "messages -> 0 -> content -> 0: `image` content block: it carries neither `url` nor `base64` data; send an `image_url` part instead"
    );
    let e =
        run(r#"[{"role":"user","content":[{"type":"image","base64":"aGVsbG8="}]}]"#).unwrap_err();
    assert!(e.to_string().contains("unsupported media type"), "{e}");
    let e = run(r#"[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA","format":"wav"}}]}]"#)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("`input_audio` content parts are not supported"),
        "{e}"
    );
}

#[test]
fn caps_count_and_inline_size() {
    let limits = IntakeLimits {
        max_images: 1,
        max_image_bytes: 10,
        ..IntakeLimits::default()
    };
    let two = r#"[{"role":"user","content":[{"type":"image_url","image_url":"https://a.example/1.png"},{"type":"image_url","image_url":"https://a.example/2.png"}]}]"#;
    let e = extract(&msgs(two), &limits).unwrap_err();
    assert!(e.to_string().contains("At most 1 image(s)"), "{e}");
    let big = format!(
        r#"[{{"role":"user","content":[{{"type":"image_url","image_url":"data:image/png;base64,{PNG}"}}]}}]"#
    );
    let e = extract(&msgs(&big), &limits).unwrap_err();
    assert!(
        e.to_string().contains("larger than the limit of 10 bytes"),
        "{e}"
    );
}
