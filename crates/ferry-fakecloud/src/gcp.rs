//! The fake Google Cloud: the Compute Engine API v1
//! (<https://cloud.google.com/compute/docs/reference/rest/v1>) and Google's OAuth 2.0 token
//! endpoint for a service account, answering the shapes of `crates/ferry-cloud/fixtures/gcp/`:
//! the resource itself on success, `{"error": {code, message, errors: [{message, domain,
//! reason}], status?}}` on failure.
//!
//! | route | does |
//! |---|---|
//! | `POST /token` | the JWT bearer grant: the RS256 signature is checked against the key of `fixtures/gcp/service-account.json`, and `iss`, `aud`, `exp`; `{access_token, expires_in, token_type}` or 400 `invalid_grant` (not gated; counted as `gcp-token`) |
//! | `GET /compute/v1/projects/{p}/regions/{region}` | `Region`: its zones (`-a`, `-b`, `-c`) and quotas, the GPU ones per family with the GPUs of live instances as usage and [`Faults::gpu_quota`](crate::Faults) (else 64) as limit |
//! | `GET /compute/v1/projects/{p}/zones/{zone}/machineTypes/{type}` | `MachineType` for a type the catalog lists in the zone's region; 404 `notFound` else. A3 types are not offered in the `-a` zones |
//! | `POST /compute/v1/projects/{p}/zones/{zone}/instances?requestId=` | an `Operation`: `RUNNING`, or `DONE` with `QUOTA_EXCEEDED` over quota; no capacity shows as `ZONE_RESOURCE_POOL_EXHAUSTED` when waited on. A `requestId` seen before answers its first operation; a name taken in the zone, 409 `alreadyExists` |
//! | `POST /compute/v1/projects/{p}/zones/{zone}/operations/{op}/wait` | the operation, `DONE` |
//! | `GET /compute/v1/projects/{p}/aggregated/instances` | `InstanceAggregatedList`: every zone, with `NO_RESULTS_ON_PAGE` for the empty ones; two instances a page, the rest behind `nextPageToken` |
//! | `DELETE /compute/v1/projects/{p}/zones/{zone}/instances/{name}` | an `Operation`; 404 `notFound` for an instance it does not know |
//!
//! Only the test key file's project (`ferry-test-project`) exists; another answers 403. A
//! create bills at the catalog's list price for the machine type in the zone's region (Spot
//! or not), per second with a one-minute minimum, plus the boot disk at pd-balanced's price.
//! An instance is listed `PROVISIONING`, then `STAGING`, then `RUNNING` with the world's SSH
//! host as its `natIP`; `STOPPING` while a deleted one lingers; `TERMINATED` once stopped.

use crate::world::{CreateRefusal, FakeInstance, Gate, NewInstance, Phase, World, now_ms};
use crate::{Shared, render};
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ferry_cloud::Billing;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Where an instance made behind the API's back (`/_fake/plant`) lives: it has no insert
/// of its own to say.
const PLANTED_ZONE: &str = "us-central1-a";

pub const PROVIDER_ID: &str = "gcp";
/// Where the token endpoint's requests are counted in `World::calls`.
pub const TOKEN_CALLS: &str = "gcp-token";
/// The one project that exists: the test key file's.
pub const PROJECT: &str = "ferry-test-project";

const SERVICE_ACCOUNT: &str = include_str!("../../ferry-cloud/fixtures/gcp/service-account.json");
const API: &str = "https://www.googleapis.com/compute/v1";

/// Per second, with a one-minute minimum
/// (<https://cloud.google.com/compute/vm-instance-pricing#billing_model>).
const BILLING: Billing = Billing {
    increment_s: 1,
    minimum_s: 60,
};
/// pd-balanced, $0.10 per GB-month (<https://cloud.google.com/compute/disks-image-pricing>).
const PD_BALANCED_PER_GB_MONTH: f64 = 0.10;
/// The GPU quota of each family when the faults set none.
const PLENTY: u32 = 64;
/// Instances per page of an aggregated listing.
const PAGE: usize = 2;

/// A machine type the catalog lists in a region.
#[derive(Debug, Clone)]
struct Row {
    instance_type: String,
    region: String,
    gpu_count: u32,
    vcpus: u32,
    ram_gb: f64,
    price: Option<f64>,
    spot_price: Option<f64>,
}

