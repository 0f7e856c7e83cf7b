-- Dashboard admins: people who sign in with a password and manage one
-- Organizational Unit's templates and requests.
CREATE TABLE admins (
    id                      TEXT PRIMARY KEY,  -- adm_…
    email                   TEXT NOT NULL UNIQUE, -- stored lower-cased
    organizational_unit_id  TEXT NOT NULL REFERENCES organizational_units(id),
    password_hash           TEXT NOT NULL,     -- argon2id PHC string
    created_ms              BIGINT NOT NULL,
    updated_ms              BIGINT NOT NULL
);

-- Signed-in browsers. Only the SHA-256 of the cookie's token is stored, so
-- a leaked table cannot be replayed as cookies.
CREATE TABLE admin_sessions (
    token_hash  TEXT PRIMARY KEY,
    admin_id    TEXT NOT NULL REFERENCES admins(id),
    csrf_token  TEXT NOT NULL,     -- echoed in every form of the session
    expires_ms  BIGINT NOT NULL,
    created_ms  BIGINT NOT NULL
);
CREATE INDEX admin_sessions_admin ON admin_sessions (admin_id);
CREATE INDEX admin_sessions_expiry ON admin_sessions (expires_ms);
