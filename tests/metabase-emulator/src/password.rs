//! The password rule of §4 (`MB_PASSWORD_COMPLEXITY` / `MB_PASSWORD_LENGTH` plus a common-password list).

use crate::config::Knobs;

/// The single message for every password failure (§4).
pub const TOO_COMMON: &str = "password is too common.";

/// A small bundled stand-in for Metabase's ~12k zxcvbn common-password list, one per line.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

fn is_common(password: &str) -> bool {
    let lower = password.to_lowercase();
    COMMON_PASSWORDS.lines().any(|line| line.trim() == lower)
}

/// Whether `password` satisfies the configured complexity (§4).
pub fn is_valid(password: &str, knobs: &Knobs) -> bool {
    let count = |pred: fn(&char) -> bool| password.chars().filter(pred).count();
    let (min_len, lower, upper, digit, special) = match knobs.password_complexity.as_str() {
        "weak" => (6, 0, 0, 0, 0),
        "strong" => (8, 2, 2, 1, 1),
        _ => (6, 0, 0, 1, 0),
    };
    let min_len = knobs.password_length.unwrap_or(min_len);
    let complex_enough = password.chars().count() >= min_len
        && count(char::is_ascii_lowercase) >= lower
        && count(char::is_ascii_uppercase) >= upper
        && count(char::is_ascii_digit) >= digit
        && count(|c| !c.is_alphanumeric()) >= special;
    complex_enough && (knobs.password_complexity == "weak" || !is_common(password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_level_matches_metabase_examples() {
        let knobs = Knobs::default();
        assert!(is_valid("p@ssword1", &knobs));
        assert!(is_valid("anythingUP12!", &knobs));
        assert!(!is_valid("anything", &knobs), "no digit");
        assert!(!is_valid("a1", &knobs), "too short");
        assert!(!is_valid("Password1", &knobs), "common, case-insensitively");
    }

    #[test]
    fn weak_skips_the_list_and_strong_needs_classes() {
        let weak = Knobs { password_complexity: "weak".into(), ..Knobs::default() };
        assert!(is_valid("password1", &weak));
        assert!(is_valid("abcdef", &weak));
        let strong = Knobs { password_complexity: "strong".into(), ..Knobs::default() };
        assert!(!is_valid("p@ssword1", &strong), "needs two upper-case letters");
        assert!(is_valid("anythingUP12!", &strong));
    }
}
