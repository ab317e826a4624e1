//! The fake RunPod GraphQL API: one `POST /` (mounted at `/runpod`, key as `?api_key=`)
//! that answers the operation its query names, reading the `variables`:
//!
//! | operation | answer |
//! |---|---|
//! | `gpuTypes` | the GPU type with `lowestPrice` from the fake's price table (null when none is left) |
//! | `podFindAndDeployOnDemand`, `podRentInterruptable` | `{id imageName env machineId machine{podHostId}}` |
//! | `myself` | `{pods: [...]}` with `runtime.ports` once a pod runs |
//! | `podTerminate` | null, or the error "pod not found to terminate" |
//!
//! Like RunPod, refusals are GraphQL errors in an HTTP 200 (`{"errors": [{"message"}],
//! "data": null}`); the shapes match `crates/ferry-cloud/fixtures/runpod/`.

use crate::world::{CreateRefusal, FakeInstance, Gate, NewInstance, Phase, SshTarget, now_ms};
use crate::{Shared, render};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use ferry_cloud::Billing;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const PROVIDER_ID: &str = "runpod";

/// RunPod's answer to a create when the GPU type has none left.
pub const NO_CAPACITY_MESSAGE: &str = "There are no longer any instances available with the requested specifications. Please refresh and try again.";

pub fn routes() -> Router<Shared> {
    Router::new().route("/", post(graphql))
}

/// The fake's on-demand price per GPU and hour, and the GPU's memory.
fn gpu_table(id: &str) -> (f64, u32) {
    match id {
        "NVIDIA A40" => (0.40, 48),
        "NVIDIA GeForce RTX 4090" => (0.69, 24),
        "NVIDIA H100 80GB HBM3" => (2.69, 80),
        _ => (1.00, 24),
    }
}

/// Spot pods bid at least this share of the on-demand price.
const MIN_BID_SHARE: f64 = 0.5;

fn display_name(id: &str) -> String {
    id.strip_prefix("NVIDIA ")
        .unwrap_or(id)
        .trim_start_matches("GeForce ")
        .to_string()
}

/// A GraphQL error's body.
fn errors_body(message: &str) -> Value {
    json!({ "errors": [{ "message": message }], "data": null })
}

fn errors(status: StatusCode, message: &str) -> Response {
    (status, Json(errors_body(message))).into_response()
}

/// The gate's refusals: how RunPod words these is not documented; the shape is GraphQL's.
fn gate_body(gate: &Gate) -> Value {
    errors_body(match gate {
        Gate::Unauthorized => "Unauthorized",
        Gate::ServerError => "Service Unavailable",
        Gate::RateLimited { .. } => "Too Many Requests",
    })
}

fn ok(data: Value) -> Response {
    Json(json!({ "data": data })).into_response()
}

async fn graphql(
    State(world): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
    body: String,
) -> Response {
    let refused = render::refused(
        &mut world.lock().unwrap(),
        PROVIDER_ID,
        &headers,
        &uri,
        gate_body,
    );
    if let Some(r) = refused {
        return r;
    }
    let Ok(request) = serde_json::from_str::<Value>(&body) else {
        return errors(StatusCode::BAD_REQUEST, "POST body sent invalid JSON.");
    };
    let query = request["query"].as_str().unwrap_or_default();
    let variables = &request["variables"];
    // Mutations first: their names are the only ones that can appear in no other query.
    if query.contains("podFindAndDeployOnDemand") {
        create(&world, variables, false)
    } else if query.contains("podRentInterruptable") {
        create(&world, variables, true)
    } else if query.contains("podTerminate") {
        terminate(&world, variables)
    } else if query.contains("gpuTypes") {
        gpu_types(&world, variables)
    } else if query.contains("myself") {
        pods(&world)
    } else {
        errors(
            StatusCode::BAD_REQUEST,
            "the fake RunPod answers gpuTypes, myself, podFindAndDeployOnDemand, podRentInterruptable and podTerminate",
        )
    }
}

fn gpu_types(world: &Shared, variables: &Value) -> Response {
    let ids: Vec<String> = match variables["gpuTypesInput"]["id"].as_str() {
        Some(id) => vec![id.to_string()],
        None => [
            "NVIDIA A40",
            "NVIDIA GeForce RTX 4090",
            "NVIDIA H100 80GB HBM3",
        ]
        .map(String::from)
        .to_vec(),
    };
    let w = world.lock().unwrap();
    let types: Vec<Value> = ids
        .iter()
        .map(|id| {
            let (list, memory) = gpu_table(id);
            let price = w.live_price(list);
            let spot = price * MIN_BID_SHARE;
            let left = w.has_capacity(id);
            json!({
                "id": id,
                "displayName": display_name(id),
                "memoryInGb": memory,
                "securePrice": price,
                "communityPrice": price,
                "secureSpotPrice": spot,
                "communitySpotPrice": spot,
                "lowestPrice": {
                    "minimumBidPrice": left.then_some(spot),
                    "uninterruptablePrice": left.then_some(price),
                    "stockStatus": left.then_some("High"),
                },
            })
        })
        .collect();
    ok(json!({ "gpuTypes": types }))
}

