//! The fetcher's SSRF rules against real local sockets: refused destinations are never
//! connected to, redirects are checked hop by hop, and bodies stop at the cap.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ingot_vision::fetch::BlockReason;
use ingot_vision::{Allowlist, FetchConfig, FetchError, Fetcher, StaticResolver};
use reqwest::Url;

use crate::common::{Reply, TestServer, serve};

const CAP: usize = 1 << 20;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn fetcher(allow: &[&str], resolver: StaticResolver) -> Fetcher {
    let cfg = FetchConfig {
        allowlist: Allowlist::from_entries(allow).unwrap(),
        connect_timeout: Duration::from_secs(2),
        total_timeout: Duration::from_secs(5),
        ..FetchConfig::default()
    };
    Fetcher::with_resolver(cfg, Arc::new(resolver)).unwrap()
}

async fn victim(addr: &str) -> Option<TestServer> {
    serve(ip(addr), |_| Reply::Body {
        content_type: "image/png",
        body: b"secret".to_vec(),
        length: true,
    })
    .await
}

async fn fetch(f: &Fetcher, url: &str) -> Result<ingot_vision::fetch::Fetched, FetchError> {
    f.fetch(&Url::parse(url).unwrap(), CAP).await
}

fn blocked(e: &FetchError) -> (Option<IpAddr>, BlockReason) {
    match e {
        FetchError::Blocked { addr, reason, .. } => (*addr, reason.clone()),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn ip_literals_in_non_public_ranges_are_refused_without_connecting() {
    let lo = victim("127.0.0.1").await.unwrap();
    let f = fetcher(&[], StaticResolver::new());
    let e = fetch(&f, &lo.url("/a.png")).await.unwrap_err();
    assert_eq!(blocked(&e), (Some(ip("127.0.0.1")), BlockReason::Loopback));
    assert!(
        e.to_string()
            .contains("(127.0.0.1): it is a loopback address"),
        "{e}"
    );

    let v6 = victim("::1").await;
    let port = v6.as_ref().map_or(8080, |s| s.addr.port());
    let e = fetch(&f, &format!("http://[::1]:{port}/a.png"))
        .await
        .unwrap_err();
    assert_eq!(blocked(&e), (Some(ip("::1")), BlockReason::Loopback));

    for (url, reason) in [
        (
            "http://10.0.0.1/a.png",
            BlockReason::Private {
                range: "10.0.0.0/8",
            },
        ),
        (
            "http://169.254.169.254/latest/meta-data/",
            BlockReason::CloudMetadata,
        ),
        ("http://100.64.1.1/a.png", BlockReason::SharedAddressSpace),
        (
            "http://192.168.0.10/a.png",
            BlockReason::Private {
                range: "192.168.0.0/16",
            },
        ),
        ("http://[fd00::1]/a.png", BlockReason::UniqueLocal),
        ("http://[fe80::1]/a.png", BlockReason::LinkLocal),
    ] {
        let t = Instant::now();
        let e = fetch(&f, url).await.unwrap_err();
        assert_eq!(blocked(&e).1, reason, "{url}");
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{url} was not refused up front"
        );
    }
    let e = fetch(
        &f,
        &format!("http://[::ffff:127.0.0.1]:{}/", lo.addr.port()),
    )
    .await
    .unwrap_err();
    assert!(matches!(blocked(&e).1, BlockReason::Embedded { .. }), "{e}");
    assert_eq!(lo.connections(), 0);
    assert_eq!(v6.map_or(0, |s| s.connections()), 0);
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_refused_without_connecting() {
    let lo = victim("127.0.0.1").await.unwrap();
    let resolver = StaticResolver::new()
        .with("evil.example.com", [ip("127.0.0.1")])
        .with("mixed.example.com", [ip("93.184.216.34"), ip("10.1.2.3")]);
    let f = fetcher(&[], resolver);
    let e = fetch(
        &f,
        &format!("http://evil.example.com:{}/a.png", lo.addr.port()),
    )
    .await
    .unwrap_err();
    assert_eq!(blocked(&e), (Some(ip("127.0.0.1")), BlockReason::Loopback));
    assert!(
        e.to_string()
            .starts_with("refused to connect to `evil.example.com` (127.0.0.1)"),
        "{e}"
    );
    // One private address among public ones refuses the name.
    let e = fetch(&f, "http://mixed.example.com/a.png")
        .await
        .unwrap_err();
    assert_eq!(blocked(&e).0, Some(ip("10.1.2.3")));
    // Names that point inside whatever they resolve to.
    for url in [
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://localhost/",
    ] {
        let e = fetch(&f, url).await.unwrap_err();
        assert_eq!(blocked(&e).0, None, "{url}");
    }
    let e = fetch(&f, "http://unknown.example.com/a.png")
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::Dns { .. }), "{e:?}");
    assert_eq!(lo.connections(), 0);
}

