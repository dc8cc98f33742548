//! Every form of the status page carries the session's CSRF token in the field `csrf`; a
//! POST without it (or with another session's) is refused with 403 before anything happens.
//! SameSite=Strict already keeps the cookie off cross-site posts: this is the second lock.

use super::session::{Access, Refused};
use crate::ingest::same_secret;

pub fn verify(access: &Access, given: &str) -> Result<(), Refused> {
    match &access.csrf {
        Some(expected) if !given.is_empty() && same_secret(given, expected) => Ok(()),
        _ => Err(Refused::Csrf),
    }
}
