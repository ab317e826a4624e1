//! EC2's error codes, as Ferry's error kinds.
//!
//! The codes are EC2's documented ones
//! (<https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html>); the SDK
//! gives them back as the error's `code`, and everything without one (no connection, a
//! timeout, no credentials) is told apart by the SDK's error variant.

use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use ferry_cloud::{CloudError, ErrorKind};

use crate::PROVIDER;

/// The kind of an EC2 (or Service Quotas) error code.
pub fn classify(code: &str) -> ErrorKind {
    match code {
        "InsufficientInstanceCapacity"
        | "InsufficientHostCapacity"
        | "InsufficientCapacity"
        | "Unsupported" => ErrorKind::NoCapacity,
        "InstanceLimitExceeded"
        | "VcpuLimitExceeded"
        | "MaxSpotInstanceCountExceeded"
        | "SpotInstanceRequestLimitExceeded" => ErrorKind::Quota,
        "SpotMaxPriceTooLow" => ErrorKind::PriceAbove,
        "AuthFailure"
        | "UnauthorizedOperation"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "OptInRequired"
        | "Blocked"
        | "AccessDeniedException"
        | "ExpiredToken"
        | "UnrecognizedClientException" => ErrorKind::Auth,
        "RequestLimitExceeded"
        | "Throttling"
        | "ThrottlingException"
        | "TooManyRequestsException" => ErrorKind::RateLimited,
        "InternalError" | "InternalFailure" | "ServiceUnavailable" | "Unavailable"
        | "ServiceException" => ErrorKind::Transient,
        c if c.ends_with(".NotFound") || c.ends_with("NotFoundException") => ErrorKind::NotFound,
        "NoSuchResourceException" => ErrorKind::NotFound,
        _ => ErrorKind::Refused,
    }
}

/// The service's error code, when the service answered with one.
pub fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    match e {
        SdkError::ServiceError(s) => s.err().code(),
        _ => None,
    }
}

/// An SDK error as Ferry's, naming the call.
pub fn cloud_error<E>(op: &str, e: SdkError<E, HttpResponse>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let Some(code) = code(&e) {
        let kind = classify(code);
        let said = match &e {
            SdkError::ServiceError(s) => s.err().message().unwrap_or_default().to_string(),
            _ => String::new(),
        };
        let mut message = format!("{op}: {code}: {said}");
        if kind == ErrorKind::Auth {
            message.push_str(
                " (credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, \
                 `profile` under [providers.aws], or ~/.aws)",
            );
        }
        return CloudError::new(PROVIDER, kind, message);
    }
    if let SdkError::ServiceError(s) = &e {
        // An answer without an error code: not the service's (a proxy, a wrong endpoint).
        let status = s.raw().status().as_u16();
        let kind = match status {
            401 | 403 => ErrorKind::Auth,
            429 => ErrorKind::RateLimited,
            500.. => ErrorKind::Transient,
            _ => ErrorKind::Refused,
        };
        return CloudError::new(
            PROVIDER,
            kind,
            format!("{op}: HTTP {status} with no AWS error code"),
        );
    }
    let text = DisplayErrorContext(&e).to_string();
    let kind = match &e {
        // The credentials chain found nothing, or the profile is broken: no request left.
        _ if text.contains("credentials") || text.contains("Credentials") => ErrorKind::Auth,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => ErrorKind::Transient,
        SdkError::ResponseError(_) => ErrorKind::Malformed,
        SdkError::ServiceError(_) => ErrorKind::Refused,
        _ => ErrorKind::Refused,
    };
    let mut message = format!("{op}: {text}");
    if kind == ErrorKind::Auth {
        message.push_str(
            " (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or `profile` under \
             [providers.aws])",
        );
    }
    CloudError::new(PROVIDER, kind, message)
}
