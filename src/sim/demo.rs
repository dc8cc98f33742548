//! `mesa demo` (placeholder until the simulated Mist cloud lands).

pub async fn run() -> anyhow::Result<()> {
    anyhow::bail!("the demo needs the simulated Mist cloud")
}
