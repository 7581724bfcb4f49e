//! KMS resource types: customer managed keys, found by their alias.

pub mod key;

#[cfg(test)]
pub(crate) mod testing {
    //! A mocked KMS client for unit tests (`aws-smithy-mocks`).

    use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client};

    /// A KMS client whose calls are answered by `rules`.
    pub(crate) fn client(rules: &[&Rule]) -> aws_sdk_kms::Client {
        let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for rule in rules {
            interceptor = interceptor.with_rule(rule);
        }
        let config = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .http_client(create_mock_http_client())
            .interceptor(interceptor)
            .build();
        aws_sdk_kms::Client::from_conf(config)
    }
}
