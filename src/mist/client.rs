//! HTTP client for the Mist API (placeholder until the Mist client lands).

#[derive(Debug, Clone, thiserror::Error)]
pub enum MistError {
    #[error("Mist API token rejected ({0})")]
    TokenRejected(u16),
    #[error("Mist API: {0}")]
    Http(String),
}

pub struct MistClient {}
