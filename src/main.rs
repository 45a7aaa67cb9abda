//! The `artifactapi` binary: configuration from the environment, logging, then the server; or
//! `artifactapi tui`, the terminal UI watching a server.

use artifactapi::config::{Command, Config};
use tracing_subscriber::EnvFilter;

fn main() {
    artifactapi_actors::memory::tune();
    let config = Config::load();
    if let Some(Command::Tui(args)) = &config.command {
        // No log output: it would write over the screen.
        if let Err(e) = artifactapi::tui::run(args.clone()) {
            eprintln!("artifactapi tui: {e}");
            std::process::exit(1);
        }
        return;
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
    match config.command {
        Some(Command::Tui(_)) => {}
        None | Some(Command::Serve) => {
            let result = actix_rt::System::new().block_on(artifactapi::server::run(config));
            if let Err(e) = result {
                tracing::error!("{e}");
                eprintln!("artifactapi: {e}");
                std::process::exit(1);
            }
        }
    }
}