#[tokio::test]
async fn redirects_to_internal_addresses_are_refused_at_each_hop() {
    let inner = victim("127.0.0.2")
        .await
        .expect("127.0.0.2 is loopback on Linux");
    let inner_url = inner.url("/x.png");
    let inner_port = inner.addr.port();
    let front = serve(ip("127.0.0.1"), move |path| match path {
        "/to-127.0.0.2" => Reply::Redirect(inner_url.clone()),
        "/to-10" => Reply::Redirect("http://10.0.0.1/x.png".to_owned()),
        "/to-metadata" => Reply::Redirect("http://169.254.169.254/latest/".to_owned()),
        "/to-name" => Reply::Redirect(format!("http://rebind.example.com:{inner_port}/x.png")),
        "/to-file" => Reply::Redirect("file:///etc/passwd".to_owned()),
        "/loop" => Reply::Redirect("/loop".to_owned()),
        "/ok" => Reply::Body {
            content_type: "image/png",
            body: b"fine".to_vec(),
            length: true,
        },
        _ => Reply::Redirect("/ok".to_owned()),
    })
    .await
    .unwrap();
    let resolver = StaticResolver::new().with("rebind.example.com", [ip("127.0.0.2")]);
    // Only the front server is allowlisted, explicitly.
    let f = fetcher(&[&format!("{}/32", front.addr.ip())], resolver);

    // Positive control: the allowlisted server itself, through one redirect.
    let ok = fetch(&f, &front.url("/start")).await.unwrap();
    assert_eq!(ok.bytes, b"fine");
    assert_eq!(ok.final_url.path(), "/ok");

    for (path, addr) in [
        ("/to-127.0.0.2", Some(ip("127.0.0.2"))),
        ("/to-10", Some(ip("10.0.0.1"))),
        ("/to-metadata", Some(ip("169.254.169.254"))),
        ("/to-name", Some(ip("127.0.0.2"))),
    ] {
        let e = fetch(&f, &front.url(path)).await.unwrap_err();
        assert_eq!(blocked(&e).0, addr, "{path}: {e}");
    }
    let e = fetch(&f, &front.url("/to-file")).await.unwrap_err();
    assert!(
        matches!(
            e,
            FetchError::UnsupportedScheme { .. } | FetchError::Network { .. }
        ),
        "{e:?}"
    );
    let e = fetch(&f, &front.url("/loop")).await.unwrap_err();
    assert_eq!(e, FetchError::TooManyRedirects { max: 3 });
    assert_eq!(inner.connections(), 0, "the refused address was contacted");
}

#[tokio::test]
async fn bodies_stop_at_the_cap_with_or_without_content_length() {
    let big = vec![7u8; 300_000];
    let server = serve(ip("127.0.0.1"), move |path| Reply::Body {
        content_type: "application/octet-stream",
        body: big.clone(),
        length: path == "/sized",
    })
    .await
    .unwrap();
    let f = fetcher(&["127.0.0.1"], StaticResolver::new());
    for path in ["/sized", "/streamed"] {
        let e = f
            .fetch(&Url::parse(&server.url(path)).unwrap(), 100_000)
            .await
            .unwrap_err();
        assert_eq!(e, FetchError::TooLarge { max_bytes: 100_000 }, "{path}");
    }
    let ok = f
        .fetch(&Url::parse(&server.url("/streamed")).unwrap(), 400_000)
        .await
        .unwrap();
    assert_eq!(ok.bytes.len(), 300_000);
}

#[tokio::test]
async fn slow_servers_time_out() {
    let server = serve(ip("127.0.0.1"), |_| Reply::Hang).await.unwrap();
    let cfg = FetchConfig {
        allowlist: Allowlist::from_entries(["127.0.0.1/32"]).unwrap(),
        total_timeout: Duration::from_millis(300),
        ..FetchConfig::default()
    };
    let f = Fetcher::with_resolver(cfg, Arc::new(StaticResolver::new())).unwrap();
    let t = Instant::now();
    let e = fetch(&f, &server.url("/slow.png")).await.unwrap_err();
    assert!(matches!(e, FetchError::Timeout { .. }), "{e:?}");
    assert!(t.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn non_http_schemes_are_refused() {
    let f = fetcher(&[], StaticResolver::new());
    let e = fetch(&f, "ftp://example.com/a.png").await.unwrap_err();
    assert!(matches!(e, FetchError::UnsupportedScheme { .. }));
}
