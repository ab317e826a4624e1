//! `/_fake/`: what the tests use to steer the fake and to read what it did.
//!
//! | route | does |
//! |---|---|
//! | `GET /_fake/faults`, `POST /_fake/faults` | read or replace the [`Faults`] |
//! | `GET /_fake/instances` | every instance ever made, with its phase |
//! | `GET /_fake/billing` | the billing record: per instance, and `total_micros` |
//! | `POST /_fake/preempt/{id}[?stop=true]` | the instance vanishes (or is stopped) |
//! | `POST /_fake/plant` `{provider, name, instance_type}` | an instance made behind Ferry's back |
//! | `GET /_fake/calls` | requests answered, by provider |

use crate::Shared;
use crate::world::{Faults, NewInstance, now_ms};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use ferry_cloud::Billing;
use serde::Deserialize;
use serde_json::{Value, json};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/faults", get(faults).post(set_faults))
        .route("/instances", get(instances))
        .route("/billing", get(billing))
        .route("/preempt/{id}", post(preempt))
        .route("/plant", post(plant))
        .route("/calls", get(calls))
}

async fn faults(State(w): State<Shared>) -> Json<Faults> {
    Json(w.lock().unwrap().faults.clone())
}

async fn set_faults(State(w): State<Shared>, Json(f): Json<Faults>) -> Json<Faults> {
    w.lock().unwrap().faults = f.clone();
    Json(f)
}

async fn instances(State(w): State<Shared>) -> Json<Value> {
    let w = w.lock().unwrap();
    let now = now_ms();
    Json(Value::Array(
        w.instances
            .iter()
            .map(|i| {
                let mut v = serde_json::to_value(i).unwrap_or(Value::Null);
                v["phase"] = json!(i.phase(now));
                v
            })
            .collect(),
    ))
}

async fn billing(State(w): State<Shared>) -> Json<Value> {
    let lines = w.lock().unwrap().bill();
    let total: i64 = lines.iter().map(|l| l.amount_micros.0).sum();
    Json(json!({"instances": lines, "total_micros": total}))
}

#[derive(Deserialize)]
struct PreemptQuery {
    #[serde(default)]
    stop: bool,
}

async fn preempt(
    State(w): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<PreemptQuery>,
) -> StatusCode {
    if w.lock().unwrap().preempt(&id, q.stop) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

#[derive(Deserialize)]
struct Plant {
    provider: String,
    name: String,
    #[serde(default = "a40")]
    instance_type: String,
}

fn a40() -> String {
    "NVIDIA A40".into()
}

async fn plant(State(w): State<Shared>, Json(p): Json<Plant>) -> Result<Json<Value>, StatusCode> {
    let provider: &'static str = match p.provider.as_str() {
        "runpod" => "runpod",
        "lambda" => "lambda",
        "vastai" => "vastai",
        "paperspace" => "paperspace",
        // Listed from the world's instances (Azure keeps its own resources: not plantable).
        "gcp" => "gcp",
        _ => return Err(StatusCode::BAD_REQUEST),
    };
    let mut w = w.lock().unwrap();
    let saved = std::mem::take(&mut w.faults);
    let made = w.create(NewInstance {
        provider,
        name: p.name,
        instance_type: p.instance_type,
        region: "planted".into(),
        gpu_count: 1,
        price_per_hour: 0.5,
        spot: false,
        billing: Billing::PER_SECOND,
        storage_per_hour: 0.0,
        public_key: None,
        env: Default::default(),
    });
    w.faults = saved;
    match made {
        Ok(i) => Ok(Json(json!({"id": i.id}))),
        Err(_) => Err(StatusCode::CONFLICT),
    }
}

async fn calls(State(w): State<Shared>) -> Json<Value> {
    Json(json!(w.lock().unwrap().calls))
}

/// The key a request carries: `Authorization: Bearer K`, or `?api_key=K` (RunPod's GraphQL,
/// Vast.ai's older form).
pub fn request_key(headers: &axum::http::HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(v) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(k) = v.strip_prefix("Bearer ")
    {
        return Some(k.trim().to_string());
    }
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("api_key="))
        .map(str::to_string)
}
