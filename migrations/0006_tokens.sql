-- Scoped tokens: a name, grants (read/write/admin per repository or '*'), an optional expiry,
-- and the SHA-256 of the secret (the secret itself is shown once and never stored).
CREATE TABLE tokens (
    id            uuid PRIMARY KEY,
    name          text NOT NULL,
    secret_sha256 text NOT NULL UNIQUE,
    scopes        jsonb NOT NULL,
    expires_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
