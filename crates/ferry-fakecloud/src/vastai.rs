//! The fake Vast.ai API, in the shapes of Vast.ai's OpenAPI specs (`vast-ai/vast-cli`,
//! `openapi/yaml/`) and of the fixtures in `crates/ferry-cloud/fixtures/vastai/`.
//!
//! | route | answers |
//! |---|---|
//! | `POST /bundles/` | a small fixed market per GPU name ([`MARKET`]), filtered by the body's `gpu_name`, `num_gpus` and `reliability2` |
//! | `PUT /asks/{ask}/` | `{success, new_contract}`; 404 `no_such_ask` for an unknown ask or no capacity |
//! | `GET /instances/` | `{instances_found, instances:[…]}` |
//! | `DELETE /instances/{id}/` | `{success, msg}`; 404 `not_found` |
//! | `POST /instances/{id}/ssh/` | installs the key |
//! | `GET /charges/` | one row per instance, from the fake's own billing record |
//!
//! The market is stateless: an ask id names a (GPU name, GPU count, market row), so a create
//! finds what it rents from the id alone, and an ask can be rented any number of times.

use crate::world::{
    CreateRefusal, FakeInstance, Gate, NewInstance, Phase, World, keys_in_script, now_ms,
};
use crate::{Shared, render};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use ferry_cloud::Billing;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

const PROVIDER_ID: &str = "vastai";

/// Per GPU name, the offers on sale: price per GPU per hour (before the live-price factor),
/// host reliability, location. The cheapest is under Ferry's reliability floor, and the next
/// cheapest is over it but worse per unit of reliability than the third.
pub const MARKET: [(f64, f64, &str); 4] = [
    (1.80, 0.999, "Oslo, NO"),
    (1.60, 0.90, "Texas, US"),
    (1.65, 0.995, "Quebec, CA"),
    (1.62, 0.951, "Bavaria, DE"),
];

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/bundles/", post(bundles))
        .route("/asks/{ask}/", put(create))
        .route("/instances/", get(list))
        .route("/instances/{id}/", delete(terminate))
        .route("/instances/{id}/ssh/", post(attach_ssh))
        .route("/charges/", get(charges))
}

/// Vast.ai's error body: `{success: false, error, msg}`.
fn refuse_body(error: &str, msg: &str) -> Value {
    json!({"success": false, "error": error, "msg": msg})
}

fn refuse(status: StatusCode, error: &str, msg: &str) -> Response {
    (status, axum::Json(refuse_body(error, msg))).into_response()
}

fn ok(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// Counts the call and applies the key check and the 5xx/429 faults: `Some` answer when
/// the call is refused.
fn refused(w: &mut World, headers: &HeaderMap, uri: &Uri) -> Option<Response> {
    render::refused(w, PROVIDER_ID, headers, uri, |g| match g {
        Gate::Unauthorized => refuse_body("auth_error", "Invalid user key"),
        Gate::ServerError => refuse_body("server_error", "Service temporarily unavailable"),
        Gate::RateLimited { .. } => {
            json!({"detail": "API requests too frequent endpoint threshold=4.5"})
        }
    })
}

/// An ask of the market, recovered from its id.
#[derive(Debug, Clone, PartialEq)]
struct Ask {
    id: u64,
    gpu_name: String,
    num_gpus: u32,
    row: usize,
}

impl Ask {
    fn reliability(&self) -> f64 {
        MARKET[self.row].1
    }

    fn geolocation(&self) -> &'static str {
        MARKET[self.row].2
    }

    fn dph_total(&self, w: &World) -> f64 {
        let price = w.live_price(MARKET[self.row].0 * f64::from(self.num_gpus));
        (price * 1e6).round() / 1e6
    }

    fn min_bid(&self, w: &World) -> f64 {
        (self.dph_total(w) * 0.5 * 1e6).round() / 1e6
    }
}

/// (GPU name, count) pairs seen, in order: an ask id is `20_000_000 + index × 10 + row`.
/// Shared by every fake in the process, which is harmless: ids only name, never hold state.
fn ask_ids() -> &'static Mutex<Vec<(String, u32)>> {
    static IDS: OnceLock<Mutex<Vec<(String, u32)>>> = OnceLock::new();
    IDS.get_or_init(|| Mutex::new(Vec::new()))
}

const ASK_BASE: u64 = 20_000_000;

