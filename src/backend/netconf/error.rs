//! Everything that can go wrong talking NETCONF, and how it maps onto [`BackendError`].

use crate::backend::BackendError;

use super::framing::FramingError;
use super::hostkey::HostKeyError;
use super::rpc::{describe, RpcError, XmlError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetconfError {
    /// No TCP connection, or the SSH handshake failed.
    #[error("cannot reach {0}")]
    Unreachable(String),
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error(transparent)]
    HostKey(#[from] HostKeyError),
    /// SSH failed after the session was up (channel, subsystem, I/O).
    #[error("ssh: {0}")]
    Ssh(String),
    #[error("no reply within {0:?}")]
    Timeout(std::time::Duration),
    #[error("server closed the session")]
    Closed,
    #[error(transparent)]
    Framing(#[from] FramingError),
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// The server broke the protocol (bad hello, no common base version, ...).
    #[error("protocol: {0}")]
    Protocol(String),
    /// The server answered with `<rpc-error>`s (warnings are not errors).
    #[error("{}", describe(.0))]
    Rpc(Vec<RpcError>),
}

impl NetconfError {
    /// The reply may still come, or may have been lost: the operation's effect is unknown.
    pub fn is_unknown_outcome(&self) -> bool {
        matches!(
            self,
            NetconfError::Timeout(_)
                | NetconfError::Closed
                | NetconfError::Ssh(_)
                | NetconfError::Framing(_)
                | NetconfError::Xml(_)
        )
    }

    pub fn rpc_errors(&self) -> &[RpcError] {
        match self {
            NetconfError::Rpc(errors) => errors,
            _ => &[],
        }
    }

    /// The [`BackendError`] for a failure before anything was committed.
    pub fn into_backend(self, what: &str) -> BackendError {
        match self {
            NetconfError::Unreachable(m) => BackendError::Unreachable(m),
            NetconfError::Auth(m) => BackendError::Auth(m),
            NetconfError::HostKey(e) => BackendError::HostKey(e.to_string()),
            NetconfError::Rpc(errors) => {
                BackendError::Rejected(format!("{what}: {}", describe(&errors)))
            }
            other => BackendError::Unreachable(format!("{what}: {other}")),
        }
    }
}
