//! The fake Azure: Microsoft Entra ID's token endpoint and the parts of Azure Resource
//! Manager Ferry calls (<https://learn.microsoft.com/rest/api/compute/>,
//! <https://learn.microsoft.com/rest/api/virtualnetwork/>), answering the shapes of
//! `crates/ferry-cloud/fixtures/azure/`: `{"value": [...], "nextLink"?}` for lists and
//! `{"error": {code, message}}` for refusals, with ARM's codes.
//!
//! | route | does |
//! |---|---|
//! | `POST /token/{tenant}/oauth2/v2.0/token` | client credentials: the secret must be the world's key; issues a token the gate accepts (counted as `azure-token`, not gated) |
//! | `GET /subscriptions/{s}/providers/Microsoft.Compute/skus` | the catalog's Azure sizes offered in the `$filter`'s location, paged by `nextLink`; a size without capacity carries a `Location` restriction (`NotAvailableForSubscription`) |
//! | `GET /subscriptions/{s}/providers/Microsoft.Compute/locations/{loc}/usages` | each family's vCPUs, `cores` and `lowPriorityCores`: limit `Faults.vcpu_quota` (families and Spot; plenty when unset), usage the live VMs' vCPUs |
//! | `GET`/`PUT /subscriptions/{s}/resourcegroups/{rg}` | the resource group (`ResourceGroupNotFound` until made) |
//! | `PUT …/resourceGroups/{rg}/providers/Microsoft.Network/networkSecurityGroups/{name}` | a security group, which must let TCP 22 in |
//! | `PUT …/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}` | a virtual network with its subnets |
//! | `GET …/resourceGroups/{rg}/providers/Microsoft.Network/publicIPAddresses` | each live VM's `{vm}-ip`, at the world's SSH host |
//! | `PUT …/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}` | a VM (idempotent: the same name again is the same VM); `SkuNotAvailable` without capacity, `OperationNotAllowed` over a quota; bills at the catalog's list price per second, plus its Premium SSD |
//! | `GET …/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines` | the group's VMs with their instance view (`statusOnly=true`) |
//! | `DELETE …/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}` | 202; 204 for a VM it does not know |
//!
//! A Spot VM is made with `evictionPolicy: Delete`, so `/_fake/preempt/{id}` (an eviction)
//! makes it vanish. Every request but the token's needs `api-version`, as ARM does.

use crate::world::{CreateRefusal, FakeInstance, Gate, NewInstance, Phase, World};
use crate::{Shared, render};
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use ferry_cloud::Billing;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, OnceLock};

pub const PROVIDER_ID: &str = "azure";

/// Linux VMs are "billed per second" (azure.microsoft.com/pricing/details/virtual-machines/linux/).
const BILLING: Billing = Billing::PER_SECOND;

/// What the token is for; any other scope is refused.
const ARM_SCOPE: &str = "https://management.azure.com/.default";

/// A quota's limit when the test sets none.
const PLENTY: u32 = 10_000;

/// SKUs per page of the SKU list, so that clients follow `nextLink`.
const SKU_PAGE: usize = 8;

/// The VM families of the catalog's sizes: the usage name and its localized name.
const FAMILIES: [(&str, &str, &str); 13] = [
    (
        "Standard_NC4as_T4_v3",
        "standardNCASv3_T4Family",
        "Standard NCASv3_T4 Family vCPUs",
    ),
    (
        "Standard_NC64as_T4_v3",
        "standardNCASv3_T4Family",
        "Standard NCASv3_T4 Family vCPUs",
    ),
    (
        "Standard_NC24ads_A100_v4",
        "StandardNCADSA100v4Family",
        "Standard NCADS_A100_v4 Family vCPUs",
    ),
    (
        "Standard_NC96ads_A100_v4",
        "StandardNCADSA100v4Family",
        "Standard NCADS_A100_v4 Family vCPUs",
    ),
    (
        "Standard_NC40ads_H100_v5",
        "standardNCadsH100v5Family",
        "Standard NCads H100 v5 Family vCPUs",
    ),
    (
        "Standard_NC80adis_H100_v5",
        "standardNCadsH100v5Family",
        "Standard NCads H100 v5 Family vCPUs",
    ),
    (
        "Standard_ND96asr_v4",
        "standardNDASv4_A100Family",
        "Standard NDASv4_A100 Family vCPUs",
    ),
    (
        "Standard_ND96amsr_A100_v4",
        "standardNDAMSv4_A100Family",
        "Standard NDAMSv4_A100 Family vCPUs",
    ),
    (
        "Standard_ND96isr_H100_v5",
        "standardNDSH100v5Family",
        "Standard NDSH100v5 Family vCPUs",
    ),
    (
        "Standard_ND40rs_v2",
        "standardNDSv2Family",
        "Standard NDSv2 Family vCPUs",
    ),
    (
        "Standard_NC6s_v3",
        "standardNCSv3Family",
        "Standard NCSv3 Family vCPUs",
    ),
    (
        "Standard_NC24s_v3",
        "standardNCSv3Family",
        "Standard NCSv3 Family vCPUs",
    ),
    (
        "Standard_NV36ads_A10_v5",
        "StandardNVADSA10v5Family",
        "Standard NVADSA10v5 Family vCPUs",
    ),
];

