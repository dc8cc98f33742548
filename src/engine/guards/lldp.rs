//! Placeholder until the LLDP guard lands.
use crate::mist::{MistClient, MistError};
use crate::model::{GuardVerdict, InterfaceName, Mac, SwitchRef};
use std::sync::Arc;
pub struct LldpGuard {}
impl LldpGuard {
    pub fn new(_m: Arc<MistClient>, _c: &crate::config::LldpGuardConfig) -> LldpGuard {
        LldpGuard {}
    }
    pub async fn check(
        &self,
        _s: &str,
        _sw: &SwitchRef,
        _p: &InterfaceName,
        _ap: &Mac,
    ) -> Result<GuardVerdict, MistError> {
        Ok(GuardVerdict::proceed("lldp", "placeholder"))
    }
}
