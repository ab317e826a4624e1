//! The fake Paperspace v1 API (`https://api.paperspace.com/v1`), in the shapes of
//! `crates/ferry-cloud/fixtures/paperspace/`: machines, startup scripts, machine
//! availability, and tRPC-shaped errors (`{"code", "message"}`).
//!
//! As on Paperspace, a machine gets Ferry's key only through its startup script: a create
//! whose `startupScriptId` names a script with an `ssh-ed25519 ` key installs that key.
//! Listings page with `limit` and `after` (the cursor is the last id of the page before).

use crate::world::{CreateRefusal, FakeInstance, Gate, NewInstance, Phase, World, keys_in_script};
use crate::{Shared, render};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use ferry_cloud::Billing;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

const PROVIDER_ID: &str = "paperspace";

/// $/h of a single machine, before `live_price_factor`; `H100x8` is eight `H100`.
const PRICES: &[(&str, f64)] = &[("A4000", 0.76), ("A100-80G", 3.18), ("H100", 5.95)];
const OTHER_PRICE: f64 = 1.00;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/machines", get(list_machines).post(create_machine))
        .route("/machines/{id}", delete(delete_machine))
        .route("/startup-scripts", get(list_scripts).post(create_script))
        .route("/machine-availability", get(availability))
}

/// A startup script as the fake keeps it (its text included, which the API never returns).
#[derive(Debug, Clone)]
struct Script {
    id: String,
    name: String,
    script: String,
    is_run_once: bool,
    created_ms: i64,
}

/// Startup scripts, per fake server (keyed by its world's address): `World` is shared by
/// every provider and has no place for them.
fn scripts() -> MutexGuard<'static, HashMap<usize, Vec<Script>>> {
    static SCRIPTS: OnceLock<Mutex<HashMap<usize, Vec<Script>>>> = OnceLock::new();
    SCRIPTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn account(shared: &Shared) -> usize {
    Arc::as_ptr(shared) as usize
}

fn lock(shared: &Shared) -> MutexGuard<'_, World> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// A tRPC-shaped error, as Paperspace answers one.
fn error_body(code: &str, message: impl Into<String>) -> Value {
    json!({"code": code, "message": message.into()})
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (status, axum::Json(error_body(code, message))).into_response()
}

fn bad_request(message: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
}

/// Counts the request, checks its key, fires the 5xx and 429 faults: the refusal, if any.
fn refused_at_gate(shared: &Shared, headers: &HeaderMap, uri: &Uri) -> Option<Response> {
    render::refused(&mut lock(shared), PROVIDER_ID, headers, uri, |g| match g {
        Gate::Unauthorized => error_body(
            "UNAUTHORIZED",
            "You must be logged in to access this resource.",
        ),
        Gate::ServerError => error_body(
            "INTERNAL_SERVER_ERROR",
            "The service is temporarily unavailable.",
        ),
        Gate::RateLimited { .. } => error_body("TOO_MANY_REQUESTS", "Too many requests"),
    })
}

/// One page of `items` (each with a string `id`), ordered by id, after the `after` cursor;
/// or why the query is refused.
fn page(mut items: Vec<Value>, q: &HashMap<String, String>) -> Result<Value, String> {
    let limit = match q.get("limit") {
        None => 20,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=120).contains(&n) => n,
            _ => return Err("limit must be an integer from 1 to 120".into()),
        },
    };
    let id = |v: &Value| v["id"].as_str().unwrap_or_default().to_string();
    items.sort_by_key(id);
    if let Some(after) = q.get("after") {
        items.retain(|v| id(v).as_str() > after.as_str());
    }
    let has_more = items.len() > limit;
    items.truncate(limit);
    let next = if has_more {
        items.last().map(|v| json!(id(v))).unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    Ok(json!({"hasMore": has_more, "nextPage": next, "items": items}))
}

async fn list_machines(
    State(shared): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = refused_at_gate(&shared, &headers, &uri) {
        return r;
    }
    let (machines, malformed) = {
        let mut w = lock(&shared);
        let listed = w.observe(PROVIDER_ID);
        let machines: Vec<Value> = listed.iter().map(|(i, p)| machine(&w, i, *p)).collect();
        (machines, w.take_malformed())
    };
    let mut body = match page(machines, &q) {
        Ok(b) => b,
        Err(why) => return bad_request(why),
    };
    if malformed {
        // The documented, required `state` goes missing; with nothing to list, the list
        // itself is the wrong type.
        match body["items"]
            .as_array_mut()
            .and_then(|items| items.first_mut())
        {
            Some(Value::Object(first)) => {
                first.remove("state");
            }
            _ => body["items"] = json!("unavailable"),
        }
    }
    axum::Json(body).into_response()
}