/// One VM size, as the catalog has it: where it is offered and at what price.
struct Size {
    name: String,
    family: String,
    family_label: String,
    vcpus: u32,
    gpus: u32,
    /// Location → (pay-as-you-go, Spot) USD per hour.
    prices: BTreeMap<String, (Option<f64>, Option<f64>)>,
}

/// The catalog's Azure sizes, read once.
fn sizes() -> &'static [Size] {
    static SIZES: OnceLock<Vec<Size>> = OnceLock::new();
    SIZES.get_or_init(|| {
        let mut out: Vec<Size> = vec![];
        for o in ferry_catalog::Catalog::embedded()
            .offers
            .into_iter()
            .filter(|o| o.provider == PROVIDER_ID)
        {
            let at = match out.iter().position(|s| s.name == o.instance_type) {
                Some(at) => at,
                None => {
                    let (family, label) = FAMILIES
                        .iter()
                        .find(|(s, _, _)| *s == o.instance_type)
                        .map(|(_, f, l)| (f.to_string(), l.to_string()))
                        .unwrap_or_else(|| {
                            let short = o.instance_type.trim_start_matches("Standard_");
                            (
                                format!("standard{}Family", short.replace('_', "")),
                                format!("Standard {short} Family vCPUs"),
                            )
                        });
                    out.push(Size {
                        name: o.instance_type.clone(),
                        family,
                        family_label: label,
                        vcpus: o.vcpus.map_or(8, |v| v as u32),
                        gpus: o.gpu_count,
                        prices: BTreeMap::new(),
                    });
                    out.len() - 1
                }
            };
            out[at]
                .prices
                .entry(o.region.to_ascii_lowercase())
                .or_insert((o.price(false), o.price(true)));
        }
        out
    })
}

fn size_of(name: &str) -> Option<&'static Size> {
    sizes().iter().find(|s| s.name.eq_ignore_ascii_case(name))
}

/// What ARM keeps beside the world's instances: resource groups, networks, and which VM
/// name is which world instance. One per router, so one per fake server.
#[derive(Default)]
struct Arm {
    /// Resource group (lowercase) → its location.
    groups: BTreeMap<String, String>,
    /// Resource ids (lowercase) of the security groups that let SSH in.
    nsgs: BTreeSet<String>,
    /// Subnet ids (lowercase).
    subnets: BTreeSet<String>,
    /// VM name (lowercase) → the VM.
    vms: BTreeMap<String, Vm>,
}

#[derive(Clone)]
struct Vm {
    world_id: String,
    name: String,
    group: String,
    subscription: String,
    location: String,
    size: String,
    spot: bool,
    tags: Value,
    disk_gb: u64,
}

type ArmRef = Arc<Mutex<Arm>>;

const GROUP: &str = "/subscriptions/{sub}/resourceGroups/{rg}";

pub fn routes() -> Router<Shared> {
    let net = |r: &str| format!("{GROUP}/providers/Microsoft.Network/{r}");
    let compute = |r: &str| format!("{GROUP}/providers/Microsoft.Compute/{r}");
    Router::new()
        .route("/token/{tenant}/oauth2/v2.0/token", post(token))
        .route(
            "/subscriptions/{sub}/providers/Microsoft.Compute/skus",
            get(skus),
        )
        .route(
            "/subscriptions/{sub}/providers/Microsoft.Compute/locations/{loc}/usages",
            get(usages),
        )
        .route(
            "/subscriptions/{sub}/resourcegroups/{rg}",
            get(get_group).put(put_group),
        )
        .route(GROUP, get(get_group).put(put_group))
        .route(&net("networkSecurityGroups/{name}"), put(put_nsg))
        .route(&net("virtualNetworks/{name}"), put(put_vnet))
        .route(&net("publicIPAddresses"), get(list_ips))
        .route(&compute("virtualMachines"), get(list_vms))
        .route(
            &compute("virtualMachines/{name}"),
            put(put_vm).delete(delete_vm),
        )
        .layer(Extension(ArmRef::default()))
}

/// ARM's error shape.
fn error_body(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(error_body(code, message))).into_response()
}

fn invalid(target: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": {"code": "InvalidParameter", "message": message, "target": target}})),
    )
        .into_response()
}

fn group_not_found(rg: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "ResourceGroupNotFound",
        &format!("Resource group '{rg}' could not be found."),
    )
}