fn asks_for(gpu_name: &str, num_gpus: u32) -> Vec<Ask> {
    let mut ids = ask_ids().lock().unwrap();
    let index = match ids
        .iter()
        .position(|(g, n)| g == gpu_name && *n == num_gpus)
    {
        Some(i) => i,
        None => {
            ids.push((gpu_name.to_string(), num_gpus));
            ids.len() - 1
        }
    };
    (0..MARKET.len())
        .map(|row| Ask {
            id: ASK_BASE + index as u64 * 10 + row as u64,
            gpu_name: gpu_name.to_string(),
            num_gpus,
            row,
        })
        .collect()
}

fn ask_by_id(id: u64) -> Option<Ask> {
    let rel = id.checked_sub(ASK_BASE)?;
    let (index, row) = ((rel / 10) as usize, (rel % 10) as usize);
    let ids = ask_ids().lock().unwrap();
    let (gpu_name, num_gpus) = ids.get(index)?.clone();
    (row < MARKET.len()).then_some(Ask {
        id,
        gpu_name,
        num_gpus,
        row,
    })
}

/// The JSON body (an empty one is `{}`), or the 400 Vast.ai gives for anything else.
fn parse_body(body: &Bytes) -> Result<Value, Box<Response>> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|_| {
        Box::new(
            (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": "invalid_request", "msg": "Invalid json body"})),
            )
                .into_response(),
        )
    })
}

/// The values a filter `{eq: v}` or `{in: [v…]}` accepts.
fn filter_values(filter: Option<&Value>) -> Option<Vec<Value>> {
    let f = filter?;
    if let Some(v) = f.get("eq") {
        return Some(vec![v.clone()]);
    }
    f.get("in").and_then(Value::as_array).cloned()
}

async fn bundles(
    State(world): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let mut w = world.lock().unwrap();
    if let Some(r) = refused(&mut w, &headers, &uri) {
        return r;
    }
    let query = match parse_body(&body) {
        Ok(q) => q,
        Err(r) => return *r,
    };
    let names: Vec<String> = filter_values(query.get("gpu_name"))
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let counts: Vec<u32> = filter_values(query.get("num_gpus"))
        .map(|vs| {
            vs.iter()
                .filter_map(|v| v.as_u64())
                .map(|n| n as u32)
                .collect()
        })
        .unwrap_or_else(|| vec![1]);
    let min_reliability = query
        .pointer("/reliability2/gte")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let mut offers: Vec<(f64, Value)> = vec![];
    for name in names.iter().filter(|n| w.has_capacity(n)) {
        for &count in &counts {
            for ask in asks_for(name, count) {
                if ask.reliability() < min_reliability {
                    continue;
                }
                let dph_total = ask.dph_total(&w);
                offers.push((dph_total, render_offer(&ask, dph_total, ask.min_bid(&w))));
            }
        }
    }
    offers.sort_by(|a, b| a.0.total_cmp(&b.0));
    let limit = query.get("limit").and_then(Value::as_u64).unwrap_or(64) as usize;
    let offers: Vec<Value> = offers.into_iter().take(limit).map(|(_, o)| o).collect();
    ok(json!({ "offers": offers }))
}

fn render_offer(ask: &Ask, dph_total: f64, min_bid: f64) -> Value {
    json!({
        "id": ask.id,
        "ask_contract_id": ask.id,
        "machine_id": 30_000 + ask.id % 100_000,
        "host_id": 40_000 + ask.row as u64,
        "num_gpus": ask.num_gpus,
        "gpu_name": ask.gpu_name,
        "gpu_ram": 81_559,
        "gpu_total_ram": 81_559 * u64::from(ask.num_gpus),
        "dph_total": dph_total,
        "dph_base": (dph_total * 0.98 * 1e6).round() / 1e6,
        "min_bid": min_bid,
        "storage_cost": 0.15,
        "reliability2": ask.reliability(),
        "geolocation": ask.geolocation(),
        "cuda_max_good": 12.8,
        "inet_down": 2048.5,
        "inet_up": 1024.2,
        "direct_port_count": 100,
        "rentable": true,
        "rented": false,
        "is_bid": false,
        "verification": "verified",
    })
}

