//! `/aws-quotas`: AWS Service Quotas' `GetServiceQuota`, for the EC2 vCPU quotas.
//!
//! EC2 itself is emulated by moto, whose Service Quotas knows only the `vpc` service; this
//! route answers the one call Ferry makes, in its wire form (the `awsJson1.1` protocol:
//! `POST /` with `X-Amz-Target: ServiceQuotasV20190624.GetServiceQuota`), with the values
//! in [`crate::Faults::aws_quotas`]. Shapes:
//! <https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_GetServiceQuota.html>.

use crate::Shared;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;

const TARGET: &str = "ServiceQuotasV20190624.GetServiceQuota";
const JSON_11: &str = "application/x-amz-json-1.1";

/// Merged at the top of the fake's router: the SDK posts to the endpoint's path itself.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/aws-quotas", post(call))
        .route("/aws-quotas/", post(call))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetServiceQuota {
    service_code: String,
    quota_code: String,
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, JSON_11)], body.to_string()).into_response()
}

fn error(kind: &str, message: &str) -> Response {
    answer(
        StatusCode::BAD_REQUEST,
        json!({"__type": kind, "Message": message}),
    )
}

async fn call(State(w): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if target != TARGET {
        return error(
            "UnknownOperationException",
            &format!("{target} is not answered here"),
        );
    }
    let Ok(req) = serde_json::from_str::<GetServiceQuota>(&body) else {
        return error(
            "ValidationException",
            "ServiceCode and QuotaCode are required",
        );
    };
    let mut w = w.lock().unwrap();
    *w.calls.entry("aws-quotas".into()).or_default() += 1;
    let value = (req.service_code == "ec2")
        .then(|| w.faults.aws_quotas.get(&req.quota_code).copied())
        .flatten();
    match value {
        Some(v) => answer(
            StatusCode::OK,
            json!({"Quota": {
                "ServiceCode": req.service_code,
                "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
                "QuotaArn": format!("arn:aws:servicequotas:us-east-1:123456789012:ec2/{}", req.quota_code),
                "QuotaCode": req.quota_code,
                "QuotaName": "vCPUs",
                "Value": v,
                "Unit": "None",
                "Adjustable": true,
                "GlobalQuota": false
            }}),
        ),
        None => error(
            "NoSuchResourceException",
            &format!(
                "The request failed because the specified service or quota does not exist: {}/{}",
                req.service_code, req.quota_code
            ),
        ),
    }
}
