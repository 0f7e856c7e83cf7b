//! API tests: each starts Convene on port 0 with a fresh database, on
//! SQLite always and on PostgreSQL when `CONVENE_TEST_POSTGRES_URL` is set.

mod helpers;

mod availability;
mod conversations;
mod dashboard;
mod foundation;
mod notifications;
mod races;
mod scheduling;
