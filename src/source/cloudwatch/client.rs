//! Building the CloudWatch Logs client and discovering log groups.
//!
//! This module owns the AWS configuration (the default chain of aws-config,
//! with `--profile`, `--region` and `--endpoint-url` overrides the way the AWS
//! CLI takes them) and `DescribeLogGroups`. It does network I/O but never
//! prints.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::operation::describe_log_groups::DescribeLogGroupsError;

use super::error::{CloudWatchError, Failure, Operation, classify};

/// Client settings, as the AWS CLI takes them. `None` (or an empty string)
/// leaves the setting to the standard chain: `AWS_PROFILE`, `AWS_REGION` /
/// `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL(_CLOUDWATCH_LOGS)`, `~/.aws/config`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientSettings {
    /// Named profile (`--profile`).
    pub profile: Option<String>,
    /// Region (`--region`).
    pub region: Option<String>,
    /// Endpoint override (`--endpoint-url`), e.g. a local moto server.
    pub endpoint_url: Option<String>,
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Loads the AWS configuration with the overrides and builds a client.
///
/// Fails with [`CloudWatchError::NoRegion`] when no region is configured
/// anywhere. Credentials are resolved lazily by the SDK on the first call; a
/// missing chain shows up then as [`CloudWatchError::NoCredentials`].
pub async fn build_client(s: &ClientSettings) -> Result<Client, CloudWatchError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(profile) = non_empty(&s.profile) {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = non_empty(&s.region) {
        loader = loader.region(Region::new(region.to_owned()));
    }
    if let Some(url) = non_empty(&s.endpoint_url) {
        loader = loader.endpoint_url(url);
    }
    let sdk = loader.load().await;
    client_from_config(&sdk)
}

/// Checks a loaded configuration and builds the client from it (no I/O).
pub(crate) fn client_from_config(sdk: &SdkConfig) -> Result<Client, CloudWatchError> {
    if sdk.region().is_none() {
        return Err(CloudWatchError::NoRegion);
    }
    if sdk.credentials_provider().is_none() {
        return Err(CloudWatchError::NoCredentials {
            detail: "no credentials provider is configured".to_owned(),
        });
    }
    // `Client::new` panics on a config without a behavior version; set one.
    let conf = aws_sdk_cloudwatchlogs::config::Builder::from(sdk)
        .behavior_version(BehaviorVersion::latest())
        .build();
    Ok(Client::from_conf(conf))
}

/// Names of all log groups whose name starts with `prefix` (all groups when
/// `prefix` is empty), reading every page of `DescribeLogGroups`.
///
/// `logGroupNamePrefix` must be at least one character long, so an empty
/// prefix is not sent (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_DescribeLogGroups.html).
pub async fn discover_log_groups(
    client: &Client,
    prefix: &str,
) -> Result<Vec<String>, CloudWatchError> {
    let mut request = client.describe_log_groups();
    if !prefix.is_empty() {
        request = request.log_group_name_prefix(prefix);
    }
    let mut pages = request.into_paginator().send();
    let mut names = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| describe_error(&e, prefix))?;
        // A group without a name cannot be queried by name: skip it.
        names.extend(
            page.log_groups()
                .iter()
                .filter_map(|g| g.log_group_name())
                .filter(|n| !n.is_empty())
                .map(str::to_owned),
        );
    }
    Ok(names)
}

fn describe_error(
    err: &aws_sdk_cloudwatchlogs::error::SdkError<DescribeLogGroupsError>,
    prefix: &str,
) -> CloudWatchError {
    let resource = if prefix.is_empty() {
        "all log groups".to_owned()
    } else {
        format!("log groups with prefix {prefix}")
    };
    match classify(Operation::DescribeLogGroups, err, &resource) {
        Failure::Fatal(e) => e,
        // The SDK's own retries (standard mode) already ran; still throttled.
        Failure::Retry(code) => CloudWatchError::Service {
            operation: Operation::DescribeLogGroups.name(),
            code: Some(code),
            message: aws_sdk_cloudwatchlogs::error::DisplayErrorContext(err).to_string(),
        },
    }
}