/// Counts the request, checks the token, fires the 5xx and 429 faults, and asks for
/// `api-version` as ARM does: the refusal to answer, if any.
fn gate(w: &Shared, headers: &HeaderMap, uri: &Uri) -> Option<Response> {
    if let Some(r) = render::refused(
        &mut w.lock().unwrap(),
        PROVIDER_ID,
        headers,
        uri,
        |g| match g {
            Gate::Unauthorized => {
                error_body("InvalidAuthenticationToken", "The access token is invalid.")
            }
            Gate::ServerError => error_body(
                "ServiceUnavailable",
                "The server is currently unable to handle the request.",
            ),
            Gate::RateLimited { .. } => error_body(
                "TooManyRequests",
                "The request is being throttled as the limit has been reached for operation type - Read_ObservationWindow_00:05:00.",
            ),
        },
    ) {
        return Some(r);
    }
    if query(uri, "api-version").is_none_or(|v| v.is_empty()) {
        return Some(error(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    }
    None
}

/// A query parameter, decoded.
fn query(uri: &Uri, key: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (decode(k) == key).then(|| decode(v))
    })
}

/// Percent-decoding, with `+` as a space (forms); a broken escape stays as it is.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(b)) => {
                out.push(b);
                i += 2;
            }
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form(body: &str) -> BTreeMap<String, String> {
    body.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn token_error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        Json(json!({
            "error": code,
            "error_description": format!("{description}\r\nTrace ID: 00000000-0000-0000-0000-000000000000\r\nCorrelation ID: 00000000-0000-0000-0000-000000000000\r\nTimestamp: 2025-01-15 10:00:00Z"),
            "error_codes": [],
            "error_uri": "https://login.microsoftonline.com/error",
        })),
    )
        .into_response()
}

async fn token(State(w): State<Shared>, Path(_tenant): Path<String>, body: String) -> Response {
    let mut w = w.lock().unwrap();
    *w.calls.entry(format!("{PROVIDER_ID}-token")).or_default() += 1;
    let f = form(&body);
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    if get("grant_type") != "client_credentials" {
        return token_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "AADSTS70003: The app requested an unsupported grant type.",
        );
    }
    if get("client_id").is_empty() {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "AADSTS900144: The request body must contain the following parameter: 'client_id'.",
        );
    }
    if get("scope") != ARM_SCOPE {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "AADSTS70011: The provided value for the input parameter 'scope' is not valid.",
        );
    }
    if get("client_secret") != w.api_key {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        );
    }
    let token = w.issue_token(PROVIDER_ID);
    Json(json!({
        "token_type": "Bearer",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": token,
    }))
    .into_response()
}

/// The location a `$filter` of `location eq 'x'` names.
fn filtered_location(uri: &Uri) -> Option<String> {
    let f = query(uri, "$filter")?;
    let (_, rest) = f.split_once("location eq '")?;
    Some(rest.split('\'').next()?.to_ascii_lowercase())
}

fn sku_json(size: &Size, location: &str, available: bool) -> Value {
    let restrictions = if available {
        json!([])
    } else {
        json!([{
            "type": "Location",
            "values": [location],
            "restrictionInfo": {"locations": [location]},
            "reasonCode": "NotAvailableForSubscription",
        }])
    };
    json!({
        "resourceType": "virtualMachines",
        "name": size.name,
        "tier": "Standard",
        "size": size.name.trim_start_matches("Standard_"),
        "family": size.family,
        "locations": [location],
        "locationInfo": [{"location": location, "zones": ["1", "2", "3"], "zoneDetails": []}],
        "capabilities": [
            {"name": "vCPUs", "value": size.vcpus.to_string()},
            {"name": "vCPUsAvailable", "value": size.vcpus.to_string()},
            {"name": "GPUs", "value": size.gpus.to_string()},
            {"name": "LowPriorityCapable", "value": "True"},
            {"name": "PremiumIO", "value": "True"},
        ],
        "restrictions": restrictions,
    })
}

async fn skus(State(w): State<Shared>, headers: HeaderMap, uri: Uri) -> Response {
    if let Some(r) = gate(&w, &headers, &uri) {
        return r;
    }
    let w = w.lock().unwrap();
    let mut all = vec![json!({
        "resourceType": "disks",
        "name": "Premium_LRS",
        "tier": "Premium",
        "size": "P6",
        "locations": [],
        "capabilities": [{"name": "MaxSizeGiB", "value": "64"}],
        "restrictions": [],
    })];
    let wanted = filtered_location(&uri);
    for size in sizes() {
        for location in size.prices.keys() {
            if wanted.as_ref().is_some_and(|l| l != location) {
                continue;
            }
            all.push(sku_json(size, location, w.has_capacity(&size.name)));
        }
    }
    let skip: usize = query(&uri, "$skiptoken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = all.iter().skip(skip).take(SKU_PAGE).cloned().collect();
    let mut body = json!({ "value": page });
    if skip + SKU_PAGE < all.len() {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        let mut link = format!(
            "http://{host}/{PROVIDER_ID}{}?api-version={}",
            uri.path(),
            query(&uri, "api-version").unwrap_or_default()
        );
        if let Some(l) = &wanted {
            link.push_str(&format!("&$filter=location%20eq%20%27{l}%27"));
        }
        link.push_str(&format!("&$skiptoken={}", skip + SKU_PAGE));
        body["nextLink"] = json!(link);
    }
    Json(body).into_response()
}

/// vCPUs of the world's live Azure VMs in `location` that `pick` chooses.
fn vcpus_in_use(w: &World, location: &str, pick: impl Fn(&FakeInstance) -> bool) -> u32 {
    w.instances
        .iter()
        .filter(|i| i.provider == PROVIDER_ID && i.region == location && i.gone_ms.is_none())
        .filter(|i| pick(i))
        .map(|i| size_of(&i.instance_type).map_or(0, |s| s.vcpus))
        .sum()
}

fn family_of(instance_type: &str) -> Option<&'static str> {
    size_of(instance_type).map(|s| s.family.as_str())
}

