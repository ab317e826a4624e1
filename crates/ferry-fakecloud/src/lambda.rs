//! The fake Lambda Cloud API v1 (<https://docs.lambda.ai/api/cloud>), answering the shapes of
//! `crates/ferry-cloud/fixtures/lambda/`: `{"data": …}` on success, `{"error": {code,
//! message, suggestion?}}` on failure.
//!
//! | route | does |
//! |---|---|
//! | `GET /instance-types` | a fixed table of three types; a type without capacity lists no region |
//! | `GET /ssh-keys`, `POST /ssh-keys` | the account's keys, kept by this router |
//! | `POST /instance-operations/launch` | one instance, with the one key name it must be given |
//! | `GET /instances`, `GET /instances/{id}` | the world's Lambda instances |
//! | `POST /instance-operations/terminate` | terminates, or `global/object-does-not-exist` |
//!
//! Lambda publishes only an IP (port 22 and user `ubuntu` are fixed), so `ip` is the world's
//! SSH host; Ferry's config overrides the port and user in tests. The key registered under the
//! launch's key name goes to `authorized_keys` at launch, as the machine booting with it would.

use crate::world::{CreateRefusal, FakeInstance, Gate, NewInstance, Phase};
use crate::{Shared, render};
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ferry_cloud::Billing;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub const PROVIDER_ID: &str = "lambda";

/// "bills in one-minute increments" (docs.lambda.ai/public-cloud/billing).
const BILLING: Billing = Billing {
    increment_s: 60,
    minimum_s: 0,
};

struct TypeSpec {
    name: &'static str,
    description: &'static str,
    gpu_description: &'static str,
    price_cents_per_hour: u64,
    vcpus: u32,
    memory_gib: u32,
    storage_gib: u32,
    gpus: u32,
}

const TYPES: [TypeSpec; 3] = [
    TypeSpec {
        name: "gpu_1x_a10",
        description: "1x A10 (24 GB PCIe)",
        gpu_description: "A10 (24 GB PCIe)",
        price_cents_per_hour: 75,
        vcpus: 30,
        memory_gib: 200,
        storage_gib: 1400,
        gpus: 1,
    },
    TypeSpec {
        name: "gpu_1x_a100_sxm4",
        description: "1x A100 (40 GB SXM4)",
        gpu_description: "A100 (40 GB SXM4)",
        price_cents_per_hour: 129,
        vcpus: 30,
        memory_gib: 200,
        storage_gib: 512,
        gpus: 1,
    },
    TypeSpec {
        name: "gpu_8x_h100_sxm5",
        description: "8x H100 (80 GB SXM5)",
        gpu_description: "H100 (80 GB SXM5)",
        price_cents_per_hour: 2392,
        vcpus: 208,
        memory_gib: 1800,
        storage_gib: 24780,
        gpus: 8,
    },
];

const REGIONS: [(&str, &str); 2] = [
    ("us-east-1", "Virginia, USA"),
    ("us-west-1", "California, USA"),
];

/// What Lambda keeps beside the instances: the account's SSH keys, and the key each instance
/// was launched with. One per router, so one per fake server.
#[derive(Default)]
struct Account {
    keys: Vec<SshKey>,
    key_of_instance: BTreeMap<String, String>,
    next_key: u64,
}

#[derive(Clone)]
struct SshKey {
    id: String,
    name: String,
    public_key: String,
}

type AccountRef = Arc<Mutex<Account>>;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/instance-types", get(instance_types))
        .route("/ssh-keys", get(list_keys).post(add_key))
        .route("/instance-operations/launch", post(launch))
        .route("/instance-operations/terminate", post(terminate))
        .route("/instances", get(list))
        .route("/instances/{id}", get(one))
        .layer(Extension(AccountRef::default()))
}

/// Lambda's error shape.
fn error_body(code: &str, message: &str, suggestion: Option<&str>) -> Value {
    let mut e = json!({"code": code, "message": message});
    if let Some(s) = suggestion {
        e["suggestion"] = json!(s);
    }
    json!({ "error": e })
}

fn error(status: StatusCode, code: &str, message: &str, suggestion: Option<&str>) -> Response {
    (status, Json(error_body(code, message, suggestion))).into_response()
}

fn invalid(message: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "global/invalid-parameters",
        message,
        None,
    )
}

