use std::io::Read as _;
use std::process::Stdio;
use std::time::Instant;

use crate::common::{have_models, ingot, output, spawn, stderr, stdout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_table_and_json() {
    let s = spawn(false, &[]).await;
    let o = output(ingot(&["models", "--base-url", &s.base_url])).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let table = stdout(&o);
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains("meta/llama-3.3-70b-instruct"));
    assert!(table.contains("microsoft/trellis"));

    let o = output(ingot(&["models", "--json", "--base-url", &s.base_url])).await;
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["object"], "list");
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "baai/bge-m3")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_in_the_references_terms_with_exit_codes() {
    let s = spawn(false, &["sekrit"]).await;
    // 401: no key, and a wrong key.
    let o = output(ingot(&["models", "--base-url", &s.base_url])).await;
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("NVIDIA_API_KEY"), "{}", stderr(&o));
    let mut c = ingot(&["models", "--base-url", &s.base_url]);
    c.env("NVIDIA_API_KEY", "wrong");
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(3));
    // The key from the environment works.
    let mut c = ingot(&["models", "--base-url", &s.base_url]);
    c.env("NVIDIA_API_KEY", "sekrit");
    assert!(output(c).await.status.success());
    // 404: an unknown model.
    let o = output(ingot(&[
        "chat",
        "hi",
        "--model",
        "nobody/nothing",
        "--api-key",
        "sekrit",
        "--base-url",
        &s.base_url,
    ]))
    .await;
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("model id"), "{}", stderr(&o));
    // 422: an invalid request (temperature out of range).
    let o = output(ingot(&[
        "chat",
        "hi",
        "--temperature",
        "7",
        "--api-key",
        "sekrit",
        "--base-url",
        &s.base_url,
    ]))
    .await;
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("422"), "{}", stderr(&o));
    // Nothing listening: a connection error after the retries.
    let o = output(ingot(&[
        "models",
        "--max-retries",
        "0",
        "--base-url",
        "http://127.0.0.1:9/v1",
    ]))
    .await;
    assert_eq!(o.status.code(), Some(8), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_streams_incrementally_and_matches_no_stream() {
    if !have_models() {
        return;
    }
    let s = spawn(true, &[]).await;
    let base = s.base_url.clone();
    let args = |extra: &[&str]| {
        let mut v = vec![
            "chat",
            "Write a short poem about rivers.",
            "--fast",
            "--max-tokens",
            "48",
            "--temperature",
            "0",
            "--base-url",
            &base,
        ];
        v.extend_from_slice(extra);
        v.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let streamed = args(&[]);
    let reads = tokio::task::spawn_blocking(move || {
        let mut c = ingot(&streamed.iter().map(String::as_str).collect::<Vec<_>>());
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let start = Instant::now();
        let mut reads = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = out.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            reads.push((
                start.elapsed(),
                String::from_utf8_lossy(&buf[..n]).into_owned(),
            ));
        }
        assert!(child.wait().unwrap().success());
        reads
    })
    .await
    .unwrap();
    let text: String = reads.iter().map(|(_, t)| t.as_str()).collect();
    assert!(
        reads.len() > 3,
        "expected the answer in several pieces, got {reads:?}"
    );
    let spread = reads.last().unwrap().0 - reads.first().unwrap().0;
    assert!(!spread.is_zero(), "all output arrived at once");

    let o = output(ingot(
        &args(&["--no-stream"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    ))
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim_end(), text.trim_end());

    // The prompt from standard input.
    let piped = args(&["--no-stream"]);
    let o = tokio::task::spawn_blocking(move || {
        let mut v: Vec<&str> = piped.iter().map(String::as_str).collect();
        v.remove(1); // drop the prompt argument
        let mut c = ingot(&v);
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"Write a short poem about rivers.")
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(stdout(&o).trim_end(), text.trim_end());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embed_formats() {
    if !have_models() {
        return;
    }
    let s = spawn(true, &[]).await;
    let o = output(ingot(&[
        "embed",
        "hello world",
        "good night",
        "--format",
        "jsonl",
        "--base-url",
        &s.base_url,
    ]))
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["text"], "good night");
    let v = lines[0]["embedding"].as_array().unwrap();
    assert_eq!(v.len(), 384);
    let norm: f64 = v.iter().map(|x| x.as_f64().unwrap().powi(2)).sum();
    assert!((norm - 1.0).abs() < 1e-3, "{norm}");

    let o = output(ingot(&[
        "embed",
        "hello world",
        "--format",
        "csv",
        "--base-url",
        &s.base_url,
    ]))
    .await;
    let row: Vec<f32> = stdout(&o)
        .trim()
        .split(',')
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(row.len(), 384);
    let first = lines[0]["embedding"][0].as_f64().unwrap() as f32;
    assert!((row[0] - first).abs() < 1e-6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gen3d_writes_a_valid_glb_and_stl() {
    let s = spawn(false, &[]).await;
    let dir = std::env::temp_dir().join(format!("ingot-cli-3d-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let glb = dir.join("chair.glb");
    let o = output(ingot(&[
        "3d",
        "a red wooden chair",
        "--seed",
        "7",
        "-o",
        glb.to_str().unwrap(),
        "--base-url",
        &s.base_url,
    ]))
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&glb).unwrap();
    assert_eq!(&bytes[..4], b"glTF");
    let g = gltf::Gltf::from_slice(&bytes).unwrap();
    assert!(g.meshes().count() > 0);
    assert!(stderr(&o).contains("seed 7"), "{}", stderr(&o));
    // An existing file is kept unless --force; a random seed is picked and printed.
    let again = |force: bool| {
        let mut args = vec!["3d", "a red wooden chair", "-o", glb.to_str().unwrap()];
        if force {
            args.push("--force");
        }
        args.extend(["--base-url", &s.base_url]);
        output(ingot(&args))
    };
    let o = again(false).await;
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    let o = again(true).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let seed: u64 = err
        .split("seed ")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no seed in {err}"));
    assert!(seed > 0);

    let stl = dir.join("chair.stl");
    let o = output(ingot(&[
        "3d",
        "a red wooden chair",
        "--seed",
        "7",
        "--format",
        "stl",
        "-o",
        stl.to_str().unwrap(),
        "--base-url",
        &s.base_url,
    ]))
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&stl).unwrap();
    let triangles = u32::from_le_bytes(bytes[80..84].try_into().unwrap()) as usize;
    assert!(triangles > 0);
    assert_eq!(bytes.len(), 84 + 50 * triangles);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Pixels of each of the three side-by-side views of a preview that differ from the background,
/// which is the same along a row (a vertical gradient) and shows at the left edge of each view.
fn foreground_per_view(png: &std::path::Path) -> Vec<usize> {
    let img = image::open(png).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    assert_eq!(w, 3 * h, "three square views side by side");
    (0..3)
        .map(|v| {
            let x0 = v * h;
            (0..h)
                .flat_map(|y| (x0..x0 + h).map(move |x| (x, y)))
                .filter(|&(x, y)| img.get_pixel(x, y) != img.get_pixel(x0, y))
                .count()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gen3d_preview_writes_a_png_of_the_asset() {
    let s = spawn(false, &[]).await;
    let dir = std::env::temp_dir().join(format!("ingot-cli-3d-preview-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let run = |args: &[&str]| {
        let mut all = vec!["3d", "a red wooden chair", "--seed", "7", "--steps", "10"];
        all.extend_from_slice(args);
        all.extend(["--base-url", &s.base_url]);
        output(ingot(&all))
    };
    let (glb, png) = (path("chair.glb"), path("chair.png"));
    let o = run(&["-o", &glb, "--preview", &png]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("wrote preview {png}")),
        "{}",
        stderr(&o)
    );
    assert_eq!(&std::fs::read(&glb).unwrap()[..4], b"glTF");
    let area = {
        let h = image::open(&png).unwrap().height() as usize;
        h * h
    };
    for (view, n) in foreground_per_view(png.as_ref()).into_iter().enumerate() {
        assert!(
            n > area / 50,
            "view {view}: only {n} of {area} pixels show the asset"
        );
    }

    // An existing preview is refused before the generation unless --force.
    let before = std::fs::read(&png).unwrap();
    let other = path("other.glb");
    let o = run(&["-o", &other, "--preview", &png]).await;
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert!(!std::path::Path::new(&other).exists(), "generated anyway");
    assert_eq!(std::fs::read(&png).unwrap(), before);
    let o = run(&["-o", &other, "--preview", &png, "--force"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    // The preview cannot replace the asset it shows.
    let o = run(&["-o", &other, "--preview", &other, "--force"]).await;
    assert!(!o.status.success());
    assert!(stderr(&o).contains("output file"), "{}", stderr(&o));

    // STL assets are drawn too.
    let (stl, stl_png) = (path("chair.stl"), path("chair-stl.png"));
    let o = run(&["--format", "stl", "-o", &stl, "--preview", &stl_png]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    for (view, n) in foreground_per_view(stl_png.as_ref())
        .into_iter()
        .enumerate()
    {
        assert!(
            n > area / 50,
            "STL view {view}: only {n} pixels show the asset"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn completions_for_bash() {
    let o = output(ingot(&["completions", "bash"])).await;
    assert!(o.status.success());
    let script = stdout(&o);
    assert!(script.contains("_ingot()"), "{script}");
    assert!(script.contains("vision"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerank_orders_passages_and_complete_fills_the_middle() {
    if !have_models() {
        return;
    }
    let s = spawn(true, &[]).await;
    let o = output(ingot(&[
        "rerank",
        "How long should I boil an egg?",
        "Hens lay about one egg a day.",
        "Boil the egg for nine minutes for a firm yolk.",
        "--base-url",
        &s.base_url,
    ]))
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("1. [1] ") && lines[0].contains("nine minutes"),
        "{out}"
    );

    let o = output(ingot(&[
        "complete",
        "def add(a, b):\n    ",
        "--suffix",
        "\n\nprint(add(1, 2))\n",
        "--max-tokens",
        "12",
        "--temperature",
        "0",
        "--base-url",
        &s.base_url,
    ]))
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("return"), "{}", stdout(&o));
    // The small model has no FIM tokens: the server's 400 is an invalid-request exit.
    let o = output(ingot(&[
        "complete",
        "x",
        "--suffix",
        "y",
        "-m",
        "meta/llama-3.1-8b-instruct",
        "--base-url",
        &s.base_url,
    ]))
    .await;
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("fill-in-the-middle"), "{}", stderr(&o));
}

#[tokio::test]
async fn vision_refuses_a_missing_file_instead_of_asking_it() {
    let dir = std::env::temp_dir().join(format!("ingot-cli-vision-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join("a.png");
    std::fs::write(&png, b"not read: the command stops first").unwrap();
    let o = output(ingot(&[
        "vision",
        png.to_str().unwrap(),
        "b.pmg",
        "--base-url",
        "http://127.0.0.1:9/v1",
    ]))
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("b.pmg: no such file"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_takes_stdin_as_context_for_the_prompt() {
    if !have_models() {
        return;
    }
    let s = spawn(true, &[]).await;
    let run = |stdin: Option<&'static str>| {
        let mut c = ingot(&[
            "chat",
            "Summarize in three words.",
            "--no-stream",
            "--json",
            "--max-tokens",
            "4",
            "-m",
            "meta/llama-3.1-8b-instruct",
            "--base-url",
            &s.base_url,
        ]);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        tokio::task::spawn_blocking(move || {
            let mut child = c.spawn().unwrap();
            let mut input = child.stdin.take().unwrap();
            if let Some(text) = stdin {
                std::io::Write::write_all(&mut input, text.as_bytes()).unwrap();
            }
            drop(input);
            child.wait_with_output().unwrap()
        })
    };
    let prompt_tokens = |o: &std::process::Output| {
        assert!(o.status.success(), "{}", stderr(o));
        let v: serde_json::Value = serde_json::from_str(&stdout(o)).unwrap();
        v["usage"]["prompt_tokens"].as_u64().unwrap()
    };
    let alone = prompt_tokens(&run(None).await.unwrap());
    let notes = "The meeting moved from Tuesday to Thursday at noon, in room 4B.\n";
    let with_notes = prompt_tokens(&run(Some(notes)).await.unwrap());
    assert!(with_notes > alone + 10, "{alone} vs {with_notes}");
}

/// A chat server whose model reasons first: SSE chunks for streams, one body otherwise.
async fn reasoning_server() -> String {
    let app = axum::Router::new().fallback(|body: axum::body::Bytes| async move {
        let req: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let chunk = |delta: serde_json::Value| {
            format!(
                "data: {}\n\n",
                serde_json::json!({"id": "c", "object": "chat.completion.chunk", "created": 1,
                    "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": null}]})
            )
        };
        if req["stream"] == true {
            let body = [
                chunk(serde_json::json!({"role": "assistant", "content": ""})),
                chunk(serde_json::json!({"reasoning_content": "Let me think."})),
                chunk(serde_json::json!({"reasoning_content": " 2+2=4."})),
                chunk(serde_json::json!({"content": "4"})),
                "data: [DONE]\n\n".to_owned(),
            ]
            .concat();
            ([("content-type", "text/event-stream")], body)
        } else {
            let body = serde_json::json!({"id": "c", "object": "chat.completion", "created": 1,
                "model": "m", "choices": [{"index": 0, "finish_reason": "stop", "message":
                {"role": "assistant", "content": "4", "reasoning_content": "Let me think."}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}});
            ([("content-type", "application/json")], body.to_string())
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_goes_to_stderr_before_the_answer() {
    let base = reasoning_server().await;
    for extra in [None, Some("--no-stream")] {
        let mut args = vec![
            "chat",
            "2+2?",
            "-m",
            "deepseek-ai/deepseek-r1",
            "--base-url",
            &base,
        ];
        args.extend(extra);
        let o = output(ingot(&args)).await;
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o), "4\n", "{extra:?}");
        assert!(
            stderr(&o).contains("Let me think."),
            "{extra:?}: {}",
            stderr(&o)
        );
        assert!(!stderr(&o).contains('\u{1b}'), "no colours off a terminal");
    }
}