fn usage_json(value: &str, localized: &str, current: u32, limit: u32) -> Value {
    json!({
        "unit": "Count",
        "currentValue": current,
        "limit": limit,
        "name": {"value": value, "localizedValue": localized},
    })
}

async fn usages(
    State(w): State<Shared>,
    Path((_sub, location)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Some(r) = gate(&w, &headers, &uri) {
        return r;
    }
    let w = w.lock().unwrap();
    let location = location.to_ascii_lowercase();
    let quota = w.faults.vcpu_quota.unwrap_or(PLENTY);
    let mut value = vec![
        usage_json(
            "cores",
            "Total Regional vCPUs",
            vcpus_in_use(&w, &location, |i| !i.spot),
            PLENTY,
        ),
        usage_json(
            "lowPriorityCores",
            "Total Regional Low-priority vCPUs",
            vcpus_in_use(&w, &location, |i| i.spot),
            quota,
        ),
    ];
    let mut seen = BTreeSet::new();
    for size in sizes().iter().filter(|s| s.prices.contains_key(&location)) {
        if !seen.insert(size.family.clone()) {
            continue;
        }
        let used = vcpus_in_use(&w, &location, |i| {
            !i.spot && family_of(&i.instance_type) == Some(size.family.as_str())
        });
        value.push(usage_json(&size.family, &size.family_label, used, quota));
    }
    value.push(usage_json("availabilitySets", "Availability Sets", 0, 2500));
    Json(json!({ "value": value })).into_response()
}

fn group_id(sub: &str, rg: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}")
}

async fn get_group(
    State(w): State<Shared>,
    Extension(arm): Extension<ArmRef>,
    Path((sub, rg)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Some(r) = gate(&w, &headers, &uri) {
        return r;
    }
    let arm = arm.lock().unwrap();
    match arm.groups.get(&rg.to_ascii_lowercase()) {
        Some(location) => Json(json!({
            "id": group_id(&sub, &rg),
            "name": rg,
            "type": "Microsoft.Resources/resourceGroups",
            "location": location,
            "properties": {"provisioningState": "Succeeded"},
        }))
        .into_response(),
        None => group_not_found(&rg),
    }
}

async fn put_group(
    State(w): State<Shared>,
    Extension(arm): Extension<ArmRef>,
    Path((sub, rg)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: String,
) -> Response {
    if let Some(r) = gate(&w, &headers, &uri) {
        return r;
    }
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return invalid(
            "body",
            "The request content was invalid and could not be deserialized.",
        );
    };
    let Some(location) = body["location"].as_str().map(str::to_ascii_lowercase) else {
        return invalid(
            "location",
            "The location property is required for this definition.",
        );
    };
    let mut arm = arm.lock().unwrap();
    let status = match arm.groups.get(&rg.to_ascii_lowercase()) {
        Some(existing) if *existing != location => {
            return error(
                StatusCode::CONFLICT,
                "InvalidResourceGroupLocation",
                &format!(
                    "Invalid resource group location '{location}'. The Resource group already exists in location '{existing}'."
                ),
            );
        }
        Some(_) => StatusCode::OK,
        None => {
            arm.groups.insert(rg.to_ascii_lowercase(), location.clone());
            StatusCode::CREATED
        }
    };
    (
        status,
        Json(json!({
            "id": group_id(&sub, &rg),
            "name": rg,
            "type": "Microsoft.Resources/resourceGroups",
            "location": location,
            "tags": body["tags"],
            "properties": {"provisioningState": "Succeeded"},
        })),
    )
        .into_response()
}

/// A network resource's `PUT`: the group must exist and the body have a location.
#[allow(
    clippy::result_large_err,
    reason = "the refusal is the answer, made once per request"
)]
fn network_put(arm: &ArmRef, rg: &str, body: &str) -> Result<(Value, String), Response> {
    if !arm
        .lock()
        .unwrap()
        .groups
        .contains_key(&rg.to_ascii_lowercase())
    {
        return Err(group_not_found(rg));
    }
    let Ok(body) = serde_json::from_str::<Value>(body) else {
        return Err(invalid(
            "body",
            "The request content was invalid and could not be deserialized.",
        ));
    };
    let Some(location) = body["location"].as_str().map(str::to_ascii_lowercase) else {
        return Err(invalid("location", "Resource location is required."));
    };
    Ok((body, location))
}

