//! API tests: each starts Convene on port 0 with a fresh database, on
//! SQLite and on PostgreSQL. The PostgreSQL tests are `#[ignore]`d: run them
//! with `CONVENE_TEST_POSTGRES_URL` set and `-- --ignored postgres`
//! (scripts/test does, on a throwaway cluster).

mod browser;
mod helpers;

mod availability;
mod connected;
mod conversations;
mod dashboard;
mod elements;
mod foundation;
mod hardening;
mod mail;
mod notifications;
mod operations;
mod ou_tokens;
mod pools;
mod races;
mod rts;
mod scheduling;