fn rows() -> &'static [Row] {
    static ROWS: OnceLock<Vec<Row>> = OnceLock::new();
    ROWS.get_or_init(|| {
        ferry_catalog::Catalog::embedded()
            .offers
            .iter()
            .filter(|o| o.provider == PROVIDER_ID)
            .map(|o| Row {
                instance_type: o.instance_type.clone(),
                region: o.region.clone(),
                gpu_count: o.gpu_count,
                vcpus: o.vcpus.unwrap_or(8.0) as u32,
                ram_gb: o.ram_gb.unwrap_or(32.0),
                price: o.price(false),
                spot_price: o.price(true),
            })
            .collect()
    })
}

fn regions() -> Vec<String> {
    let mut r: Vec<String> = rows().iter().map(|r| r.region.clone()).collect();
    r.sort();
    r.dedup();
    r
}

fn zones_of(region: &str) -> Vec<String> {
    ["a", "b", "c"]
        .iter()
        .map(|s| format!("{region}-{s}"))
        .collect()
}

fn region_of_zone(zone: &str) -> Option<String> {
    let (region, _) = zone.rsplit_once('-')?;
    regions()
        .into_iter()
        .find(|r| r == region)
        .filter(|_| zones_of(region).iter().any(|z| z == zone))
}

/// The catalog's row for `machine` in `zone`, if the zone offers it.
fn offered(zone: &str, machine: &str) -> Option<&'static Row> {
    let region = region_of_zone(zone)?;
    if machine.starts_with("a3-") && zone.ends_with("-a") {
        return None;
    }
    rows()
        .iter()
        .find(|r| r.region == region && r.instance_type == machine)
}

/// The fake's own table of regional GPU quota metrics by family
/// (<https://cloud.google.com/compute/resource-usage#gpu_quota>).
fn metric_of(machine: &str) -> Option<&'static str> {
    let family = machine.rsplit_once('-').map_or(machine, |(f, _)| f);
    Some(match family {
        "a2-highgpu" | "a2-megagpu" => "NVIDIA_A100_GPUS",
        "a2-ultragpu" => "NVIDIA_A100_80GB_GPUS",
        "a3-highgpu" | "a3-edgegpu" => "NVIDIA_H100_GPUS",
        "a3-megagpu" => "NVIDIA_H100_MEGA_GPUS",
        "a3-ultragpu" => "NVIDIA_H200_GPUS",
        "g2-standard" => "NVIDIA_L4_GPUS",
        _ => return None,
    })
}

const METRICS: [&str; 6] = [
    "NVIDIA_A100_GPUS",
    "NVIDIA_A100_80GB_GPUS",
    "NVIDIA_H100_GPUS",
    "NVIDIA_H100_MEGA_GPUS",
    "NVIDIA_H200_GPUS",
    "NVIDIA_L4_GPUS",
];

fn accelerator_type(machine: &str) -> &'static str {
    match metric_of(machine) {
        Some("NVIDIA_A100_GPUS") => "nvidia-tesla-a100",
        Some("NVIDIA_A100_80GB_GPUS") => "nvidia-a100-80gb",
        Some("NVIDIA_H100_GPUS") => "nvidia-h100-80gb",
        Some("NVIDIA_H100_MEGA_GPUS") => "nvidia-h100-mega-80gb",
        Some("NVIDIA_H200_GPUS") => "nvidia-h200-141gb",
        Some("NVIDIA_L4_GPUS") => "nvidia-l4",
        _ => "nvidia-tesla-t4",
    }
}

/// GPUs of live instances in `region` counted by `metric` (Spot ones by its `PREEMPTIBLE_`
/// twin).
fn usage(w: &World, region: &str, metric: &str, spot: bool) -> u32 {
    let now = now_ms();
    w.instances
        .iter()
        .filter(|i| i.provider == PROVIDER_ID && i.region == region && i.spot == spot)
        .filter(|i| i.phase(now) != Phase::Terminated)
        .filter(|i| metric_of(&i.instance_type) == Some(metric))
        .map(|i| i.gpu_count)
        .sum()
}

/// What the insert asked for beyond the world's instance, echoed by the listings.
#[derive(Debug, Clone)]
struct Made {
    zone: String,
    labels: Value,
    metadata: Value,
    disk_gb: u64,
    image: String,
    termination_action: Option<String>,
}

#[derive(Debug, Clone)]
struct Op {
    id: u64,
    name: String,
    zone: String,
    kind: &'static str,
    target: String,
    target_id: Option<String>,
    /// Revealed as `DONE` with this error when waited on.
    error: Option<(String, String, u16)>,
    done: bool,
    insert_time: i64,
}

