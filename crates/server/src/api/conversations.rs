//! Placeholder: routes of this module.

use axum::Router;

use crate::AppState;

pub const ROUTES: &[(&str, &str, &str)] = &[];

pub fn routes() -> Router<AppState> {
    Router::new()
}
