//! Ignored sites: mesa takes no action at all for them (labs, sites run by hand).

use crate::model::GuardVerdict;

pub const NAME: &str = "ignored-site";

pub fn check(ignored_sites: &[String], site_id: &str) -> GuardVerdict {
    if ignored_sites.iter().any(|s| s == site_id) {
        GuardVerdict::hold(NAME, format!("site {site_id} is in mist.ignored_sites"))
    } else {
        GuardVerdict::proceed(NAME, "site not ignored")
    }
}