#[derive(Default)]
struct Account {
    made: BTreeMap<String, Made>,
    ops: BTreeMap<String, Op>,
    requests: BTreeMap<String, String>,
    pages: BTreeMap<String, Vec<(String, Value)>>,
    next: u64,
}

type AccountRef = Arc<Mutex<Account>>;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/token", post(token))
        .route(
            "/compute/v1/projects/{project}/regions/{region}",
            get(region),
        )
        .route(
            "/compute/v1/projects/{project}/zones/{zone}/machineTypes/{machine}",
            get(machine_type),
        )
        .route(
            "/compute/v1/projects/{project}/zones/{zone}/instances",
            post(insert),
        )
        .route(
            "/compute/v1/projects/{project}/zones/{zone}/instances/{name}",
            axum::routing::delete(delete),
        )
        .route(
            "/compute/v1/projects/{project}/zones/{zone}/operations/{op}/wait",
            post(wait),
        )
        .route(
            "/compute/v1/projects/{project}/aggregated/instances",
            get(aggregated),
        )
        .layer(Extension(AccountRef::default()))
}

/// Google's error shape.
fn error_body(code: u16, message: &str, reason: &str, domain: &str, status: Option<&str>) -> Value {
    let mut e = json!({
        "code": code,
        "message": message,
        "errors": [{"message": message, "domain": domain, "reason": reason}],
    });
    if let Some(s) = status {
        e["status"] = json!(s);
    }
    json!({ "error": e })
}

fn error(status: StatusCode, message: &str, reason: &str) -> Response {
    let domain = if reason == "quotaExceeded" {
        "usageLimits"
    } else {
        "global"
    };
    (
        status,
        Json(error_body(status.as_u16(), message, reason, domain, None)),
    )
        .into_response()
}

fn not_found(resource: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("The resource '{resource}' was not found"),
        "notFound",
    )
}

fn invalid(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, message, "invalid")
}

fn gate(w: &Shared, headers: &HeaderMap, uri: &Uri, project: &str) -> Option<Response> {
    let refused = render::refused(
        &mut w.lock().unwrap(),
        PROVIDER_ID,
        headers,
        uri,
        |g| match g {
            Gate::Unauthorized => error_body(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
                "authError",
                "global",
                Some("UNAUTHENTICATED"),
            ),
            Gate::ServerError => error_body(
                503,
                "Internal error. Please try again or contact Google Support.",
                "backendError",
                "global",
                Some("UNAVAILABLE"),
            ),
            Gate::RateLimited { .. } => error_body(
                429,
                "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute' of service 'compute.googleapis.com'.",
                "rateLimitExceeded",
                "usageLimits",
                Some("RESOURCE_EXHAUSTED"),
            ),
        },
    );
    if refused.is_some() {
        return refused;
    }
    (project != PROJECT).then(|| {
        error(
            StatusCode::FORBIDDEN,
            &format!("Permission denied on resource project {project}."),
            "forbidden",
        )
    })
}

fn query_param(uri: &Uri, key: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---- the token endpoint ----

struct Signer {
    client_email: String,
    token_uri: String,
    public_key: Vec<u8>,
}

fn signer() -> &'static Signer {
    static SIGNER: OnceLock<Signer> = OnceLock::new();
    SIGNER.get_or_init(|| {
        let sa: Value = serde_json::from_str(SERVICE_ACCOUNT).expect("the test key file");
        let pem = sa["private_key"].as_str().expect("a private_key");
        let body: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::trim)
            .collect();
        let der = STANDARD.decode(body).expect("PEM base64");
        let pair = ring::signature::RsaKeyPair::from_pkcs8(&der).expect("a PKCS#8 RSA key");
        Signer {
            client_email: sa["client_email"].as_str().unwrap_or_default().to_string(),
            token_uri: sa["token_uri"].as_str().unwrap_or_default().to_string(),
            public_key: ring::signature::KeyPair::public_key(&pair)
                .as_ref()
                .to_vec(),
        }
    })
}