async fn create(
    State(world): State<Shared>,
    Path(ask): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let mut w = world.lock().unwrap();
    if let Some(r) = refused(&mut w, &headers, &uri) {
        return r;
    }
    let req = match parse_body(&body) {
        Ok(q) => q,
        Err(r) => return *r,
    };
    let no_such_ask = |id: &str| {
        refuse(
            StatusCode::NOT_FOUND,
            "invalid_args",
            &format!("error 404/3603: no_such_ask Instance type by id {id} is not available."),
        )
    };
    let Some(ask) = ask.parse::<u64>().ok().and_then(ask_by_id) else {
        return no_such_ask(&ask);
    };
    if req.get("image").and_then(Value::as_str).is_none() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_args",
            "error 400/3467: Invalid args: 'image' is required",
        );
    }
    let bid = req.get("price").and_then(Value::as_f64);
    let price_per_hour = match bid {
        Some(b) if b < ask.min_bid(&w) - 1e-9 || b > 128.0 => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_price",
                &format!("bid {b} is under the offer's minimum bid"),
            );
        }
        Some(b) => b,
        None => ask.dph_total(&w),
    };
    let made = w.create(NewInstance {
        provider: PROVIDER_ID,
        name: req
            .get("label")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        instance_type: ask.gpu_name.clone(),
        region: ask.geolocation().to_string(),
        gpu_count: ask.num_gpus,
        price_per_hour,
        spot: bid.is_some(),
        billing: Billing::PER_SECOND,
        storage_per_hour: 0.0,
        public_key: None,
        env: Default::default(),
    });
    if matches!(made, Ok(_) | Err(CreateRefusal::AnswerLost)) {
        let onstart = req
            .get("onstart")
            .and_then(Value::as_str)
            .unwrap_or_default();
        // The fake plays the instance running its onstart.
        for key in keys_in_script(onstart) {
            w.install_key(&key);
        }
    }
    match made {
        Ok(inst) => ok(json!({
            "success": true,
            "new_contract": inst.id.parse::<u64>().unwrap_or_default(),
        })),
        Err(CreateRefusal::NoCapacity) => no_such_ask(&ask.id.to_string()),
        Err(CreateRefusal::AnswerLost) => render::answer_lost(),
    }
}

fn render_instance(w: &World, i: &FakeInstance, phase: Phase) -> Value {
    let id = i.id.parse::<u64>().unwrap_or_default();
    let ssh = &w.ssh;
    let (actual, cur, next, intended): (Value, &str, &str, &str) = match phase {
        Phase::Provisioning if now_ms() < (i.created_ms + i.ready_ms) / 2 => {
            (Value::Null, "running", "running", "running")
        }
        Phase::Provisioning => (json!("loading"), "running", "running", "running"),
        Phase::Running => (json!("running"), "running", "running", "running"),
        // Outbid (or interrupted): paused, still wanted running.
        Phase::Stopped => (json!("exited"), "stopped", "stopped", "running"),
        Phase::Terminated => (json!("exited"), "unloaded", "unloaded", "stopped"),
    };
    let running = phase == Phase::Running;
    json!({
        "id": id,
        "label": i.name,
        "actual_status": actual,
        "intended_status": intended,
        "cur_state": cur,
        "next_state": next,
        "image_runtype": "ssh_direct",
        "status_msg": if running { json!(format!("success, running {}", i.instance_type)) } else { Value::Null },
        "ssh_host": ssh.host,
        "ssh_port": ssh.port,
        "public_ipaddr": if running { json!(ssh.host) } else { Value::Null },
        "ports": if running {
            json!({"22/tcp": [{"HostIp": "0.0.0.0", "HostPort": ssh.port.to_string()}]})
        } else {
            Value::Null
        },
        "machine_id": 30_000 + id % 100_000,
        "host_id": 40_000,
        "gpu_name": i.instance_type,
        "num_gpus": i.gpu_count,
        "geolocation": i.region,
        "dph_total": i.price_per_hour,
        "is_bid": i.spot,
        "start_date": i.created_ms as f64 / 1000.0,
    })
}

async fn list(State(world): State<Shared>, headers: HeaderMap, uri: Uri) -> Response {
    let mut w = world.lock().unwrap();
    if let Some(r) = refused(&mut w, &headers, &uri) {
        return r;
    }
    let malformed = w.take_malformed();
    let seen = w.observe(PROVIDER_ID);
    let mut instances: Vec<Value> = seen
        .iter()
        .map(|(i, phase)| render_instance(&w, i, *phase))
        .collect();
    let count = instances.len();
    if malformed {
        match instances.first_mut().and_then(Value::as_object_mut) {
            Some(first) => {
                first.remove("id");
            }
            None => return ok(json!({"instances_found": 0, "instances": "none"})),
        }
    }
    ok(json!({"instances_found": count, "instances": instances}))
}

