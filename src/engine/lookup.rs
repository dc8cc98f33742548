//! Placeholder until the Mist lookup lands.
use crate::mist::{MistClient, MistError};
use crate::model::{ApEvent, InterfaceName, SwitchRef};
use std::sync::Arc;

pub struct Lookup {
    pub site_id: String,
    pub ap_name: Option<String>,
    pub switch: SwitchRef,
    pub port: InterfaceName,
}
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("AP not found")]
    ApNotFound,
    #[error("no LLDP")]
    NoLldp { attempts: u32 },
    #[error("invalid port {0}")]
    InvalidPort(String),
    #[error(transparent)]
    Mist(#[from] MistError),
}
pub struct Locator {}
impl Locator {
    pub fn new(_mist: Arc<MistClient>, _cfg: &crate::config::MistConfig) -> Locator {
        Locator {}
    }
    pub async fn locate(
        &self,
        _event: &ApEvent,
        _steps: &mut Vec<String>,
    ) -> Result<Lookup, LookupError> {
        Err(LookupError::ApNotFound)
    }
}
