//! The connected-calendar loop: one task per replica writes Convene's
//! changes to CalDAV calendars (write-back) and reads remote changes (sync). Profiles are
//! claimed with a lease in the database, so replicas share the work and
//! never sync one profile twice at once.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::AppState;

/// Runs until `stop`: looks for due profiles every second (or every sync
/// interval, when shorter), and syncs them.
pub async fn run(state: AppState, stop: CancellationToken) {
    let tick = Duration::from_secs(state.cfg.sync_interval_secs.clamp(1, 5));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(tick) => {}
        }
        // More due than one claim takes: go on at once.
        while crate::domain::connected::push_due(&state).await >= 20 {
            if stop.is_cancelled() {
                return;
            }
        }
        while crate::domain::connected::sync_due(&state).await >= 20 {
            if stop.is_cancelled() {
                return;
            }
        }
    }
}