/// `POST /machines`' body, as documented (required fields required).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    name: String,
    machine_type: String,
    template_id: String,
    region: String,
    disk_size: f64,
    startup_script_id: Option<String>,
}

async fn create_machine(
    State(shared): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    if let Some(r) = refused_at_gate(&shared, &headers, &uri) {
        return r;
    }
    let req: CreateBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(format!("Invalid input: {e}")),
    };
    if req.name.trim().is_empty() || req.template_id.trim().is_empty() || req.disk_size <= 0.0 {
        return bad_request("name, templateId and diskSize are required");
    }
    // Paperspace runs the startup script on the machine: that is where the key arrives.
    let public_key = match &req.startup_script_id {
        None => None,
        Some(sid) => {
            let found = scripts()
                .get(&account(&shared))
                .and_then(|all| all.iter().find(|s| &s.id == sid).cloned());
            match found {
                Some(s) => keys_in_script(&s.script).next(),
                None => return bad_request(format!("Startup script {sid} not found")),
            }
        }
    };
    let mut w = lock(&shared);
    let price = w.live_price(list_price(&req.machine_type));
    let made = w.create(NewInstance {
        provider: PROVIDER_ID,
        name: req.name,
        instance_type: req.machine_type.clone(),
        region: req.region.clone(),
        gpu_count: gpu_count(&req.machine_type),
        price_per_hour: price,
        spot: false,
        billing: Billing::PER_SECOND,
        storage_per_hour: 0.0,
        public_key,
        env: BTreeMap::new(),
    });
    match made {
        Ok(inst) => {
            let data = machine(&w, &inst, inst.phase(crate::world::now_ms()));
            axum::Json(json!({"event": event("create", &inst), "data": data})).into_response()
        }
        Err(CreateRefusal::NoCapacity) => bad_request(format!(
            "Machine type {} is not available in region {} at this time",
            req.machine_type, req.region
        )),
        Err(CreateRefusal::AnswerLost) => render::answer_lost(),
    }
}

async fn delete_machine(
    State(shared): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = refused_at_gate(&shared, &headers, &uri) {
        return r;
    }
    let mut w = lock(&shared);
    let known = w.live(PROVIDER_ID, &id).cloned();
    match known {
        Some(inst) if w.terminate(PROVIDER_ID, &id) => {
            let data = machine(&w, &inst, inst.phase(crate::world::now_ms()));
            axum::Json(json!({"event": event("delete", &inst), "data": data})).into_response()
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("Machine {id} not found"),
        ),
    }
}