fn data(v: Value) -> Response {
    Json(json!({ "data": v })).into_response()
}

/// Counts the request, checks the key, fires the 5xx and 429 faults: the refusal to answer,
/// if any.
fn gate(w: &Shared, headers: &HeaderMap, uri: &Uri) -> Option<Response> {
    render::refused(
        &mut w.lock().unwrap(),
        PROVIDER_ID,
        headers,
        uri,
        |g| match g {
            Gate::Unauthorized => error_body(
                "global/invalid-api-key",
                "API key was invalid, expired, or deleted.",
                Some("Check your API key or create a new one, then try again."),
            ),
            Gate::ServerError => error_body(
                "global/unknown",
                "The service is temporarily unavailable.",
                Some("Try again later."),
            ),
            Gate::RateLimited { .. } => error_body(
                "global/too-many-requests",
                "Too many requests.",
                Some("Wait before you try again."),
            ),
        },
    )
}

fn spec_of(name: &str) -> Option<&'static TypeSpec> {
    TYPES.iter().find(|t| t.name == name)
}

fn region_json(name: &str) -> Value {
    let description = REGIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(name, |(_, d)| d);
    json!({"name": name, "description": description})
}

fn type_json(name: &str, price_cents_per_hour: u64) -> Value {
    let spec = spec_of(name);
    json!({
        "name": name,
        "description": spec.map_or(name, |s| s.description),
        "gpu_description": spec.map_or(name, |s| s.gpu_description),
        "price_cents_per_hour": price_cents_per_hour,
        "specs": {
            "vcpus": spec.map_or(8, |s| s.vcpus),
            "memory_gib": spec.map_or(64, |s| s.memory_gib),
            "storage_gib": spec.map_or(512, |s| s.storage_gib),
            "gpus": spec.map_or(1, |s| s.gpus),
        },
    })
}

fn cents(usd: f64) -> u64 {
    (usd * 100.0).round().max(0.0) as u64
}

/// One instance in Lambda's `Instance` shape; `ip` and the fields that follow from it only
/// once the machine has booted.
fn instance_json(i: &FakeInstance, phase: Phase, host: &str, key_name: Option<&String>) -> Value {
    let status = if i.terminate_requested_ms.is_some() {
        "terminating"
    } else {
        match phase {
            Phase::Provisioning => "booting",
            Phase::Running => "active",
            Phase::Stopped => "preempted",
            Phase::Terminated => "terminated",
        }
    };
    let booted = phase != Phase::Provisioning;
    let action = if booted {
        json!({"available": true})
    } else {
        json!({"available": false, "reason_code": "vm-has-not-launched",
               "reason_description": "The instance has not launched yet."})
    };
    let mut v = json!({
        "id": i.id,
        "name": i.name,
        "status": status,
        "ssh_key_names": key_name.map_or(vec![], |k| vec![k.clone()]),
        "file_system_names": [],
        "region": region_json(&i.region),
        "instance_type": type_json(&i.instance_type, cents(i.price_per_hour)),
        "is_reserved": false,
        "actions": {
            "migrate": action, "rebuild": action, "restart": action,
            "cold_reboot": action, "terminate": {"available": true},
        },
        "tags": [],
    });
    if booted {
        let token = format!("{:032x}", i.created_ms);
        v["ip"] = json!(host);
        v["private_ip"] = json!("10.0.2.100");
        v["hostname"] = json!(host);
        v["jupyter_token"] = json!(token);
        v["jupyter_url"] = json!(format!(
            "https://jupyter-{}.lambdaspaces.com/?token={token}",
            i.id
        ));
    }
    v
}

async fn instance_types(State(w): State<Shared>, headers: HeaderMap, uri: Uri) -> Response {
    if let Some(r) = gate(&w, &headers, &uri) {
        return r;
    }
    let w = w.lock().unwrap();
    let types: serde_json::Map<String, Value> = TYPES
        .iter()
        .map(|t| {
            let live = w.live_price(t.price_cents_per_hour as f64 / 100.0);
            let regions: Vec<Value> = if w.has_capacity(t.name) {
                REGIONS.iter().map(|(n, _)| region_json(n)).collect()
            } else {
                vec![]
            };
            let entry = json!({
                "instance_type": type_json(t.name, cents(live)),
                "regions_with_capacity_available": regions,
            });
            (t.name.to_string(), entry)
        })
        .collect();
    data(Value::Object(types))
}

