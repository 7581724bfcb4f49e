//! Content digests: `sha256:<hex>` of a text, as state files and saved plans record them.

use sha2::{Digest, Sha256};

/// The SHA-256 digest of `text`, written `sha256:<hex>`.
pub fn sha256(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_the_prefixed_hex_of_sha256() {
        assert_eq!(
            sha256(""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