fn grant_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// Checks a JWT bearer assertion; the refusal Google gives (`error`, `error_description`), if any.
fn check_assertion(jwt: &str) -> Result<(), (&'static str, &'static str)> {
    let bad_signature = || ("invalid_grant", "Invalid JWT Signature.");
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return Err(("invalid_grant", "Invalid JWT: malformed."));
    };
    let decode = |p: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()
    };
    let (Some(h), Some(c)) = (decode(header), decode(claims)) else {
        return Err(("invalid_grant", "Invalid JWT: malformed."));
    };
    if h["alg"] != "RS256" {
        return Err(bad_signature());
    }
    let Ok(sig) = URL_SAFE_NO_PAD.decode(signature) else {
        return Err(bad_signature());
    };
    let s = signer();
    let key = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        &s.public_key,
    );
    if key
        .verify(format!("{header}.{claims}").as_bytes(), &sig)
        .is_err()
    {
        return Err(bad_signature());
    }
    if c["iss"] != s.client_email.as_str() {
        return Err(("invalid_grant", "Invalid grant: account not found"));
    }
    if c["aud"] != s.token_uri.as_str() {
        return Err(("invalid_grant", "Invalid JWT: Failed audience check."));
    }
    if c["scope"].as_str().is_none_or(str::is_empty) {
        return Err((
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
        ));
    }
    let now = now_ms() / 1000;
    let (iat, exp) = (c["iat"].as_i64(), c["exp"].as_i64());
    let timely = match (iat, exp) {
        (Some(iat), Some(exp)) => exp > now && iat <= now + 60 && exp - iat <= 3600,
        _ => false,
    };
    if !timely {
        return Err((
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
        ));
    }
    Ok(())
}

async fn token(State(w): State<Shared>, body: String) -> Response {
    *w.lock()
        .unwrap()
        .calls
        .entry(TOKEN_CALLS.to_string())
        .or_default() += 1;
    let form: BTreeMap<String, String> = body
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (percent_decode(k), percent_decode(v)))
        .collect();
    let grant = form.get("grant_type").map_or("", String::as_str);
    if grant != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        return grant_error(
            "unsupported_grant_type",
            &format!("Invalid grant_type: {grant}"),
        );
    }
    if let Err((error, description)) =
        check_assertion(form.get("assertion").map_or("", String::as_str))
    {
        return grant_error(error, description);
    }
    let token = w.lock().unwrap().issue_token(PROVIDER_ID);
    Json(json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})).into_response()
}

// ---- Compute Engine ----

