//! The `mesa` binary: parse the command line, set up logging, hand over to the library.

use clap::Parser;
use tracing_subscriber::EnvFilter;

use mesa::cli::{Cli, LogFormat};

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_env("MESA_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.init(),
    }
    let code = match mesa::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mesa: {e:#}");
            1
        }
    };
    std::process::exit(code);
}
