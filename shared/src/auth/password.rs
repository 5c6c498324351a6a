//! Passwords: the policy new passwords must meet, and argon2id hashing with explicit parameters.
//!
//! Hashing and verification are CPU-bound for tens of milliseconds; callers run them on the
//! blocking pool ([`hash`], [`verify`] do so) so one request cannot stall the runtime.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngExt;

use crate::error::{Error, Result};
use crate::secrets::SecretString;

/// Minimum length in characters.
pub const MIN_LENGTH: usize = 10;
/// Maximum length in characters: long enough for any passphrase, short enough that nobody can
/// make us hash megabytes.
pub const MAX_LENGTH: usize = 256;

/// argon2id parameters (OWASP's first recommended configuration): 19 MiB of memory, 2 passes,
/// 1 lane, a 16-byte random salt and a 32-byte output. They are stored in each PHC hash string,
/// so raising them later only affects new hashes.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;
pub const SALT_BYTES: usize = 16;
pub const OUTPUT_BYTES: usize = 32;

fn hasher() -> Result<Argon2<'static>> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, Some(OUTPUT_BYTES))
        .map_err(|e| Error::internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Checks `password` against the policy for an account with `email` (already normalised).
///
/// # Errors
/// 400 `weak_password` naming the rule that failed.
pub fn check_policy(password: &str, email: &str) -> Result<()> {
    let weak = |message: &str| Err(Error::bad_request("weak_password", message));
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return weak(&format!("password must be at least {MIN_LENGTH} characters long"));
    }
    if length > MAX_LENGTH {
        return weak(&format!("password must be at most {MAX_LENGTH} characters long"));
    }
    let classes = [
        password.chars().any(char::is_lowercase),
        password.chars().any(char::is_uppercase),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    if classes.iter().filter(|present| **present).count() < 2 {
        return weak("password must mix at least two kinds of character (lower case, upper case, digits, symbols)");
    }
    let lowered = password.to_lowercase();
    let email = email.to_lowercase();
    let local = email.split('@').next().unwrap_or_default();
    // Very short local parts ("a@…") would forbid every password containing that letter; they
    // are still refused as the whole password.
    if lowered == email || lowered == local || (local.chars().count() >= 3 && lowered.contains(local)) {
        return weak("password must not be or contain your email address");
    }
    Ok(())
}

fn hash_now(password: &str) -> Result<String> {
    let mut salt = [0u8; SALT_BYTES];
    rand::rng().fill(&mut salt[..]);
    let hash = hasher()?
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| Error::internal(format!("password hashing: {e}")))?;
    Ok(hash.to_string())
}

/// Whether `password` matches `hash` (a PHC string). An unparsable hash never matches.
fn verify_now(password: &str, hash: &str) -> bool {
    hasher().is_ok_and(|argon| argon.verify_password(password.as_bytes(), hash).is_ok())
}

/// A hash of a random password with the same parameters, checked when the email is unknown so
/// that an unknown email and a wrong password cost the same time.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut random = [0u8; 24];
        rand::rng().fill(&mut random[..]);
        hash_now(&hex_string(&random)).unwrap_or_default()
    })
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hashes `password` with argon2id on the blocking pool; the result is a PHC string.
///
/// # Errors
/// Hashing failed (500).
pub async fn hash(password: &SecretString) -> Result<SecretString> {
    let password = password.clone();
    tokio::task::spawn_blocking(move || hash_now(password.expose()).map(SecretString::new))
        .await
        .map_err(Error::internal)?
}

/// Verifies `password` against `hash`, or against a fixed dummy hash when `hash` is `None`
/// (unknown account) so the time spent does not reveal whether the account exists.
///
/// # Errors
/// The blocking task failed (500).
pub async fn verify(password: &SecretString, hash: Option<&SecretString>) -> Result<bool> {
    let password = password.clone();
    let hash = hash.cloned();
    tokio::task::spawn_blocking(move || match hash {
        Some(hash) => verify_now(password.expose(), hash.expose()),
        None => {
            verify_now(password.expose(), dummy_hash());
            false
        }
    })
    .await
    .map_err(Error::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejection(password: &str, email: &str) -> String {
        let error = check_policy(password, email).expect_err(password);
        assert_eq!(error.code(), "weak_password");
        error.to_string()
    }

    #[test]
    fn the_policy_accepts_reasonable_passwords() {
        for password in
            ["correct horse battery", "Tr0ub4dor&3x", "abcdefghi1", "ÉTÉ-été-2026", "passphrase with spaces"]
        {
            assert!(check_policy(password, "ada@example.com").is_ok(), "{password}");
        }
    }

    #[test]
    fn the_policy_names_each_failed_rule() {
        assert!(rejection("Sh0rt!", "ada@example.com").contains("at least 10"));
        assert!(rejection(&"aA1!".repeat(65), "ada@example.com").contains("at most 256"));
        for one_class in ["abcdefghijkl", "ABCDEFGHIJKL", "123456789012", "!@#$%^&*()_+"] {
            assert!(rejection(one_class, "ada@example.com").contains("two kinds"), "{one_class}");
        }
        assert!(rejection("ada.lovelace1", "ada.lovelace1@example.com").contains("email"));
        assert!(rejection("Ada.Lovelace-1815", "ada.lovelace@example.com").contains("email"));
        assert!(rejection("ADA@EXAMPLE.COM", "ada@example.com").contains("email"));
        // A one-letter local part forbids only itself, not every password with that letter.
        assert!(check_policy("a-strong-passw0rd", "a@example.com").is_ok());
    }

    #[tokio::test]
    async fn hashes_are_argon2id_with_the_stated_parameters_and_verify() {
        let password = SecretString::new("correct horse battery".to_owned());
        let hash = super::hash(&password).await.unwrap();
        assert!(hash.expose().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", hash.expose());
        assert!(verify(&password, Some(&hash)).await.unwrap());
        assert!(!verify(&SecretString::new("correct horse battery!".into()), Some(&hash)).await.unwrap());
        let again = super::hash(&password).await.unwrap();
        assert_ne!(again.expose(), hash.expose(), "every hash has its own salt");
        assert!(!verify(&password, Some(&SecretString::new("not a phc string".into()))).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_accounts_are_checked_against_a_dummy_hash() {
        assert!(dummy_hash().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!verify(&SecretString::new("whatever-it-is-1".into()), None).await.unwrap());
    }
}