async fn region(
    State(w): State<Shared>,
    Path((project, region)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Some(r) = gate(&w, &headers, &uri, &project) {
        return r;
    }
    if !regions().contains(&region) {
        return not_found(&format!("projects/{project}/regions/{region}"));
    }
    let w = w.lock().unwrap();
    let limit = w.faults.gpu_quota.unwrap_or(PLENTY);
    let mut quotas = vec![
        json!({"metric": "CPUS", "limit": 1024.0, "usage": 0.0}),
        json!({"metric": "DISKS_TOTAL_GB", "limit": 65536.0, "usage": 0.0}),
        json!({"metric": "IN_USE_ADDRESSES", "limit": 64.0, "usage": 0.0}),
    ];
    for m in METRICS {
        quotas.push(json!({"metric": m, "limit": f64::from(limit),
                           "usage": f64::from(usage(&w, &region, m, false))}));
        quotas.push(
            json!({"metric": format!("PREEMPTIBLE_{m}"), "limit": f64::from(limit),
                           "usage": f64::from(usage(&w, &region, m, true))}),
        );
    }
    let zones: Vec<String> = zones_of(&region)
        .iter()
        .map(|z| format!("{API}/projects/{project}/zones/{z}"))
        .collect();
    Json(json!({
        "kind": "compute#region",
        "id": "1000",
        "creationTimestamp": "1969-12-31T16:00:00.000-08:00",
        "name": region,
        "description": region,
        "status": "UP",
        "zones": zones,
        "quotas": quotas,
        "selfLink": format!("{API}/projects/{project}/regions/{region}"),
        "supportsPzs": false,
    }))
    .into_response()
}

async fn machine_type(
    State(w): State<Shared>,
    Path((project, zone, machine)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Some(r) = gate(&w, &headers, &uri, &project) {
        return r;
    }
    let Some(row) = offered(&zone, &machine) else {
        return not_found(&format!(
            "projects/{project}/zones/{zone}/machineTypes/{machine}"
        ));
    };
    Json(json!({
        "kind": "compute#machineType",
        "id": "1000012",
        "creationTimestamp": "1969-12-31T16:00:00.000-08:00",
        "name": machine,
        "description": format!("Accelerator Optimized: {} GPUs, {} vCPUs", row.gpu_count, row.vcpus),
        "guestCpus": row.vcpus,
        "memoryMb": (row.ram_gb * 1024.0).round() as u64,
        "imageSpaceGb": 0,
        "maximumPersistentDisks": 128,
        "maximumPersistentDisksSizeGb": "263168",
        "zone": zone,
        "selfLink": format!("{API}/projects/{project}/zones/{zone}/machineTypes/{machine}"),
        "isSharedCpu": false,
        "accelerators": [{"guestAcceleratorType": accelerator_type(&machine),
                          "guestAcceleratorCount": row.gpu_count}],
        "architecture": "X86_64",
    }))
    .into_response()
}

fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let rem = secs.rem_euclid(86_400);
    let d = ferry_catalog::Date::of_epoch_ms(ms);
    let (year, month, day) = (d.year, d.month, d.day.unwrap_or(1));
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}-00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

fn op_json(project: &str, op: &Op) -> Value {
    let mut v = json!({
        "kind": "compute#operation",
        "id": op.id.to_string(),
        "name": op.name,
        "zone": format!("{API}/projects/{project}/zones/{}", op.zone),
        "operationType": op.kind,
        "targetLink": op.target,
        "status": if op.done { "DONE" } else { "RUNNING" },
        "user": signer().client_email,
        "progress": if op.done { 100 } else { 0 },
        "insertTime": rfc3339(op.insert_time),
        "startTime": rfc3339(op.insert_time),
        "selfLink": format!("{API}/projects/{project}/zones/{}/operations/{}", op.zone, op.name),
    });
    if let Some(t) = &op.target_id {
        v["targetId"] = json!(t);
    }
    if op.done {
        v["endTime"] = json!(rfc3339(now_ms()));
        if let Some((code, message, http)) = &op.error {
            v["error"] = json!({"errors": [{"code": code, "message": message}]});
            v["httpErrorStatusCode"] = json!(http);
            v["httpErrorMessage"] = json!(if *http == 403 {
                "FORBIDDEN"
            } else {
                "SERVICE UNAVAILABLE"
            });
        }
    }
    v
}

fn numeric_id(world_id: &str) -> String {
    let digits: u64 = world_id
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or(0);
    (5_000_000_000_000_000_000u64 + digits).to_string()
}

fn new_op(
    a: &mut Account,
    zone: &str,
    kind: &'static str,
    target: String,
    target_id: Option<String>,
) -> Op {
    a.next += 1;
    let now = now_ms();
    Op {
        id: 7_127_550_864_823_800_000 + a.next,
        name: format!(
            "operation-{now}-{:013x}-{:08x}",
            a.next,
            a.next * 2_654_435_761 % (1 << 32)
        ),
        zone: zone.to_string(),
        kind,
        target,
        target_id,
        error: None,
        done: false,
        insert_time: now,
    }
}

/// A name Compute Engine accepts (RFC 1035: `[a-z]([-a-z0-9]{0,61}[a-z0-9])?`).
fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && !name.ends_with('-')
}

