//! Why a Mist API call failed, in words an operator can act on: which HTTP answer, after how
//! many attempts of that call, and for a call that got no answer the whole cause (DNS,
//! connect, TLS), not just "error sending request".

use std::error::Error as _;

#[derive(Debug, Clone, thiserror::Error)]
pub enum MistError {
    #[error("Mist API token rejected (HTTP {0}): check mist.api_token and its privileges")]
    TokenRejected(u16),
    #[error(
        "Mist API rate limit reached (HTTP 429: the token's hourly call budget is spent); {attempts} call(s) sent, {}",
        reopen_note(*.retry_after)
    )]
    RateLimited {
        /// Calls this caller sent (0 when it only waited at the closed gate).
        attempts: u32,
        /// Seconds until the gate reopens, when known.
        retry_after: Option<u64>,
    },
    #[error("Mist API server error (HTTP {status}) after {attempts} attempt(s)")]
    Server { status: u16, attempts: u32 },
    #[error("Mist API call timed out after {attempts} attempt(s)")]
    Timeout { attempts: u32 },
    /// No HTTP answer: DNS, connect, TLS or a connection cut; `detail` is the whole chain.
    #[error("Mist API unreachable after {attempts} attempt(s): {detail}")]
    Http { detail: String, attempts: u32 },
    #[error("Mist API client cannot start: {0}")]
    Setup(String),
    #[error("unexpected Mist API response: {0}")]
    Decode(String),
    #[error("Mist API not configured: {0} is missing")]
    NotConfigured(&'static str),
    /// A 4xx other than 401/403/429: the request was refused as such.
    #[error("Mist API refused the request (HTTP {status}): {detail}")]
    Refused { status: u16, detail: String },
}

impl MistError {
    /// Worth trying again later (the engine retries the event).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            MistError::RateLimited { .. }
                | MistError::Server { .. }
                | MistError::Timeout { .. }
                | MistError::Http { .. }
        )
    }

    /// The same failure, counted over `attempts` tries of one call.
    pub(crate) fn after(self, attempts: u32) -> MistError {
        match self {
            MistError::Server { status, .. } => MistError::Server { status, attempts },
            MistError::Timeout { .. } => MistError::Timeout { attempts },
            MistError::Http { detail, .. } => MistError::Http { detail, attempts },
            MistError::RateLimited { retry_after, .. } => MistError::RateLimited {
                attempts,
                retry_after,
            },
            other => other,
        }
    }
}

fn reopen_note(retry_after: Option<u64>) -> String {
    match retry_after {
        Some(secs) => format!("calls wait {secs} s more before the next try"),
        None => "another call is probing whether Mist accepts calls again".to_string(),
    }
}

/// `error sending request` alone hides why: the DNS, connect or TLS error is in the sources.
pub(crate) fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_errors_show_their_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let e = MistError::Http {
            detail: format!("error sending request: {io}"),
            attempts: 1,
        }
        .after(5);
        assert_eq!(
            e.to_string(),
            "Mist API unreachable after 5 attempt(s): error sending request: Connection refused"
        );
        let limited = MistError::RateLimited {
            attempts: 0,
            retry_after: Some(42),
        };
        assert!(
            limited
                .to_string()
                .contains("0 call(s) sent, calls wait 42 s"),
            "{limited}"
        );
    }
}
