//! Placeholder: the admin dashboard (routes merged into the app).

use axum::Router;

use crate::AppState;

pub const ROUTES: &[(&str, &str, &str)] = &[];

pub fn routes() -> Router<AppState> {
    Router::new()
}
