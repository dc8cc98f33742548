//! `mesa-junos-sim --state DIR [--user NAME]`: one NETCONF session of the simulated Junos
//! switch on stdin/stdout, as sshd's `Subsystem netconf` runs it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mesa::sim::junos::{serve, StateDir};

#[derive(Parser)]
#[command(about = "Simulated Junos EX NETCONF session on stdin/stdout")]
struct Args {
    /// State directory shared by all sessions of one simulated switch.
    #[arg(long)]
    state: PathBuf,
    /// Login name shown in lock messages and the commit log (default: $USER, sshd sets it).
    #[arg(long)]
    user: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let user = args
        .user
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .unwrap_or_else(|| "root".to_string());
    let state = match StateDir::open(&args.state) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mesa-junos-sim: state dir {}: {e}", args.state.display());
            return ExitCode::from(2);
        }
    };
    match serve(
        std::io::stdin().lock(),
        std::io::stdout().lock(),
        &state,
        &user,
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mesa-junos-sim: {e}");
            ExitCode::FAILURE
        }
    }
}
