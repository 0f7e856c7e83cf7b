//! The domain layer: Convene's rules, with no HTTP in them.
//!
//! The JSON API (`api/`), the HTML pages (`pages/`) and the background
//! worker call these; they call the store and the engine. Nothing here
//! imports axum, `crate::api` or `crate::pages` (tests/architecture.rs
//! checks it).

pub mod availability;
pub mod connected;
pub mod conversations;
pub mod mail;
pub mod ou_grants;
pub mod requests;
pub mod rts;
pub mod templates;
