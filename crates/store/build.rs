// `sqlx::migrate!` embeds the migration folders at compile time; without
// this, editing a migration would not rebuild the crate.
fn main() {
    for dir in ["migrations", "migrations-sqlite", "migrations-postgres"] {
        println!("cargo:rerun-if-changed={dir}");
    }
}
