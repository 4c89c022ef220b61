//! Shared helpers: tool checks, text rendering with a real font, a tiny HTTP server.

use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use base64::Engine as _;
use image::{Rgb, RgbImage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";

/// Whether `INGOT_REQUIRE_TOOLS=1` makes missing tools a failure.
fn required() -> bool {
    std::env::var("INGOT_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

fn missing(what: &str, package: &str) -> bool {
    let msg = format!("{what} is not available (Debian package {package})");
    if required() {
        panic!("{msg}, and INGOT_REQUIRE_TOOLS=1");
    }
    eprintln!("SKIPPED: {msg}; set INGOT_REQUIRE_TOOLS=1 to make this a failure");
    false
}

/// True when every named tool runs; otherwise skips (or fails under INGOT_REQUIRE_TOOLS=1).
pub fn have_tools(tools: &[&str]) -> bool {
    for t in tools {
        let flag = if *t == "tesseract" {
            "--version"
        } else {
            "-version"
        };
        let ok = Command::new(t)
            .arg(flag)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            let pkg = match *t {
                "tesseract" => "tesseract-ocr + tesseract-ocr-eng",
                _ => "ffmpeg",
            };
            return missing(&format!("`{t}`"), pkg);
        }
    }
    true
}

/// DejaVu Sans Bold, or `None` (skip) when fonts-dejavu-core is not installed.
pub fn font() -> Option<FontVec> {
    match std::fs::read(FONT)
        .ok()
        .and_then(|d| FontVec::try_from_vec(d).ok())
    {
        Some(f) => Some(f),
        None => {
            missing(FONT, "fonts-dejavu-core");
            None
        }
    }
}

/// Draws `lines` at `px` pixels on a `w`×`h` canvas of `bg`, in `fg`, from the top left.
pub fn render(
    font: &FontVec,
    lines: &[&str],
    (w, h): (u32, u32),
    px: f32,
    fg: [u8; 3],
    bg: [u8; 3],
) -> RgbImage {
    let mut img = RgbImage::from_pixel(w, h, Rgb(bg));
    let scale = PxScale::from(px);
    let sf = font.as_scaled(scale);
    let mut baseline = px * 0.6 + sf.ascent();
    for line in lines {
        let mut x = px * 0.6;
        let mut prev = None;
        for c in line.chars() {
            let id = sf.glyph_id(c);
            if let Some(p) = prev {
                x += sf.kern(p, id);
            }
            let glyph = id.with_scale_and_position(scale, point(x, baseline));
            x += sf.h_advance(id);
            prev = Some(id);
            let Some(outline) = font.outline_glyph(glyph) else {
                continue;
            };
            let b = outline.px_bounds();
            outline.draw(|gx, gy, cov| {
                let (px_, py_) = (
                    b.min.x as i64 + i64::from(gx),
                    b.min.y as i64 + i64::from(gy),
                );
                if px_ < 0 || py_ < 0 || px_ >= i64::from(w) || py_ >= i64::from(h) {
                    return;
                }
                let p = img.get_pixel_mut(px_ as u32, py_ as u32);
                for (c, f) in p.0.iter_mut().zip(fg) {
                    *c = (f32::from(f) * cov + f32::from(*c) * (1.0 - cov)).round() as u8;
                }
            });
        }
        baseline += sf.height() + sf.line_gap() + px * 0.3;
    }
    img
}

/// Encodes as PNG.
pub fn png(img: &RgbImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// `data:<mime>;base64,…`.
pub fn data_url(mime: &str, bytes: &[u8]) -> String {
    format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// A PNG of black `text` on white, large enough for reliable OCR.
pub fn word_png(font: &FontVec, text: &str) -> Vec<u8> {
    png(&render(
        font,
        &[text],
        (640, 160),
        64.0,
        [0, 0, 0],
        [255, 255, 255],
    ))
}

/// Messages from JSON.
pub fn messages(json: &serde_json::Value) -> Vec<ingot_protocol::chat::ChatMessage> {
    serde_json::from_value(json.clone()).unwrap()
}

/// What the test server answers on a path.
#[derive(Clone)]
pub enum Reply {
    /// 200 with a body; `length: false` sends no Content-Length (read to close).
    Body {
        content_type: &'static str,
        body: Vec<u8>,
        length: bool,
    },
    /// 302 to a location.
    Redirect(String),
    /// Accepts and never answers.
    Hang,
}

/// An HTTP/1.1 server on a loopback address that counts accepted connections.
pub struct TestServer {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a server on `ip` (port chosen by the OS); `None` if `ip` cannot be bound.
pub async fn serve(
    ip: IpAddr,
    route: impl Fn(&str) -> Reply + Send + Sync + 'static,
) -> Option<TestServer> {
    let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await.ok()?;
    let addr = listener.local_addr().ok()?;
    let connections = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&connections);
    let route = Arc::new(route);
    let task = tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let route = Arc::clone(&route);
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16 * 1024 {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&req);
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let reply = route(&path);
                let bytes = match reply {
                    Reply::Hang => {
                        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                        return;
                    }
                    Reply::Redirect(loc) => format!(
                        "HTTP/1.1 302 Found\r\nLocation: {loc}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    .into_bytes(),
                    Reply::Body {
                        content_type,
                        body,
                        length,
                    } => {
                        let mut head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nConnection: close\r\n"
                        );
                        if length {
                            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
                        }
                        head.push_str("\r\n");
                        [head.into_bytes(), body].concat()
                    }
                };
                let _ = sock.write_all(&bytes).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Some(TestServer {
        addr,
        connections,
        task,
    })
}