fn created(id: &str, name: &str, kind: &str, location: &str, properties: Value) -> Response {
    let mut properties = properties;
    properties["provisioningState"] = json!("Updating");
    (
        StatusCode::CREATED,
        [(
            "Azure-AsyncOperation",
            HeaderValue::from_static("https://management.azure.com/operations/fake"),
        )],
        Json(json!({
            "id": id,
            "name": name,
            "type": kind,
            "location": location,
            "properties": properties,
        })),
    )
        .into_response()
}

async fn put_nsg(
    State(w): State<Shared>,
    Extension(arm): Extension<ArmRef>,
    Path((sub, rg, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: String,
) -> Response {
    if let Some(r) = gate(&w, &headers, &uri) {
        return r;
    }
    let (body, location) = match network_put(&arm, &rg, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let rules = body["properties"]["securityRules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ssh = rules.iter().any(|r| {
        let p = &r["properties"];
        p["direction"] == "Inbound"
            && p["access"] == "Allow"
            && p["destinationPortRange"] == "22"
            && p["protocol"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("tcp"))
            && p["priority"]
                .as_u64()
                .is_some_and(|n| (100..=4096).contains(&n))
    });
    if !ssh {
        return invalid(
            "securityRules",
            "This fake wants one inbound rule that allows TCP 22, priority 100 to 4096.",
        );
    }
    let id = format!(
        "{}/providers/Microsoft.Network/networkSecurityGroups/{name}",
        group_id(&sub, &rg)
    );
    arm.lock().unwrap().nsgs.insert(id.to_ascii_lowercase());
    created(
        &id,
        &name,
        "Microsoft.Network/networkSecurityGroups",
        &location,
        json!({"securityRules": rules}),
    )
}

async fn put_vnet(
    State(w): State<Shared>,
    Extension(arm): Extension<ArmRef>,
    Path((sub, rg, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: String,
) -> Response {
    if let Some(r) = gate(&w, &headers, &uri) {
        return r;
    }
    let (body, location) = match network_put(&arm, &rg, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let props = &body["properties"];
    if props["addressSpace"]["addressPrefixes"]
        .as_array()
        .is_none_or(|a| a.is_empty())
    {
        return invalid(
            "addressSpace",
            "The address space of the virtual network must have at least one prefix.",
        );
    }
    let id = format!(
        "{}/providers/Microsoft.Network/virtualNetworks/{name}",
        group_id(&sub, &rg)
    );
    let subnets = props["subnets"].as_array().cloned().unwrap_or_default();
    {
        let mut arm = arm.lock().unwrap();
        for s in &subnets {
            if let Some(n) = s["name"].as_str()
                && s["properties"]["addressPrefix"].is_string()
            {
                arm.subnets
                    .insert(format!("{id}/subnets/{n}").to_ascii_lowercase());
            }
        }
    }
    created(
        &id,
        &name,
        "Microsoft.Network/virtualNetworks",
        &location,
        json!({"addressSpace": props["addressSpace"], "subnets": subnets}),
    )
}

fn vm_id(vm: &Vm) -> String {
    format!(
        "{}/providers/Microsoft.Compute/virtualMachines/{}",
        group_id(&vm.subscription, &vm.group),
        vm.name
    )
}

/// The instance view's statuses of a VM in this phase.
fn statuses(i: &FakeInstance, phase: Phase) -> Value {
    let codes: &[(&str, &str)] = if i.terminate_requested_ms.is_some() {
        &[
            ("ProvisioningState/deleting", "Deleting"),
            ("PowerState/running", "VM running"),
        ]
    } else {
        match phase {
            Phase::Provisioning => &[
                ("ProvisioningState/creating", "Creating"),
                ("PowerState/starting", "VM starting"),
            ],
            Phase::Running => &[
                ("ProvisioningState/succeeded", "Provisioning succeeded"),
                ("PowerState/running", "VM running"),
            ],
            Phase::Stopped => &[
                ("ProvisioningState/succeeded", "Provisioning succeeded"),
                ("PowerState/stopped", "VM stopped"),
            ],
            Phase::Terminated => &[("ProvisioningState/deleting", "Deleting")],
        }
    };
    json!(
        codes
            .iter()
            .map(|(code, display)| json!({"code": code, "level": "Info", "displayStatus": display}))
            .collect::<Vec<_>>()
    )
}

/// A VM in ARM's shape; with `view`, its instance view (a `statusOnly` listing).
fn vm_json(vm: &Vm, provisioning: &str, view: Option<Value>) -> Value {
    let mut properties = json!({
        "vmId": format!("00000000-0000-4000-8000-{:0>12}", vm.world_id.trim_start_matches("fake")),
        "hardwareProfile": {"vmSize": vm.size},
        "storageProfile": {"osDisk": {"osType": "Linux", "diskSizeGB": vm.disk_gb,
            "managedDisk": {"storageAccountType": "Premium_LRS"}, "deleteOption": "Delete"}},
        "osProfile": {"computerName": vm.name.chars().take(64).collect::<String>(), "adminUsername": "ferry"},
        "provisioningState": provisioning,
    });
    if vm.spot {
        properties["priority"] = json!("Spot");
        properties["evictionPolicy"] = json!("Delete");
    } else {
        properties["priority"] = json!("Regular");
    }
    if let Some(statuses) = view {
        properties["instanceView"] = json!({ "statuses": statuses });
    }
    json!({
        "name": vm.name,
        "id": vm_id(vm),
        "type": "Microsoft.Compute/virtualMachines",
        "location": vm.location,
        "tags": vm.tags,
        "properties": properties,
    })
}

/// What the VM `PUT` carries that the fake acts on.
struct VmRequest {
    location: String,
    size: String,
    spot: bool,
    max_price: Option<f64>,
    key: String,
    disk_gb: u64,
    tags: Value,
}

/// Reads and checks the VM's `PUT` body: the refusal ARM would give, if any.
#[allow(
    clippy::result_large_err,
    reason = "the refusal is the answer, made once per request"
)]
fn vm_request(arm: &Arm, body: &Value) -> Result<VmRequest, Response> {
    let p = &body["properties"];
    let location = body["location"]
        .as_str()
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| {
            invalid(
                "location",
                "Required parameter 'location' is missing (null).",
            )
        })?;
    let size = p["hardwareProfile"]["vmSize"]
        .as_str()
        .ok_or_else(|| invalid("vmSize", "Required parameter 'vmSize' is missing (null)."))?
        .to_string();
    let image = &p["storageProfile"]["imageReference"];
    let urn = ["publisher", "offer", "sku", "version"]
        .iter()
        .all(|k| image[k].as_str().is_some_and(|s| !s.is_empty()));
    let id = image["id"]
        .as_str()
        .is_some_and(|s| s.starts_with("/subscriptions/"));
    if !urn && !id {
        return Err(invalid(
            "imageReference",
            "The value of parameter imageReference is invalid.",
        ));
    }
    let os = &p["osProfile"];
    let computer = os["computerName"].as_str().unwrap_or("");
    if computer.is_empty() || computer.chars().count() > 64 {
        return Err(invalid(
            "osProfile.computerName",
            "Linux computer name cannot be more than 64 characters long, be entirely numeric, or contain the following characters.",
        ));
    }
    if os["adminUsername"].as_str().is_none_or(str::is_empty) {
        return Err(invalid(
            "osProfile.adminUsername",
            "Required parameter 'osProfile.adminUsername' is missing (null).",
        ));
    }
    let linux = &os["linuxConfiguration"];
    let key = linux["ssh"]["publicKeys"][0]["keyData"]
        .as_str()
        .unwrap_or("")
        .trim()
        .to_string();
    if key.is_empty() {
        return Err(invalid(
            "linuxConfiguration.ssh.publicKeys",
            "Authentication using either SSH or by user name and password must be enabled in Linux profile.",
        ));
    }
    if let Some(data) = os["customData"].as_str() {
        use base64::Engine as _;
        if base64::engine::general_purpose::STANDARD
            .decode(data)
            .is_err()
        {
            return Err(invalid(
                "customData",
                "Custom data in OSProfile must be in Base64 encoding and with a maximum length of 87380 characters.",
            ));
        }
    }
    let net = &p["networkProfile"];
    let Some(nic) = net["networkInterfaceConfigurations"][0].as_object() else {
        return Err(invalid(
            "networkProfile",
            "This fake wants a networkInterfaceConfigurations entry (the NIC made with the VM).",
        ));
    };
    if net["networkApiVersion"].as_str().is_none() {
        return Err(invalid(
            "networkProfile.networkApiVersion",
            "networkApiVersion must be specified when networkInterfaceConfigurations is used.",
        ));
    }
    let nic = &nic["properties"];
    if let Some(nsg) = nic["networkSecurityGroup"]["id"].as_str()
        && !arm.nsgs.contains(&nsg.to_ascii_lowercase())
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "InvalidResourceReference",
            &format!("Resource {nsg} referenced by the VM's network interface was not found."),
        ));
    }
    let ip = &nic["ipConfigurations"][0]["properties"];
    let subnet = ip["subnet"]["id"].as_str().unwrap_or("");
    if !arm.subnets.contains(&subnet.to_ascii_lowercase()) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "InvalidResourceReference",
            &format!("Resource '{subnet}' referenced by the VM's network interface was not found."),
        ));
    }
    if ip["publicIPAddressConfiguration"]["name"]
        .as_str()
        .is_none()
    {
        return Err(invalid(
            "publicIPAddressConfiguration",
            "This fake wants a public IP made with the VM.",
        ));
    }
    let spot = p["priority"]
        .as_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("Spot"));
    let max_price = p["billingProfile"]["maxPrice"]
        .as_f64()
        .filter(|m| *m >= 0.0);
    Ok(VmRequest {
        location,
        size,
        spot,
        max_price,
        key,
        disk_gb: p["storageProfile"]["osDisk"]["diskSizeGB"]
            .as_u64()
            .unwrap_or(64),
        tags: body["tags"].clone(),
    })
}