fn create(world: &Shared, variables: &Value, spot: bool) -> Response {
    let input = &variables["input"];
    let (Some(gpu), Some(name)) = (input["gpuTypeId"].as_str(), input["name"].as_str()) else {
        return errors(
            StatusCode::BAD_REQUEST,
            "Variable \"$input\" got invalid value: gpuTypeId and name are required.",
        );
    };
    let count = input["gpuCount"].as_u64().unwrap_or(1).max(1) as u32;
    let bid = input["bidPerGpu"].as_f64();
    if spot && bid.is_none() {
        return errors(
            StatusCode::BAD_REQUEST,
            "Variable \"$input\" got invalid value: bidPerGpu is required.",
        );
    }
    let env: BTreeMap<String, String> = input["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|kv| Some((kv["key"].as_str()?.into(), kv["value"].as_str()?.into())))
        .collect();
    let image = input["imageName"].as_str().unwrap_or_default().to_string();
    let field = if spot {
        "podRentInterruptable"
    } else {
        "podFindAndDeployOnDemand"
    };
    let made = {
        let mut w = world.lock().unwrap();
        let per_gpu = bid.unwrap_or_else(|| w.live_price(gpu_table(gpu).0));
        w.create(NewInstance {
            provider: PROVIDER_ID,
            name: name.to_string(),
            instance_type: gpu.to_string(),
            region: input["cloudType"].as_str().unwrap_or("ALL").to_string(),
            gpu_count: count,
            price_per_hour: per_gpu * f64::from(count),
            spot,
            billing: Billing::PER_SECOND,
            // The container disk bills on top, as RunPod's pricing page says.
            storage_per_hour: input["containerDiskInGb"].as_f64().unwrap_or(0.0)
                * ferry_cloud::providers::runpod::CONTAINER_DISK_USD_PER_GB_MONTH
                / ferry_cloud::providers::runpod::HOURS_PER_MONTH,
            // The pod's image installs $PUBLIC_KEY into authorized_keys when it starts.
            public_key: env.get("PUBLIC_KEY").cloned(),
            env: env.clone(),
        })
    };
    match made {
        Ok(i) => ok(json!({ field: {
            "id": i.id,
            "imageName": image,
            "env": env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            "machineId": "fakemachine01",
            "machine": { "podHostId": format!("{}-64410065", i.id) },
        }})),
        Err(CreateRefusal::NoCapacity) => errors(StatusCode::OK, NO_CAPACITY_MESSAGE),
        Err(CreateRefusal::AnswerLost) => render::answer_lost(),
    }
}

fn pods(world: &Shared) -> Response {
    let (listed, ssh, malformed) = {
        let mut w = world.lock().unwrap();
        (w.observe(PROVIDER_ID), w.ssh.clone(), w.take_malformed())
    };
    let mut pods: Vec<Value> = listed.iter().map(|(i, p)| pod(i, *p, &ssh)).collect();
    let pods = match pods.first_mut() {
        // A required field missing from the first pod, as a broken answer would have it.
        Some(Value::Object(first)) if malformed => {
            first.remove("desiredStatus");
            Value::Array(pods)
        }
        _ if malformed => json!("unavailable"),
        _ => Value::Array(pods),
    };
    ok(json!({ "myself": { "pods": pods } }))
}

fn pod(i: &FakeInstance, phase: Phase, ssh: &SshTarget) -> Value {
    let (status, runtime) = match phase {
        // Accepted, container not started yet: RunPod's runtime is null until it runs.
        Phase::Provisioning => ("RUNNING", Value::Null),
        Phase::Running => (
            "RUNNING",
            json!({
                "uptimeInSeconds": (now_ms() - i.ready_ms).max(0) / 1000,
                "ports": [{
                    "ip": ssh.host,
                    "isIpPublic": true,
                    "privatePort": 22,
                    "publicPort": ssh.port,
                    "type": "tcp",
                }],
            }),
        ),
        Phase::Stopped => ("EXITED", Value::Null),
        Phase::Terminated => ("TERMINATED", Value::Null),
    };
    json!({
        "id": i.id,
        "name": i.name,
        "desiredStatus": status,
        "lastStatusChange": format!("{} by the fake at {} ms", if status == "EXITED" { "Exited" } else { "Rented" }, i.created_ms),
        "costPerHr": i.price_per_hour,
        // The world does not keep the image a create asked for.
        "imageName": ferry_cloud::providers::runpod::DEFAULT_IMAGE,
        "podType": if i.spot { "INTERRUPTABLE" } else { "RESERVED" },
        "runtime": runtime,
        "machine": { "gpuDisplayName": display_name(&i.instance_type) },
    })
}

fn terminate(world: &Shared, variables: &Value) -> Response {
    let id = variables["input"]["podId"].as_str().unwrap_or_default();
    if world.lock().unwrap().terminate(PROVIDER_ID, id) {
        ok(json!({ "podTerminate": null }))
    } else {
        errors(StatusCode::OK, "pod not found to terminate")
    }
}