async fn terminate(
    State(world): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let mut w = world.lock().unwrap();
    if let Some(r) = refused(&mut w, &headers, &uri) {
        return r;
    }
    if id.parse::<u64>().is_err() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_args",
            "invalid instance_id",
        );
    }
    if w.terminate(PROVIDER_ID, &id) {
        ok(json!({"success": true, "msg": "Instance destroyed successfully"}))
    } else {
        refuse(StatusCode::NOT_FOUND, "not_found", "Instance not found")
    }
}

async fn attach_ssh(
    State(world): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let mut w = world.lock().unwrap();
    if let Some(r) = refused(&mut w, &headers, &uri) {
        return r;
    }
    let req = match parse_body(&body) {
        Ok(q) => q,
        Err(r) => return *r,
    };
    // Not `observe`: that would use up a lingering instance's listings.
    if w.live(PROVIDER_ID, &id).is_none() {
        return refuse(StatusCode::NOT_FOUND, "not_found", "Instance not found");
    }
    match req.get("ssh_key").and_then(Value::as_str).map(str::trim) {
        Some(key) if !key.is_empty() => {
            w.install_key(key);
            ok(json!({"success": true, "msg": "SSH key attached successfully"}))
        }
        _ => refuse(
            StatusCode::BAD_REQUEST,
            "invalid_args",
            "ssh_key is required",
        ),
    }
}

async fn charges(State(world): State<Shared>, headers: HeaderMap, uri: Uri) -> Response {
    let mut w = world.lock().unwrap();
    if let Some(r) = refused(&mut w, &headers, &uri) {
        return r;
    }
    let params: HashMap<String, String> = Query::try_from_uri(&uri)
        .map(|Query(q)| q)
        .unwrap_or_default();
    let filters: Value = params
        .get("select_filters")
        .and_then(|f| serde_json::from_str(f).ok())
        .unwrap_or(Value::Null);
    let day = |op: &str| {
        filters
            .pointer(&format!("/day/{op}"))
            .and_then(Value::as_i64)
    };
    let (Some(from_s), Some(to_s)) = (day("gte"), day("lte")) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({
                "success": false,
                "msg": "Must provide both 'day' gte and lte filters for instance charges",
            })),
        )
            .into_response();
    };
    let now = now_ms();
    let results: Vec<Value> = w
        .instances
        .iter()
        .filter(|i| i.provider == PROVIDER_ID)
        .filter(|i| {
            let (start, end) = (i.created_ms / 1000, i.gone_ms.unwrap_or(now) / 1000);
            start <= to_s && end >= from_s
        })
        .map(|i| {
            let (start, end) = (i.created_ms / 1000, i.gone_ms.unwrap_or(now) / 1000);
            let amount = i.billed(now).as_usd();
            let hours = (i.gone_ms.unwrap_or(now) - i.created_ms) as f64 / 3_600_000.0;
            json!({
                "start": start,
                "end": end,
                "type": "instance",
                "source": format!("instance-{}", i.id),
                "description": format!("Instance {} Charges", i.id),
                "amount": amount,
                "metadata": {"label": i.name},
                "items": [{
                    "start": start,
                    "end": end,
                    "type": "gpu",
                    "source": null,
                    "description": format!("{hours:.3} hours at ${:.3}/hour", i.price_per_hour),
                    "amount": amount,
                    "metadata": {},
                    "items": [],
                }],
            })
        })
        .collect();
    ok(json!({
        "success": true,
        "count": results.len(),
        "total": results.len(),
        "results": results,
        "next_token": null,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ask_ids_name_their_offer() {
        let asks = asks_for("RTX 4090", 2);
        assert_eq!(asks.len(), MARKET.len());
        for a in &asks {
            assert_eq!(ask_by_id(a.id).as_ref(), Some(a));
        }
        assert_eq!(asks_for("RTX 4090", 2), asks, "stable");
        assert_ne!(asks_for("RTX 4090", 1)[0].id, asks[0].id);
        assert_eq!(ask_by_id(1), None);
    }
}