fn key_json(k: &SshKey) -> Value {
    json!({"id": k.id, "name": k.name, "public_key": k.public_key})
}

async fn list_keys(
    State(w): State<Shared>,
    Extension(account): Extension<AccountRef>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Some(r) = gate(&w, &headers, &uri) {
        return r;
    }
    let keys: Vec<Value> = account.lock().unwrap().keys.iter().map(key_json).collect();
    data(Value::Array(keys))
}

#[derive(Deserialize)]
struct AddKey {
    name: String,
    public_key: Option<String>,
}

async fn add_key(
    State(w): State<Shared>,
    Extension(account): Extension<AccountRef>,
    headers: HeaderMap,
    uri: Uri,
    body: String,
) -> Response {
    if let Some(r) = gate(&w, &headers, &uri) {
        return r;
    }
    let Ok(req) = serde_json::from_str::<AddKey>(&body) else {
        return invalid("Invalid request data.");
    };
    let Some(public_key) = req.public_key.filter(|k| !k.trim().is_empty()) else {
        return invalid("This fake does not generate key pairs: give a public_key.");
    };
    if req.name.is_empty() || req.name.len() > 64 {
        return invalid("The SSH key name must have 1 to 64 characters.");
    }
    let mut account = account.lock().unwrap();
    if account.keys.iter().any(|k| k.name == req.name) {
        return invalid("An SSH key with this name already exists.");
    }
    account.next_key += 1;
    let key = SshKey {
        id: format!("{:032x}", 0xddf9_a910_u64 * 1_000_003 + account.next_key),
        name: req.name,
        public_key: public_key.trim().to_string(),
    };
    account.keys.push(key.clone());
    data(key_json(&key))
}

#[derive(Deserialize)]
struct Launch {
    region_name: String,
    instance_type_name: String,
    ssh_key_names: Vec<String>,
    #[serde(default)]
    file_system_names: Vec<String>,
    #[serde(default)]
    quantity: Option<u32>,
    #[serde(default)]
    name: Option<String>,
}

async fn launch(
    State(w): State<Shared>,
    Extension(account): Extension<AccountRef>,
    headers: HeaderMap,
    uri: Uri,
    body: String,
) -> Response {
    if let Some(r) = gate(&w, &headers, &uri) {
        return r;
    }
    let Ok(req) = serde_json::from_str::<Launch>(&body) else {
        return invalid("Invalid request data.");
    };
    let Some(spec) = spec_of(&req.instance_type_name) else {
        return invalid(&format!(
            "Invalid instance type: {}.",
            req.instance_type_name
        ));
    };
    if !REGIONS.iter().any(|(n, _)| *n == req.region_name) {
        return invalid(&format!("Invalid region: {}.", req.region_name));
    }
    if req.quantity.is_some_and(|q| q != 1) {
        return invalid("This fake launches one instance at a time.");
    }
    let name = req.name.unwrap_or_default();
    if name.len() > 64 {
        return invalid("The name must be 64 characters or fewer.");
    }
    let [key_name] = req.ssh_key_names.as_slice() else {
        return invalid("Currently, exactly one SSH key must be specified.");
    };
    let not_found = |what: &str| {
        error(
            StatusCode::NOT_FOUND,
            "global/object-does-not-exist",
            &format!("{what} does not exist."),
            Some("Check the name and try again."),
        )
    };
    if let Some(fs) = req.file_system_names.first() {
        return not_found(&format!("File system {fs}"));
    }
    let public_key = {
        let account = account.lock().unwrap();
        match account.keys.iter().find(|k| k.name == *key_name) {
            Some(k) => k.public_key.clone(),
            None => return not_found(&format!("SSH key {key_name}")),
        }
    };
    let made = {
        let mut w = w.lock().unwrap();
        let made = w.create(NewInstance {
            provider: PROVIDER_ID,
            name,
            instance_type: spec.name.to_string(),
            region: req.region_name,
            gpu_count: spec.gpus,
            price_per_hour: spec.price_cents_per_hour as f64 / 100.0,
            spot: false,
            billing: BILLING,
            storage_per_hour: 0.0,
            // The machine boots with the key registered under this name.
            public_key: Some(public_key),
            env: BTreeMap::new(),
        });
        // A lost answer still made the instance: the last one the world holds.
        let id = match &made {
            Ok(i) => Some(i.id.clone()),
            Err(CreateRefusal::AnswerLost) => w.instances.last().map(|i| i.id.clone()),
            Err(CreateRefusal::NoCapacity) => None,
        };
        (made, id)
    };
    if let (_, Some(id)) = &made {
        account
            .lock()
            .unwrap()
            .key_of_instance
            .insert(id.clone(), key_name.clone());
    }
    match made.0 {
        Ok(i) => data(json!({ "instance_ids": [i.id] })),
        Err(CreateRefusal::NoCapacity) => error(
            StatusCode::BAD_REQUEST,
            "instance-operations/launch/insufficient-capacity",
            "Not enough capacity to fulfill launch request.",
            None,
        ),
        Err(CreateRefusal::AnswerLost) => render::answer_lost(),
    }
}