async fn insert(
    State(w): State<Shared>,
    Extension(account): Extension<AccountRef>,
    Path((project, zone)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: String,
) -> Response {
    if let Some(r) = gate(&w, &headers, &uri, &project) {
        return r;
    }
    let Some(region) = region_of_zone(&zone) else {
        return not_found(&format!("projects/{project}/zones/{zone}"));
    };
    let Ok(req) = serde_json::from_str::<Value>(&body) else {
        return invalid("Invalid JSON payload received.");
    };
    let name = req["name"].as_str().unwrap_or_default().to_string();
    if !valid_name(&name) {
        return invalid(&format!(
            "Invalid value for field 'resource.name': '{name}'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{{0,61}}[a-z0-9])?)'"
        ));
    }
    let machine_field = req["machineType"].as_str().unwrap_or_default();
    let machine = machine_field.rsplit('/').next().unwrap_or_default();
    if !machine_field.contains(&format!("zones/{zone}/machineTypes/")) {
        return invalid(&format!(
            "Invalid value for field 'resource.machineType': '{machine_field}'."
        ));
    }
    let Some(row) = offered(&zone, machine) else {
        return invalid(&format!(
            "Invalid value for field 'resource.machineType': '{machine_field}'. Machine type with name '{machine}' does not exist in zone '{zone}'."
        ));
    };
    let init = &req["disks"][0]["initializeParams"];
    let disk_gb = match &init["diskSizeGb"] {
        Value::String(s) => s.parse::<u64>().ok(),
        Value::Number(n) => n.as_u64(),
        _ => Some(10),
    };
    let Some(disk_gb) = disk_gb else {
        return invalid("Invalid value for field 'resource.disks[0].initializeParams.diskSizeGb'.");
    };
    let image = init["sourceImage"].as_str().unwrap_or_default().to_string();
    let scheduling = &req["scheduling"];
    let spot = scheduling["provisioningModel"] == "SPOT" || scheduling["preemptible"] == true;
    let public_key = req["metadata"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["key"] == "ssh-keys")
        .and_then(|i| i["value"].as_str())
        .and_then(|v| v.lines().next())
        .and_then(|l| l.split_once(':'))
        .map(|(_, k)| k.trim().to_string());
    let Some(price) = (if spot { row.spot_price } else { row.price }) else {
        return invalid(&format!("{machine} is not sold as Spot in {zone} here."));
    };
    let target = format!("{API}/projects/{project}/zones/{zone}/instances/{name}");
    let request_id = query_param(&uri, "requestId");

    let mut a = account.lock().unwrap();
    if let Some(op) = request_id
        .as_ref()
        .and_then(|r| a.requests.get(r))
        .and_then(|n| a.ops.get(n))
    {
        // The same request again: its first answer, and nothing more is made.
        return Json(op_json(&project, op)).into_response();
    }
    let mut w = w.lock().unwrap();
    let taken = w.instances.iter().any(|i| {
        i.provider == PROVIDER_ID
            && i.name == name
            && i.gone_ms.is_none()
            && a.made.get(&i.id).is_some_and(|m| m.zone == zone)
    });
    if taken {
        return error(
            StatusCode::CONFLICT,
            &format!(
                "The resource 'projects/{project}/zones/{zone}/instances/{name}' already exists"
            ),
            "alreadyExists",
        );
    }
    let mut op = new_op(&mut a, &zone, "insert", target, None);
    if let (Some(q), Some(metric)) = (w.faults.gpu_quota, metric_of(machine)) {
        let used = usage(&w, &region, metric, spot);
        if used + row.gpu_count > q {
            let m = if spot {
                format!("PREEMPTIBLE_{metric}")
            } else {
                metric.to_string()
            };
            op.error = Some((
                "QUOTA_EXCEEDED".into(),
                format!("Quota '{m}' exceeded.  Limit: {q}.0 in region {region}."),
                403,
            ));
            op.done = true;
            let v = op_json(&project, &op);
            remember(&mut a, request_id, op);
            return Json(v).into_response();
        }
    }
    let made = w.create(NewInstance {
        provider: PROVIDER_ID,
        name,
        instance_type: machine.to_string(),
        region,
        gpu_count: row.gpu_count,
        price_per_hour: price,
        spot,
        billing: BILLING,
        storage_per_hour: disk_gb as f64 * PD_BALANCED_PER_GB_MONTH / 730.0,
        public_key,
        env: BTreeMap::new(),
    });
    let id = match &made {
        Ok(i) => Some(i.id.clone()),
        // A lost answer still made the instance: the last one the world holds.
        Err(CreateRefusal::AnswerLost) => w.instances.last().map(|i| i.id.clone()),
        Err(CreateRefusal::NoCapacity) => None,
    };
    drop(w);
    match &id {
        Some(id) => {
            op.target_id = Some(numeric_id(id));
            a.made.insert(
                id.clone(),
                Made {
                    zone: zone.clone(),
                    labels: req["labels"].clone(),
                    metadata: req["metadata"].clone(),
                    disk_gb,
                    image,
                    termination_action: scheduling["instanceTerminationAction"]
                        .as_str()
                        .map(str::to_string),
                },
            );
        }
        None => {
            op.error = Some((
                "ZONE_RESOURCE_POOL_EXHAUSTED".into(),
                format!(
                    "The zone 'projects/{project}/zones/{zone}' does not have enough resources available to fulfill the request.  Try a different zone, or try again later."
                ),
                503,
            ));
        }
    }
    let v = op_json(&project, &op);
    remember(&mut a, request_id, op);
    match made {
        Err(CreateRefusal::AnswerLost) => render::answer_lost(),
        _ => Json(v).into_response(),
    }
}

fn remember(a: &mut Account, request_id: Option<String>, op: Op) {
    if let Some(r) = request_id {
        a.requests.insert(r, op.name.clone());
    }
    a.ops.insert(op.name.clone(), op);
}

async fn wait(
    State(w): State<Shared>,
    Extension(account): Extension<AccountRef>,
    Path((project, zone, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Some(r) = gate(&w, &headers, &uri, &project) {
        return r;
    }
    let mut a = account.lock().unwrap();
    match a.ops.get_mut(&name).filter(|op| op.zone == zone) {
        Some(op) => {
            op.done = true;
            Json(op_json(&project, op)).into_response()
        }
        None => not_found(&format!(
            "projects/{project}/zones/{zone}/operations/{name}"
        )),
    }
}

async fn delete(
    State(w): State<Shared>,
    Extension(account): Extension<AccountRef>,
    Path((project, zone, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Some(r) = gate(&w, &headers, &uri, &project) {
        return r;
    }
    let mut a = account.lock().unwrap();
    let mut w = w.lock().unwrap();
    let found = w
        .instances
        .iter()
        .find(|i| {
            i.provider == PROVIDER_ID
                && i.name == name
                && i.gone_ms.is_none()
                && a.made
                    .get(&i.id)
                    .map_or(zone == PLANTED_ZONE, |m| m.zone == zone)
        })
        .map(|i| i.id.clone());
    let target = format!("{API}/projects/{project}/zones/{zone}/instances/{name}");
    let Some(id) = found else {
        return not_found(&format!("projects/{project}/zones/{zone}/instances/{name}"));
    };
    w.terminate(PROVIDER_ID, &id);
    let op = new_op(&mut a, &zone, "delete", target, Some(numeric_id(&id)));
    let v = op_json(&project, &op);
    a.ops.insert(op.name.clone(), op);
    Json(v).into_response()
}

fn instance_json(
    project: &str,
    i: &FakeInstance,
    phase: Phase,
    made: Option<&Made>,
    host: &str,
    provisioning_ms: i64,
) -> Value {
    let zone = made.map_or(PLANTED_ZONE, |m| m.zone.as_str());
    let status = if i.terminate_requested_ms.is_some() {
        "STOPPING"
    } else {
        match phase {
            Phase::Provisioning if now_ms() - i.created_ms < provisioning_ms / 2 => "PROVISIONING",
            Phase::Provisioning => "STAGING",
            Phase::Running => "RUNNING",
            Phase::Stopped => "TERMINATED",
            Phase::Terminated => "TERMINATED",
        }
    };
    let mut access = json!({"kind": "compute#accessConfig", "type": "ONE_TO_ONE_NAT",
                            "name": "External NAT", "networkTier": "PREMIUM"});
    if status == "RUNNING" || status == "STOPPING" {
        access["natIP"] = json!(host);
    }
    let mut scheduling = json!({
        "onHostMaintenance": "TERMINATE",
        "automaticRestart": false,
        "preemptible": false,
        "provisioningModel": if i.spot { "SPOT" } else { "STANDARD" },
    });
    if let Some(t) = made.and_then(|m| m.termination_action.clone()) {
        scheduling["instanceTerminationAction"] = json!(t);
    }
    let mut v = json!({
        "kind": "compute#instance",
        "id": numeric_id(&i.id),
        "creationTimestamp": rfc3339(i.created_ms),
        "name": i.name,
        "tags": {"fingerprint": "42WmSpB8rSM="},
        "machineType": format!("{API}/projects/{project}/zones/{zone}/machineTypes/{}", i.instance_type),
        "status": status,
        "zone": format!("{API}/projects/{project}/zones/{zone}"),
        "canIpForward": false,
        "networkInterfaces": [{
            "kind": "compute#networkInterface",
            "network": format!("{API}/projects/{project}/global/networks/default"),
            "subnetwork": format!("{API}/projects/{project}/regions/{}/subnetworks/default", i.region),
            "networkIP": "10.128.0.2",
            "name": "nic0",
            "accessConfigs": [access],
            "fingerprint": "bXlmaW5nZXI=",
            "stackType": "IPV4_ONLY",
        }],
        "disks": [{
            "kind": "compute#attachedDisk",
            "type": "PERSISTENT",
            "mode": "READ_WRITE",
            "source": format!("{API}/projects/{project}/zones/{zone}/disks/{}", i.name),
            "deviceName": "persistent-disk-0",
            "index": 0,
            "boot": true,
            "autoDelete": true,
            "interface": "SCSI",
            "diskSizeGb": made.map_or(10, |m| m.disk_gb).to_string(),
            "licenses": made.map_or(vec![], |m| vec![m.image.clone()]),
        }],
        "metadata": made.map_or(json!({}), |m| m.metadata.clone()),
        "selfLink": format!("{API}/projects/{project}/zones/{zone}/instances/{}", i.name),
        "scheduling": scheduling,
        "cpuPlatform": "Intel Cascade Lake",
        "labelFingerprint": "42WmSpB8rSM=",
        "startRestricted": false,
        "deletionProtection": false,
        "fingerprint": "Z3Vlc3Q=",
    });
    if let Some(labels) = made.map(|m| &m.labels).filter(|l| l.is_object()) {
        v["labels"] = labels.clone();
    }
    v
}

/// A page of an aggregated listing: the instances by zone, every other zone with its
/// warning.
fn page_json(project: &str, instances: &[(String, Value)], next: Option<String>) -> Value {
    let mut items = serde_json::Map::new();
    for region in regions() {
        for zone in zones_of(&region) {
            let here: Vec<Value> = instances
                .iter()
                .filter(|(z, _)| *z == zone)
                .map(|(_, v)| v.clone())
                .collect();
            let scope = format!("zones/{zone}");
            let entry = if here.is_empty() {
                json!({"warning": {
                    "code": "NO_RESULTS_ON_PAGE",
                    "message": format!("There are no results for scope '{scope}' on this page."),
                    "data": [{"key": "scope", "value": scope}],
                }})
            } else {
                json!({ "instances": here })
            };
            items.insert(scope, entry);
        }
    }
    let mut v = json!({
        "kind": "compute#instanceAggregatedList",
        "id": format!("projects/{project}/aggregated/instances"),
        "items": items,
        "selfLink": format!("{API}/projects/{project}/aggregated/instances"),
    });
    if let Some(t) = next {
        v["nextPageToken"] = json!(t);
    }
    v
}

async fn aggregated(
    State(w): State<Shared>,
    Extension(account): Extension<AccountRef>,
    Path(project): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Some(r) = gate(&w, &headers, &uri, &project) {
        return r;
    }
    let mut a = account.lock().unwrap();
    let mut rest = match query_param(&uri, "pageToken") {
        Some(t) => match a.pages.remove(&t) {
            Some(rest) => rest,
            None => return invalid(&format!("Invalid value for field 'pageToken': '{t}'.")),
        },
        None => {
            let (seen, host, malformed, provisioning_ms) = {
                let mut w = w.lock().unwrap();
                let seen = w.observe(PROVIDER_ID);
                let malformed = w.take_malformed();
                (seen, w.ssh.host.clone(), malformed, w.provisioning_ms)
            };
            let mut listed: Vec<(String, Value)> = seen
                .iter()
                .map(|(i, phase)| {
                    let made = a.made.get(&i.id);
                    let zone = made.map_or(PLANTED_ZONE.to_string(), |m| m.zone.clone());
                    (
                        zone,
                        instance_json(&project, i, *phase, made, &host, provisioning_ms),
                    )
                })
                .collect();
            if malformed {
                // `status` is what Ferry reads of every instance; with nothing listed,
                // `items` itself comes back as the wrong type.
                match listed.first_mut().and_then(|(_, v)| v.as_object_mut()) {
                    Some(first) => {
                        first.remove("status");
                    }
                    None => return Json(json!({"items": "unavailable"})).into_response(),
                }
            }
            listed
        }
    };
    let later = if rest.len() > PAGE {
        rest.split_off(PAGE)
    } else {
        vec![]
    };
    let next = if later.is_empty() {
        None
    } else {
        a.next += 1;
        let t = URL_SAFE_NO_PAD.encode(format!("page:{}:{}", a.next, now_ms()));
        a.pages.insert(t.clone(), later);
        Some(t)
    };
    Json(page_json(&project, &rest, next)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_regions_and_types() {
        assert_eq!(
            region_of_zone("us-central1-b").as_deref(),
            Some("us-central1")
        );
        assert_eq!(region_of_zone("us-central1-z"), None);
        assert_eq!(region_of_zone("mars-1-a"), None);
        assert!(offered("us-central1-a", "a2-highgpu-1g").is_some());
        assert!(offered("us-central1-a", "a3-highgpu-1g").is_none());
        assert!(offered("us-central1-b", "a3-highgpu-1g").is_some());
        assert!(offered("us-central1-b", "n1-standard-1").is_none());
        assert_eq!(
            offered("us-central1-a", "a2-highgpu-1g").unwrap().gpu_count,
            1
        );
    }

    #[test]
    fn forms_decode() {
        assert_eq!(percent_decode("a%3Ab+c%2F"), "a:b c/");
        assert_eq!(percent_decode("100%"), "100%");
        assert!(valid_name("ferry-0a1b2c3d-j-018bcfe568000003-a1"));
        assert!(!valid_name("Ferry"));
        assert!(!valid_name("a-"));
    }

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000-00:00");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123-00:00");
    }
}
