//! Placeholder until the outage guard lands.
use crate::mist::{MistClient, MistError};
use crate::model::GuardVerdict;
use std::sync::Arc;
pub struct OutageGuard {}
impl OutageGuard {
    pub fn new(_m: Arc<MistClient>, _c: &crate::config::OutageGuardConfig) -> OutageGuard {
        OutageGuard {}
    }
    pub async fn check(&self, _site: &str) -> Result<GuardVerdict, MistError> {
        Ok(GuardVerdict::proceed("site-outage", "placeholder"))
    }
}