async fn list(
    State(w): State<Shared>,
    Extension(account): Extension<AccountRef>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Some(r) = gate(&w, &headers, &uri) {
        return r;
    }
    let (seen, host, malformed) = {
        let mut w = w.lock().unwrap();
        let seen = w.observe(PROVIDER_ID);
        let malformed = w.take_malformed();
        (seen, w.ssh.host.clone(), malformed)
    };
    let keys = account.lock().unwrap().key_of_instance.clone();
    let mut listed: Vec<Value> = seen
        .iter()
        .map(|(i, phase)| instance_json(i, *phase, &host, keys.get(&i.id)))
        .collect();
    if malformed {
        // `status` is required in the docs' `Instance`; with nothing listed, `data` itself
        // comes back as the wrong type.
        match listed.first_mut().and_then(Value::as_object_mut) {
            Some(first) => {
                first.remove("status");
            }
            None => return data(json!({"instances": "unavailable"})),
        }
    }
    data(Value::Array(listed))
}

async fn one(
    State(w): State<Shared>,
    Extension(account): Extension<AccountRef>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Some(r) = gate(&w, &headers, &uri) {
        return r;
    }
    let (seen, host) = {
        let mut w = w.lock().unwrap();
        (w.observe_one(PROVIDER_ID, &id), w.ssh.host.clone())
    };
    let Some((i, phase)) = seen else {
        return error(
            StatusCode::NOT_FOUND,
            "global/object-does-not-exist",
            "Specified instance does not exist.",
            None,
        );
    };
    let key = account.lock().unwrap().key_of_instance.get(&i.id).cloned();
    data(instance_json(&i, phase, &host, key.as_ref()))
}

#[derive(Deserialize)]
struct Terminate {
    instance_ids: Vec<String>,
}

async fn terminate(
    State(w): State<Shared>,
    Extension(account): Extension<AccountRef>,
    headers: HeaderMap,
    uri: Uri,
    body: String,
) -> Response {
    if let Some(r) = gate(&w, &headers, &uri) {
        return r;
    }
    let Ok(req) = serde_json::from_str::<Terminate>(&body) else {
        return invalid("Invalid request data.");
    };
    if req.instance_ids.is_empty() {
        return invalid("Give at least one instance id.");
    }
    let (done, host) = {
        let mut w = w.lock().unwrap();
        // All or nothing, and without `observe`, which would use up a lingering listing.
        if !req
            .instance_ids
            .iter()
            .all(|id| w.live(PROVIDER_ID, id).is_some())
        {
            return error(
                StatusCode::NOT_FOUND,
                "global/object-does-not-exist",
                "Specified instance does not exist.",
                None,
            );
        }
        let now = crate::world::now_ms();
        let mut done = vec![];
        for id in &req.instance_ids {
            w.terminate(PROVIDER_ID, id);
            if let Some(i) = w.instances.iter().find(|i| i.id == *id) {
                done.push((i.clone(), i.phase(now)));
            }
        }
        (done, w.ssh.host.clone())
    };
    let keys = account.lock().unwrap().key_of_instance.clone();
    let terminated: Vec<Value> = done
        .iter()
        .map(|(i, phase)| instance_json(i, *phase, &host, keys.get(&i.id)))
        .collect();
    data(json!({ "terminated_instances": terminated }))
}