async fn list_scripts(
    State(shared): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = refused_at_gate(&shared, &headers, &uri) {
        return r;
    }
    let items: Vec<Value> = scripts()
        .get(&account(&shared))
        .map(|all| {
            all.iter()
                .filter(|s| q.get("name").is_none_or(|n| *n == s.name))
                .map(script_json)
                .collect()
        })
        .unwrap_or_default();
    match page(items, &q) {
        Ok(body) => axum::Json(body).into_response(),
        Err(why) => bad_request(why),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScriptBody {
    name: String,
    script: String,
    #[serde(default)]
    is_run_once: bool,
}

async fn create_script(
    State(shared): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    if let Some(r) = refused_at_gate(&shared, &headers, &uri) {
        return r;
    }
    let req: ScriptBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(format!("Invalid input: {e}")),
    };
    if req.name.trim().is_empty() || req.script.trim().is_empty() {
        return bad_request("name and script are required");
    }
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let made = Script {
        id: format!("sc{:07}", NEXT.fetch_add(1, Ordering::Relaxed)),
        name: req.name,
        script: req.script,
        is_run_once: req.is_run_once,
        created_ms: crate::world::now_ms(),
    };
    let answer = script_json(&made);
    scripts().entry(account(&shared)).or_default().push(made);
    axum::Json(answer).into_response()
}

async fn availability(
    State(shared): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = refused_at_gate(&shared, &headers, &uri) {
        return r;
    }
    let (Some(machine_type), Some(_region)) = (q.get("machineType"), q.get("region")) else {
        return bad_request("machineType and region are required");
    };
    let available = lock(&shared).has_capacity(machine_type);
    axum::Json(json!({"available": available})).into_response()
}

/// A machine in the documented shape: `publicIp` is the fake's SSH host once it runs.
fn machine(w: &World, i: &FakeInstance, phase: Phase) -> Value {
    let running = phase == Phase::Running;
    let state = match phase {
        Phase::Provisioning => "provisioning",
        Phase::Running => "ready",
        Phase::Stopped | Phase::Terminated => "off",
    };
    let gpus = gpu_count(&i.instance_type);
    let gpu = i.instance_type.split('x').next().unwrap_or_default();
    json!({
        "id": i.id,
        "name": i.name,
        "state": state,
        "os": "Ubuntu 22.04",
        "machineType": i.instance_type,
        "agentType": "LinuxAgent",
        "cpus": 8 * gpus,
        "ram": 48_318_382_080_u64 * u64::from(gpus),
        "storageTotal": 107_374_182_400_u64,
        "storageUsed": 0,
        "accelerators": [{"name": gpu, "memory": 85_899_345_920_u64, "count": gpus}],
        "region": i.region,
        "privateIp": if running { json!("10.64.0.2") } else { Value::Null },
        "networkId": Value::Null,
        "publicIp": if running { json!(w.ssh.host) } else { Value::Null },
        "publicIpType": "dynamic",
        "autoShutdownEnabled": false,
        "autoShutdownTimeout": Value::Null,
        "autoShutdownForce": false,
        "autoSnapshotEnabled": false,
        "autoSnapshotFrequency": Value::Null,
        "autoSnapshotSaveCount": Value::Null,
        "updatesPending": false,
        "restorePointEnabled": false,
        "restorePointFrequency": Value::Null,
        "restorePointSnapshotId": Value::Null,
        "usageRate": i.price_per_hour,
        "storageRate": 10,
        "dtCreated": rfc3339(i.created_ms),
        "dtModified": rfc3339(i.created_ms),
        "dtDeleted": Value::Null,
        "reservation": Value::Null,
    })
}

fn event(name: &str, i: &FakeInstance) -> Value {
    json!({
        "id": format!("mev{}", i.id),
        "name": name,
        "state": "new",
        "machineId": i.id,
        "dtCreated": rfc3339(crate::world::now_ms()),
        "dtStarted": Value::Null,
        "dtFinished": Value::Null,
        "error": Value::Null,
    })
}

/// A startup script in the documented shape (which leaves out the script itself).
fn script_json(s: &Script) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "description": Value::Null,
        "isEnabled": true,
        "isRunOnce": s.is_run_once,
        "assignedMachineIds": [],
        "dtCreated": rfc3339(s.created_ms),
        "dtDeleted": Value::Null,
    })
}

/// `H100x8` → 8; a type without a count suffix is one GPU.
fn gpu_count(machine_type: &str) -> u32 {
    machine_type
        .rsplit_once('x')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(1)
}

fn list_price(machine_type: &str) -> f64 {
    let single = machine_type
        .rsplit_once('x')
        .filter(|(_, n)| n.parse::<u32>().is_ok())
        .map_or(machine_type, |(t, _)| t);
    let each = PRICES
        .iter()
        .find(|(t, _)| *t == single)
        .map_or(OTHER_PRICE, |(_, p)| *p);
    each * f64::from(gpu_count(machine_type))
}

/// Epoch milliseconds as `2024-06-11T09:12:44.512Z`.
fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let rem = secs.rem_euclid(86_400);
    let d = ferry_catalog::Date::of_epoch_ms(ms);
    let (year, month, day) = (d.year, d.month, d.day.unwrap_or(1));
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_counts_and_dates() {
        assert_eq!(list_price("A100-80G"), 3.18);
        assert!((list_price("H100x8") - 47.6).abs() < 1e-9);
        assert_eq!(list_price("RTX9000"), 1.0);
        assert_eq!(gpu_count("A100-80Gx8"), 8);
        assert_eq!(gpu_count("A4000"), 1);
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_718_097_164_512), "2024-06-11T09:12:44.512Z");
    }
}