/// ARM's quota refusal of a VM `PUT`.
fn over_quota(quota: &str, location: &str, limit: u32, used: u32, more: u32) -> Response {
    error(
        StatusCode::CONFLICT,
        "OperationNotAllowed",
        &format!(
            "Operation could not be completed as it results in exceeding approved {quota} quota. Additional details - Deployment Model: Resource Manager, Location: {location}, Current Limit: {limit}, Current Usage: {used}, Additional Required: {more}, (Minimum) New Limit Required: {}. Submit a request for Quota increase at https://aka.ms/ProdportalCRP/#blade/Microsoft_Azure_Capacity/UsageAndQuota.ReactView",
            used + more
        ),
    )
}

async fn put_vm(
    State(w): State<Shared>,
    Extension(arm): Extension<ArmRef>,
    Path((sub, rg, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: String,
) -> Response {
    if let Some(r) = gate(&w, &headers, &uri) {
        return r;
    }
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return invalid(
            "body",
            "The request content was invalid and could not be deserialized.",
        );
    };
    let mut arm = arm.lock().unwrap();
    if !arm.groups.contains_key(&rg.to_ascii_lowercase()) {
        return group_not_found(&rg);
    }
    let req = match vm_request(&arm, &body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let mut w = w.lock().unwrap();
    // The same name again is the same VM: an update, never a second machine.
    if let Some(vm) = arm.vms.get(&name.to_ascii_lowercase())
        && w.live(PROVIDER_ID, &vm.world_id).is_some()
    {
        return (StatusCode::OK, Json(vm_json(vm, "Updating", None))).into_response();
    }
    let Some(size) = size_of(&req.size) else {
        return invalid(
            "vmSize",
            &format!(
                "The value {} provided for the VM size is not valid. The valid sizes in the current region are: {}.",
                req.size,
                sizes()
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        );
    };
    let not_available = || {
        error(
            StatusCode::CONFLICT,
            "SkuNotAvailable",
            &format!(
                "The requested VM size for resource 'Following SKUs have failed for Capacity Restrictions: {}' is currently not available in location '{}'. Please try another size or deploy to a different location or different zone. See https://aka.ms/azureskunotavailable for details.",
                size.name, req.location
            ),
        )
    };
    let Some(price) = size
        .prices
        .get(&req.location)
        .and_then(|(od, spot)| if req.spot { *spot } else { *od })
    else {
        return not_available();
    };
    if !w.has_capacity(&size.name) {
        return not_available();
    }
    if let Some(quota) = w.faults.vcpu_quota {
        let (label, used) = if req.spot {
            (
                "Low Priority Cores".to_string(),
                vcpus_in_use(&w, &req.location, |i| i.spot),
            )
        } else {
            (
                format!("{} Cores", size.family),
                vcpus_in_use(&w, &req.location, |i| {
                    !i.spot && family_of(&i.instance_type) == Some(size.family.as_str())
                }),
            )
        };
        if used + size.vcpus > quota {
            return over_quota(&label, &req.location, quota, used, size.vcpus);
        }
    }
    if let Some(max) = req.max_price
        && max < price
    {
        return error(
            StatusCode::CONFLICT,
            "OperationNotAllowed",
            &format!(
                "Unable to perform operation 'Create VM' since the provided MaxPrice '{max}' USD is lower than the current spot price '{price}' USD for Azure Spot VM size '{}' in region '{}'.",
                size.name, req.location
            ),
        );
    }
    let made = w.create(NewInstance {
        provider: PROVIDER_ID,
        name: name.clone(),
        instance_type: size.name.clone(),
        region: req.location.clone(),
        gpu_count: size.gpus,
        price_per_hour: price,
        spot: req.spot,
        billing: BILLING,
        storage_per_hour: ferry_cloud::providers::azure::premium_ssd_per_hour(
            u32::try_from(req.disk_gb).unwrap_or(u32::MAX),
        ),
        // The VM boots with this key in ferry's authorized_keys.
        public_key: Some(req.key.clone()),
        env: BTreeMap::new(),
    });
    let world_id = match &made {
        Ok(i) => i.id.clone(),
        // A lost answer still made the VM: the last one the world holds.
        Err(CreateRefusal::AnswerLost) => match w.instances.last() {
            Some(i) => i.id.clone(),
            None => return render::answer_lost(),
        },
        Err(CreateRefusal::NoCapacity) => return not_available(),
    };
    let vm = Vm {
        world_id,
        name: name.clone(),
        group: rg,
        subscription: sub,
        location: req.location,
        size: size.name.clone(),
        spot: req.spot,
        tags: req.tags,
        disk_gb: req.disk_gb,
    };
    arm.vms.insert(name.to_ascii_lowercase(), vm.clone());
    match made {
        Ok(_) => (StatusCode::CREATED, Json(vm_json(&vm, "Creating", None))).into_response(),
        Err(_) => render::answer_lost(),
    }
}

async fn list_vms(
    State(w): State<Shared>,
    Extension(arm): Extension<ArmRef>,
    Path((_sub, rg)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Some(r) = gate(&w, &headers, &uri) {
        return r;
    }
    let arm = arm.lock().unwrap();
    if !arm.groups.contains_key(&rg.to_ascii_lowercase()) {
        return group_not_found(&rg);
    }
    let status_only = query(&uri, "statusOnly").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let (seen, malformed) = {
        let mut w = w.lock().unwrap();
        let seen: BTreeMap<String, (FakeInstance, Phase)> = w
            .observe(PROVIDER_ID)
            .into_iter()
            .map(|(i, p)| (i.id.clone(), (i, p)))
            .collect();
        (seen, w.take_malformed())
    };
    let mut listed: Vec<Value> = arm
        .vms
        .values()
        .filter(|vm| vm.group.eq_ignore_ascii_case(&rg))
        .filter_map(|vm| {
            let (i, phase) = seen.get(&vm.world_id)?;
            let provisioning = match (i.terminate_requested_ms, phase) {
                (Some(_), _) => "Deleting",
                (None, Phase::Provisioning) => "Creating",
                _ => "Succeeded",
            };
            Some(vm_json(
                vm,
                provisioning,
                status_only.then(|| statuses(i, *phase)),
            ))
        })
        .collect();
    if malformed {
        // `name` is in every ARM resource; with nothing listed, `value` is the wrong type.
        match listed.first_mut().and_then(Value::as_object_mut) {
            Some(first) => {
                first.remove("name");
            }
            None => return Json(json!({"value": "unavailable"})).into_response(),
        }
    }
    Json(json!({ "value": listed })).into_response()
}

async fn list_ips(
    State(w): State<Shared>,
    Extension(arm): Extension<ArmRef>,
    Path((_sub, rg)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Some(r) = gate(&w, &headers, &uri) {
        return r;
    }
    let arm = arm.lock().unwrap();
    if !arm.groups.contains_key(&rg.to_ascii_lowercase()) {
        return group_not_found(&rg);
    }
    let w = w.lock().unwrap();
    // Read without `observe`, which would use up a lingering VM's listings.
    let ips: Vec<Value> = arm
        .vms
        .values()
        .filter(|vm| vm.group.eq_ignore_ascii_case(&rg))
        .filter(|vm| w.live(PROVIDER_ID, &vm.world_id).is_some())
        .map(|vm| {
            let name = format!("{}-ip", vm.name);
            json!({
                "name": name,
                "id": format!("{}/providers/Microsoft.Network/publicIPAddresses/{name}", group_id(&vm.subscription, &vm.group)),
                "location": vm.location,
                "sku": {"name": "Standard", "tier": "Regional"},
                "properties": {
                    "provisioningState": "Succeeded",
                    "ipAddress": w.ssh.host,
                    "publicIPAddressVersion": "IPv4",
                    "publicIPAllocationMethod": "Static",
                    "idleTimeoutInMinutes": 4,
                },
            })
        })
        .collect();
    Json(json!({ "value": ips })).into_response()
}

async fn delete_vm(
    State(w): State<Shared>,
    Extension(arm): Extension<ArmRef>,
    Path((_sub, rg, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Some(r) = gate(&w, &headers, &uri) {
        return r;
    }
    let arm = arm.lock().unwrap();
    if !arm.groups.contains_key(&rg.to_ascii_lowercase()) {
        return group_not_found(&rg);
    }
    let mut w = w.lock().unwrap();
    match arm
        .vms
        .get(&name.to_ascii_lowercase())
        .filter(|vm| vm.group.eq_ignore_ascii_case(&rg))
    {
        // ARM's answer to deleting what is not there.
        None => StatusCode::NO_CONTENT.into_response(),
        Some(vm) if !w.terminate(PROVIDER_ID, &vm.world_id) => {
            StatusCode::NO_CONTENT.into_response()
        }
        Some(_) => (
            StatusCode::ACCEPTED,
            [(
                "Azure-AsyncOperation",
                HeaderValue::from_static("https://management.azure.com/operations/fake-delete"),
            )],
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogs_sizes_are_all_there() {
        for (size, family, _) in FAMILIES {
            let s = size_of(size).unwrap_or_else(|| panic!("{size} is in the catalog"));
            assert_eq!(s.family, family);
            assert!(s.vcpus > 0 && s.gpus > 0, "{size}");
        }
        let a100 = size_of("Standard_NC24ads_A100_v4").unwrap();
        assert_eq!((a100.vcpus, a100.gpus), (24, 1));
        assert_eq!(a100.prices["eastus"].0, Some(3.673));
    }

    #[test]
    fn queries_and_forms_decode() {
        let uri: Uri = "/x?api-version=1&%24filter=location%20eq%20%27eastus%27"
            .parse()
            .unwrap();
        assert_eq!(filtered_location(&uri).as_deref(), Some("eastus"));
        let uri: Uri = "/x?$filter=location eq 'westus2'"
            .replace(' ', "%20")
            .parse()
            .unwrap();
        assert_eq!(filtered_location(&uri).as_deref(), Some("westus2"));
        let f = form("a=b%2Bc+d&scope=https%3A%2F%2Fmanagement.azure.com%2F.default&bad=%zz");
        assert_eq!(f["a"], "b+c d");
        assert_eq!(f["scope"], ARM_SCOPE);
        assert_eq!(f["bad"], "%zz");
    }
}
