//! HTTP client for the Mist API (placeholder until the Mist client lands).
use super::types::SwitchInfo;
use crate::model::Mac;

#[derive(Debug, Clone, thiserror::Error)]
pub enum MistError {
    #[error("Mist API token rejected ({0})")]
    TokenRejected(u16),
    #[error("Mist API: {0}")]
    Http(String),
}

pub struct MistClient {}

impl MistClient {
    pub fn new(
        _cfg: &crate::config::MistConfig,
        _metrics: crate::metrics::Metrics,
    ) -> Result<MistClient, MistError> {
        Ok(MistClient {})
    }
    pub async fn switch_by_mac(
        &self,
        _org: &str,
        _mac: &Mac,
    ) -> Result<Option<SwitchInfo>, MistError> {
        Err(MistError::Http("placeholder".into()))
    }
}
