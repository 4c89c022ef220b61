//! The `ingot` binary: `ingot serve` runs the server; `chat`, `vision`, `embed`, `3d` and
//! `models` are clients of any NIM-compatible API (the hosted NVIDIA API by default, a local
//! `ingot serve` with `--base-url http://127.0.0.1:8000/v1`).
//!
//! Exit codes: 0 success; 1 any other failure; 2 bad command line; 3 authentication (401/403:
//! check NVIDIA_API_KEY); 4 not found (404: check the model id and URL); 5 invalid request
//! (400/413/415/422); 6 rate limited (429, after the retries); 7 server error (5xx);
//! 8 connection failure or timeout.

mod answer;
mod cli;
mod commands;
mod conversation;
mod exit;
mod heap;
mod interactive;
mod keys;
mod logline;
mod preview;
mod select;
mod serve;
mod spinner;
mod userconfig;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser as _};

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => report(serve::run(&args)),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "ingot", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Keys {
            action,
            db,
            postgres_url,
        } => report(keys::keys(&action, db.as_deref(), postgres_url.as_deref())),
        Command::Usage(args) => report(keys::usage(&args)),
        command => commands::run(command),
    }
}

fn report(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::OTHER)
        }
    }
}
