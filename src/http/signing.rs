//! `GET /api/v2/signing-key`: the server's OpenPGP public key ([`crate::signing`]), for clients
//! that import it (dnf's `gpgkey=`, an operator checking the key ID terraform printed).

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::state::AppState;

/// The server's public key.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SigningKey {
    /// 16 upper-case hex digits, as terraform and gpg print it.
    pub key_id: String,
    pub fingerprint: String,
    /// The armored public key (`-----BEGIN PGP PUBLIC KEY BLOCK-----`).
    pub public_key: String,
}

#[utoipa::path(get, path = "/api/v2/signing-key", tag = "operations",
    responses((status = 200, description = "The OpenPGP key that signs what artifactapi publishes", body = SigningKey)))]
pub async fn signing_key(state: web::Data<AppState>) -> HttpResponse {
    let s = &state.signer;
    HttpResponse::Ok().json(SigningKey {
        key_id: s.key_id().to_string(),
        fingerprint: s.fingerprint().to_string(),
        public_key: s.public_armored().to_string(),
    })
}
