//! The `mesa` binary: parse the command line, set up logging, hand over to the library.

use std::io::IsTerminal;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use tracing_subscriber::EnvFilter;

use mesa::cli::{Cli, Command, LogFormat};

#[tokio::main]
async fn main() {
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    cli.config_on_command_line = matches.value_source("config") == Some(ValueSource::CommandLine);
    // The demo's report is its output; engine logs at INFO would interleave with it.
    let level = match cli.command {
        Command::Demo => "warn",
        _ => "info",
    };
    let filter = EnvFilter::try_from_env("MESA_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour(std::io::stderr().is_terminal()))
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.init(),
    }
    let code = match mesa::cli::run(cli).await {
        Ok(code) => code,
        // The reader of our output went away (`mesa demo | head -1`): nothing is wrong.
        Err(e) if mesa::output::is_broken_pipe(&e) => 0,
        Err(e) => {
            eprintln!("mesa: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

/// Colour only on a terminal, and never when `NO_COLOR` is set (https://no-color.org).
fn colour(terminal: bool) -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    terminal && !no_color
}
