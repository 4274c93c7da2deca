//! Secrets are only ever shown masked: `****abcd`.

/// Masks a secret for display: four asterisks and, when the secret is long enough
/// that showing them reveals little, its last four characters.
pub fn mask_secret(secret: &str) -> String {
    let count = secret.chars().count();
    if count < 12 {
        return "****".to_owned();
    }
    let tail: String = secret.chars().skip(count - 4).collect();
    format!("****{tail}")
}

#[cfg(test)]
mod tests {
    use super::mask_secret;

    #[test]
    fn shows_only_the_last_four_of_a_long_secret() {
        assert_eq!(mask_secret("0123456789abcdef"), "****cdef");
    }

    #[test]
    fn shows_nothing_of_a_short_secret() {
        assert_eq!(mask_secret("short"), "****");
        assert_eq!(mask_secret(""), "****");
    }
}
