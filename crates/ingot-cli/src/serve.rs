//! `ingot serve`: configuration resolution, logging and the server's lifetime.

use std::path::PathBuf;

use anyhow::Context as _;
use ingot_server::{AppState, Config};
use tracing_subscriber::EnvFilter;

use crate::cli::{LogFormat, ServeArgs};

/// Runs the server until SIGINT/SIGTERM.
pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let config = resolve_config(args)?;
    if args.check_config {
        config
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        print!("{}", effective_toml(&config)?);
        eprintln!("configuration OK");
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let served = rt.block_on(serve(config));
    // Connections still open past the deadline, and model loads still running, are not
    // waited for.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    served
}

/// The configuration as TOML, with the accepted API keys redacted (upstream keys never
/// serialise).
fn effective_toml(config: &Config) -> anyhow::Result<String> {
    let mut value = toml::Value::try_from(config).context("serialising the configuration")?;
    if let Some(keys) = value
        .get_mut("api_keys")
        .and_then(toml::Value::as_array_mut)
    {
        for k in keys.iter_mut() {
            *k = toml::Value::String("<redacted>".to_owned());
        }
    }
    toml::to_string_pretty(&value).context("serialising the configuration")
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("ingot_server=info,ingot=info,warn"));
    // Colours only on a terminal; escaped lines either way (JSON escapes by itself, and the
    // cap applies to both).
    let ansi = format == LogFormat::Text && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(crate::logline::SafeLines::new(std::io::stderr, ansi));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// Defaults, then the file, then env and flags (clap already ranks flags over env).
fn resolve_config(args: &ServeArgs) -> anyhow::Result<Config> {
    let (mut cfg, file_sets_model_dir) = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading config file {}", path.display()))?;
            let cfg = Config::from_toml(&text)
                .map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))?;
            let sets = text
                .parse::<toml::Table>()
                .map(|t| t.contains_key("model_dir"))
                .unwrap_or(false);
            (cfg, sets)
        }
        None => (Config::default(), false),
    };
    if !file_sets_model_dir {
        cfg.model_dir = default_model_dir();
    }
    if let Some(v) = &args.host {
        cfg.host.clone_from(v);
    }
    if let Some(v) = args.port {
        cfg.port = v;
    }
    if let Some(v) = &args.model_dir {
        cfg.model_dir.clone_from(v);
    }
    if let Some(v) = &args.api_keys {
        cfg.api_keys = v
            .iter()
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .collect();
    }
    if let Some(v) = &args.redis_url {
        cfg.state.redis_url = Some(v.clone());
    }
    if let Some(v) = &args.postgres_url {
        cfg.state.postgres_url = Some(v.clone());
    }
    if let Some(v) = &args.keys_db {
        cfg.keys_db = Some(v.clone());
    } else if cfg.keys_db.is_none() {
        let default = crate::keys::default_db();
        cfg.keys_db = default.exists().then_some(default);
    }
    if let Some(v) = args.body_limit {
        cfg.body_limit = v;
    }
    if let Some(v) = args.shutdown_timeout {
        cfg.shutdown_timeout_secs = v;
    }
    if let Some(v) = args.chat_ctx_per_slot {
        cfg.chat.ctx_per_slot = v;
    }
    if let Some(v) = args.chat_max_slots {
        cfg.chat.max_slots = v;
    }
    if let Some(v) = args.chat_queue {
        cfg.chat.queue_capacity = v;
    }
    if let Some(v) = &args.vision_allow {
        cfg.vision.allow = v
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
    }
    if let Some(p) = &args.vision_mmproj {
        cfg.vision.mmproj = Some(p.clone());
    }
    if let Some(p) = &args.vision_model {
        cfg.vision.model = Some(p.clone());
    }
    if args.chat_unified_kv {
        cfg.chat.unified_kv = true;
    }
    if args.no_chat {
        cfg.chat.enabled = false;
    }
    if args.no_embeddings {
        cfg.embeddings.enabled = false;
    }
    if args.no_ui {
        cfg.ui.enabled = false;
    }
    Ok(cfg)
}

fn default_model_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".cache/ingot/models")
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let addr = format!("{}:{}", config.host, config.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let state = AppState::new(config);
    let loader = tokio::spawn({
        let state = state.clone();
        async move {
            ingot_server::load_engines(state).await;
            crate::heap::release_free_pages();
        }
    });
    ingot_server::serve(listener, state, shutdown_signal())
        .await
        .context("serving")?;
    loader.abort();
    tracing::info!("shut down");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for ctrl-c: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received, draining connections (a second signal exits now)");
    tokio::spawn(async {
        second_signal().await;
        tracing::warn!("second shutdown signal: exiting without waiting for open requests");
        std::process::exit(130);
    });
}

/// The next SIGINT or SIGTERM.
async fn second_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
