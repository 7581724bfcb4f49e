//! EKS bearer tokens, as `aws eks get-token` makes them: a presigned STS `GetCallerIdentity` URL.

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use base64::Engine as _;
use std::time::{Duration, SystemTime};

/// How long the presigned URL is valid; EKS accepts a token for 15 minutes after it was signed.
const URL_EXPIRY: Duration = Duration::from_secs(60);

/// The prefix EKS expects in front of the base64url-encoded URL.
const PREFIX: &str = "k8s-aws-v1.";

/// Why a token cannot be signed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The configured STS endpoint is not a URL with a host.
    #[error("cannot sign the EKS token: `{0}` is not an endpoint URL")]
    Endpoint(String),
    /// The signer refused the request or its parameters.
    #[error("cannot sign the EKS token: {0}")]
    Signing(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Signs a bearer token for `cluster` with `credentials` at `time`, against STS in `region`, at
/// `endpoint` when one is configured (`AWS_ENDPOINT_URL[_STS]`), else STS's regional endpoint.
pub fn token(
    credentials: &Credentials,
    region: &str,
    endpoint: Option<&str>,
    cluster: &str,
    time: SystemTime,
) -> Result<String, TokenError> {
    let base = match endpoint {
        Some(e) => e.trim_end_matches('/').to_string(),
        None => format!("https://sts.{region}.amazonaws.com"),
    };
    let url = format!("{base}/?Action=GetCallerIdentity&Version=2011-06-15");
    let host = url
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.authority().map(|a| a.to_string()))
        .ok_or_else(|| TokenError::Endpoint(base.clone()))?;
    let identity = credentials.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(URL_EXPIRY);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| TokenError::Signing(e.into()))?
        .into();
    // The cluster name is signed as a header so a token for one cluster is refused by another.
    let headers = [("host", host.as_str()), ("x-k8s-aws-id", cluster)];
    let signable = SignableRequest::new(
        "GET",
        url.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| TokenError::Signing(e.into()))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| TokenError::Signing(e.into()))?
        .into_parts();
    let mut request = http::Request::builder()
        .uri(&url)
        .body(())
        .map_err(|e| TokenError::Signing(e.into()))?;
    instructions.apply_to_request_http1x(&mut request);
    let signed = request.uri().to_string();
    Ok(format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signed)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(token: &str) -> String {
        let b64 = token.strip_prefix(PREFIX).expect("token prefix");
        String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(b64)
                .unwrap(),
        )
        .unwrap()
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn key() -> Credentials {
        // The AWS documentation's example key pair.
        Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        )
    }

    #[test]
    fn a_token_is_a_presigned_get_caller_identity_url_for_the_cluster() {
        // 2024-01-01T00:00:00Z
        let t = token(
            &key(),
            "us-east-1",
            None,
            "examplepay-prod",
            at(1_704_067_200),
        )
        .unwrap();
        let url = decode(&t);
        assert!(url.starts_with(
            "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&"
        ));
        assert!(url.contains("X-Amz-Algorithm=AWS4-HMAC-SHA256"));
        assert!(url.contains(
            "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240101%2Fus-east-1%2Fsts%2Faws4_request"
        ));
        assert!(url.contains("X-Amz-Date=20240101T000000Z"));
        assert!(url.contains("X-Amz-Expires=60"));
        assert!(url.contains("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"));
        assert!(!t.contains('='), "base64url without padding");
        assert!(
            !url.contains("wJalrXUtnFEMI"),
            "the secret key never leaves"
        );
    }

    #[test]
    fn the_signature_is_deterministic_and_bound_to_cluster_time_and_key() {
        let t = at(1_704_067_200);
        let a = token(&key(), "us-east-1", None, "examplepay-prod", t).unwrap();
        assert_eq!(
            a,
            token(&key(), "us-east-1", None, "examplepay-prod", t).unwrap()
        );
        let signature = |tok: &str| {
            decode(tok)
                .split("X-Amz-Signature=")
                .nth(1)
                .unwrap()
                .to_string()
        };
        let sig = signature(&a);
        // Computed independently from the SigV4 specification (HMAC chain over the canonical
        // request with `host` and `x-k8s-aws-id` signed and an empty payload).
        assert_eq!(
            sig,
            "3bb02f638b05923fa668b56e5354e1f0b687d94da781c898db752b127b38267a"
        );
        let other_cluster = token(&key(), "us-east-1", None, "examplepay-prod-eu", t).unwrap();
        let later = token(
            &key(),
            "us-east-1",
            None,
            "examplepay-prod",
            at(1_704_067_201),
        )
        .unwrap();
        assert_ne!(signature(&other_cluster), sig);
        assert_ne!(signature(&later), sig);
    }

    #[test]
    fn a_configured_sts_endpoint_is_the_one_presigned() {
        let t = token(
            &key(),
            "us-east-1",
            Some("http://127.0.0.1:5000/"),
            "examplepay-local",
            at(1_704_067_200),
        )
        .unwrap();
        let url = decode(&t);
        assert!(
            url.starts_with("http://127.0.0.1:5000/?Action=GetCallerIdentity"),
            "{url}"
        );
        assert!(url.contains("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"));
    }
}
