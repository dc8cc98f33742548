//! Waits inside a guard (the LLDP recheck, a site's drop settling) that a newer event of the
//! same AP cuts short: an AP that comes back while its disconnect is being judged must not
//! sit in its lane behind a wait that no longer matters.

use std::time::Duration;

use tokio::sync::watch;

use super::Order;

pub struct Wait {
    /// The newest event number of the AP's lane; `None` waits without interruption.
    newest: Option<watch::Receiver<Order>>,
    order: Order,
    superseded: bool,
}

impl Wait {
    /// A wait nothing interrupts (direct guard calls, `mesa replay`).
    pub fn plain() -> Wait {
        Wait {
            newest: None,
            order: (0, 0),
            superseded: false,
        }
    }

    /// A wait for the event at `order` of a lane whose newest event number is `newest`.
    pub(crate) fn lane(newest: Option<watch::Receiver<Order>>, order: Order) -> Wait {
        Wait {
            newest,
            order,
            superseded: false,
        }
    }

    /// Sleeps `delay`; false (at once) when a newer event of the AP arrived.
    pub async fn sleep(&mut self, delay: Duration) -> bool {
        if self.superseded {
            return false;
        }
        let order = self.order;
        let Some(newest) = self.newest.as_mut() else {
            tokio::time::sleep(delay).await;
            return true;
        };
        let newer = tokio::select! {
            _ = tokio::time::sleep(delay) => false,
            changed = newest.wait_for(|n| *n > order) => changed.is_ok(),
        };
        self.superseded = newer || *newest.borrow() > order;
        !self.superseded
    }

    /// True once a wait was cut short by a newer event.
    pub fn superseded(&self) -> bool {
        self.superseded
    }
}
