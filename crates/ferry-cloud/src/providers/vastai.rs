//! Vast.ai: a marketplace of hosts, each offering its machine's GPUs at its own price. There
//! are no machine types to create: a live search picks one host's offer (an "ask"), and the
//! instance is created by accepting that ask.
//!
//! The REST API `https://console.vast.ai/api/v0`, bearer key. Sources: Vast.ai's OpenAPI specs
//! in `github.com/vast-ai/vast-cli`, folder `openapi/yaml/` (rendered at
//! <https://docs.vast.ai/api-reference/>), one file per call as named below; billing from
//! <https://docs.vast.ai/billing-help>.
//!
//! | what | call | spec |
//! |---|---|---|
//! | quote | `POST /bundles/` `{gpu_name:{eq}, num_gpus:{eq}, reliability2:{gte}, type, order, limit, …}` → `{offers:[…]}` | `search_offers.yaml` |
//! | create | `PUT /asks/{ask}/` `{image, disk, label, onstart, runtype, price?, cancel_unavail?}` → `{success, new_contract}` | `create_instance.yaml` |
//! | key | `POST /instances/{id}/ssh/` `{ssh_key}` (besides the key in `onstart`) | `attach_ssh.yaml` |
//! | list | `GET /instances/` → `{instances_found, instances:[…]}` | `show_instances.yaml` |
//! | terminate | `DELETE /instances/{id}/` → `{success, msg}`; 404 `not_found` | `destroy_instance.yaml` |
//! | charged | `GET /charges/?select_filters={"day":{gte,lte}}` → `{results:[{source, amount}], next_token}` | `show_charges.yaml` |
//!
//! Choosing an offer: offers on hosts whose `reliability2` is under [`MIN_RELIABILITY`] are
//! dropped, and among the rest the lowest *risk-adjusted* price wins, `price / reliability2`.
//! A host that fails takes the job's progress with it and the job runs again elsewhere, so an
//! offer at 98% reliability is worth about 2% less than the same price at 100%; ties go to
//! the more reliable host. Offers over `max_price` are left out before choosing, so a dearer
//! risk-adjusted winner does not hide an affordable offer.
//!
//! A create is never retried here (a 502 may hide an instance that was made; the scheduler
//! finds it by its label instead). An outbid bid instance is paused, not destroyed
//! ("Lower priority instances are paused until they become the highest priority", and it
//! keeps billing storage): it lists as [`InstanceState::Stopped`].
//!
//! UNCONFIRMED (the docs leave these open):
//! - the state mapping for `actual_status` values beyond the documented list, and that an
//!   outbid instance shows `actual_status` `exited`/`stopped` with `intended_status` `running`
//!   (SkyPilot's and dstack's reading, not a documented contract);
//! - `ports` in the list answer: a dict `{"22/tcp":[{HostIp, HostPort}]}` per
//!   `show_instances.yaml`, but `show_instance.yaml` has an int array and SkyPilot notes it
//!   may be null; anything but the dict falls back to the proxy `ssh_host:ssh_port`;
//! - a wrong key: the specs give 401 for most calls but 404 `auth_error` "Invalid user key"
//!   for `/bundles/` and `/charges/`; both are read as `Auth`;
//! - the bid price: `min_bid` (rounded up to a tenth of a cent) is taken as the $/h a bid
//!   instance is billed, per machine; storage is billed on top;
//! - the guard: the `CONTAINER_ID` and `CONTAINER_API_KEY` variables an instance is given, and
//!   that the instance-scoped key may destroy its own instance, are seen in public client code
//!   but not in the docs;
//! - `/charges/`: whether a running instance's charges show before it ends. The window
//!   searched is the last [`CHARGES_WINDOW_DAYS`] days.
//!
//! Follow-up: `GET /instances/` "will soon return paginated results … maximum of 25"; the
//! documented v1 listing (`show_instances_v1.yaml`: `GET /api/v1/instances/?limit=25&after_token=…`
//! → `{instances, next_token}`) is the way then. One v0 page is read for now.

use crate::billing::Billing;
use crate::error::{CloudError, ErrorKind};
use crate::http::{Api, Refusal};
use crate::provider::{
    CreateRequest, Endpoint, Guard, Instance, InstanceId, InstanceState, OfferRef, Provider, Quote,
};
use crate::providers::{ProviderConfig, ProviderKind};
use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

pub const BASE_URL: &str = "https://console.vast.ai/api/v0";
pub const DEFAULT_IMAGE: &str = "pytorch/pytorch:2.4.0-cuda12.4-cudnn9-devel";

/// Hosts below this `reliability2` (Vast.ai's uptime score, 0–1) are not rented at all.
pub const MIN_RELIABILITY: f64 = 0.95;

/// How many of the cheapest matching offers one quote weighs.
const OFFERS_LIMIT: u32 = 64;

/// How far back `charged` looks for an instance's charges.
pub const CHARGES_WINDOW_DAYS: i64 = 62;
/// At most this many `/charges/` pages (of 500 rows) are read for one instance.
const CHARGES_MAX_PAGES: usize = 10;

/// Instances run the image as root.
const SSH_USER: &str = "root";

fn provider_id() -> &'static str {
    ProviderKind::Vastai.id()
}

pub struct VastAi {
    api: Api,
    config: ProviderConfig,
}

impl VastAi {
    pub fn new(config: ProviderConfig) -> VastAi {
        VastAi {
            api: Api::new(provider_id(), &config.base_url, config.key.clone())
                .with_retry(config.retry),
            config,
        }
    }

    fn error(&self, kind: ErrorKind, message: impl Into<String>) -> CloudError {
        CloudError::new(provider_id(), kind, message)
    }
}

/// An offer of `POST /bundles/`, the fields Ferry weighs.
#[derive(Debug, Clone, Deserialize)]
struct Offer {
    id: u64,
    num_gpus: u32,
    gpu_name: String,
    dph_total: f64,
    min_bid: Option<f64>,
    reliability2: Option<f64>,
    host_id: Option<u64>,
    geolocation: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Offers {
    offers: Vec<Offer>,
}

/// The offer chosen, at the price Ferry will pay for it.
#[derive(Debug, Clone, PartialEq)]
struct Choice {
    ask: u64,
    price: f64,
    detail: String,
}

/// A bid in $/h, rounded up to four decimals so that it is never under the host's minimum.
fn round_up_bid(min_bid: f64) -> f64 {
    // The small margin keeps 0.8 (stored as 0.80000000000000004) from becoming 0.8001.
    ((min_bid * 10_000.0) - 1e-6).ceil() / 10_000.0
}

fn same_gpu(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim().replace('_', " ").to_lowercase();
    norm(a) == norm(b)
}

/// Picks the offer to rent: right GPU and count, reliable enough, within `max_price`, lowest
/// price per unit of reliability.
fn choose(offers: &[Offer], want: &OfferRef) -> Result<Choice, CloudError> {
    let priced: Vec<(&Offer, f64, f64)> = offers
        .iter()
        .filter(|o| o.num_gpus == want.gpu_count && same_gpu(&o.gpu_name, &want.instance_type))
        .filter_map(|o| {
            let reliability = o.reliability2.unwrap_or(0.0);
            let price = if want.spot {
                round_up_bid(o.min_bid?)
            } else {
                o.dph_total
            };
            (reliability >= MIN_RELIABILITY && price.is_finite() && price > 0.0).then_some((
                o,
                price,
                reliability,
            ))
        })
        .collect();
    let wanted = format!("{}× {}", want.gpu_count, want.instance_type);
    if priced.is_empty() {
        return Err(CloudError::new(
            provider_id(),
            ErrorKind::NoCapacity,
            format!(
                "no live {} offer of {wanted} on a host with reliability ≥ {MIN_RELIABILITY} ({} offers seen)",
                if want.spot { "bid" } else { "on-demand" },
                offers.len()
            ),
        ));
    }
    let affordable: Vec<_> = priced
        .iter()
        .filter(|(_, price, _)| want.max_price_per_hour.is_none_or(|max| *price <= max))
        .collect();
    let Some(&&(offer, price, reliability)) = affordable.iter().min_by(|a, b| {
        (a.1 / a.2)
            .total_cmp(&(b.1 / b.2))
            .then(b.2.total_cmp(&a.2))
            .then(a.0.id.cmp(&b.0.id))
    }) else {
        let cheapest = priced.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        return Err(CloudError::new(
            provider_id(),
            ErrorKind::PriceAbove,
            format!(
                "the cheapest reliable offer of {wanted} is ${cheapest:.4}/h, above max_price ${:.4}/h",
                want.max_price_per_hour.unwrap_or_default()
            ),
        ));
    };
    Ok(Choice {
        ask: offer.id,
        price,
        detail: format!(
            "offer {} on host {}, reliability {reliability:.3}, {}",
            offer.id,
            offer
                .host_id
                .map_or("unknown".to_string(), |h| h.to_string()),
            offer.geolocation.as_deref().unwrap_or("location unknown"),
        ),
    })
}

/// Reads the refusals every call may get: a wrong key is 401/403 for most calls, but the
/// specs of `/bundles/` and `/charges/` answer it 404 `auth_error`.
fn classify(r: &Refusal) -> Option<ErrorKind> {
    (r.body.contains("auth_error") || r.body.contains("Invalid user key"))
        .then_some(ErrorKind::Auth)
}

/// A create's refusals: 404 `no_such_ask` (taken or withdrawn) and 410 (gone, with
/// `cancel_unavail`) mean the offer is no longer there.
fn classify_create(r: &Refusal) -> Option<ErrorKind> {
    classify(r).or(
        (r.status == 410 || (r.status == 404 && r.body.contains("no_such_ask")))
            .then_some(ErrorKind::NoCapacity),
    )
}

/// `'…'` for a POSIX shell.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The script the instance runs at boot: Ferry's key first, then the caller's script.
fn onstart_script(public_key: &str, extra: Option<&str>) -> String {
    let mut script = format!(
        "mkdir -p ~/.ssh && echo {} >> ~/.ssh/authorized_keys && chmod 700 ~/.ssh && chmod 600 ~/.ssh/authorized_keys\n",
        sh_quote(public_key)
    );
    // SSH sessions do not inherit the container's environment; the guard needs these two
    // there. `/etc/environment` is where the create spec's own onstart example puts them.
    script.push_str("env | grep -E '^(CONTAINER_ID|CONTAINER_API_KEY)=' >> /etc/environment\n");
    if let Some(extra) = extra.filter(|e| !e.trim().is_empty()) {
        script.push_str(extra);
        if !extra.ends_with('\n') {
            script.push('\n');
        }
    }
    script
}

#[derive(Debug, Deserialize)]
struct CreateAnswer {
    success: bool,
    new_contract: Option<u64>,
    msg: Option<String>,
    error: Option<String>,
}

/// An instance of `GET /instances/`, the fields Ferry reads.
#[derive(Debug, Deserialize)]
struct VastInstance {
    id: u64,
    label: Option<String>,
    /// `null` while the instance is being placed and its image pulled.
    actual_status: Option<String>,
    intended_status: Option<String>,
    cur_state: String,
    next_state: Option<String>,
    ssh_host: Option<String>,
    ssh_port: Option<u16>,
    public_ipaddr: Option<String>,
    /// Docker's port map; its shape varies (see the module docs), so it is read leniently.
    ports: Option<Value>,
    dph_total: Option<f64>,
    is_bid: bool,
    status_msg: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Listing {
    instances: Vec<VastInstance>,
}

fn state_of(cur_state: &str, next_state: Option<&str>, actual: Option<&str>) -> InstanceState {
    if cur_state == "unloaded" {
        return InstanceState::Terminated;
    }
    if next_state == Some("unloaded") {
        return InstanceState::Terminating;
    }
    match actual {
        Some("running") => InstanceState::Running,
        Some("exited" | "stopped" | "offline" | "frozen") => InstanceState::Stopped,
        // null, loading, created, and words the docs do not list (rebooting, unknown): not
        // usable yet, not gone either.
        _ => InstanceState::Provisioning,
    }
}

/// The host port mapped to the container's port 22, where the answer has the dict form.
fn direct_ssh_port(ports: Option<&Value>) -> Option<u16> {
    let binding = ports?.get("22/tcp")?.as_array()?.first()?.get("HostPort")?;
    match binding {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
        _ => None,
    }
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Where to SSH: the host's own address and mapped port when published (`ssh_direct`),
/// else Vast.ai's SSH proxy.
fn endpoint_of(v: &VastInstance) -> Option<Endpoint> {
    let direct = nonempty(v.public_ipaddr.as_deref())
        .zip(direct_ssh_port(v.ports.as_ref()))
        .filter(|(_, port)| *port != 0);
    let proxy = || nonempty(v.ssh_host.as_deref()).zip(v.ssh_port.filter(|p| *p != 0));
    direct.or_else(proxy).map(|(host, port)| Endpoint {
        host: host.to_string(),
        port,
        user: SSH_USER.to_string(),
    })
}

fn to_instance(v: VastInstance) -> Instance {
    let actual = nonempty(v.actual_status.as_deref());
    let state = state_of(&v.cur_state, v.next_state.as_deref(), actual);
    let mut status_text = match state {
        InstanceState::Terminated => "destroyed".to_string(),
        InstanceState::Terminating => "destroying".to_string(),
        _ => actual.unwrap_or("provisioning").to_string(),
    };
    if state == InstanceState::Stopped
        && v.is_bid
        && v.intended_status.as_deref() == Some("running")
    {
        status_text.push_str(" (outbid: paused until its bid wins again)");
    }
    if state != InstanceState::Running
        && let Some(msg) = nonempty(v.status_msg.as_deref())
    {
        status_text = format!("{status_text}: {msg}");
    }
    Instance {
        id: InstanceId(v.id.to_string()),
        name: v.label.clone().unwrap_or_default(),
        endpoint: (state == InstanceState::Running)
            .then(|| endpoint_of(&v))
            .flatten(),
        state,
        status_text,
        price_per_hour: v.dph_total,
        interruptible: v.is_bid,
    }
}

#[derive(Debug, Deserialize)]
struct ChargeRow {
    source: Option<String>,
    amount: f64,
}

#[derive(Debug, Deserialize)]
struct Charges {
    results: Vec<ChargeRow>,
    next_token: Option<String>,
}

/// The sum of the rows charged to `source` (`instance-<id>`), if any.
fn charged_to(page: &Charges, source: &str) -> Option<f64> {
    page.results
        .iter()
        .filter(|r| r.source.as_deref() == Some(source))
        .map(|r| r.amount)
        .reduce(|a, b| a + b)
}

fn unix_now() -> i64 {
    ferry_job::now_ms() / 1000
}

/// Vast.ai's ids are integers; anything else never reaches a URL.
fn numeric_id(id: &str) -> Option<u64> {
    id.parse().ok()
}

#[async_trait]
impl Provider for VastAi {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Vastai
    }

    /// "for every second your instance is in the active/connected state" (<https://docs.vast.ai/billing-help>).
    fn billing(&self) -> Billing {
        Billing::PER_SECOND
    }

    fn guard(&self) -> Guard {
        Guard::SelfTerminate(format!(
            "curl -fsS -X DELETE -H \"Authorization: Bearer $CONTAINER_API_KEY\" \"{}/instances/$CONTAINER_ID/\"",
            self.config.base_url.trim_end_matches('/')
        ))
    }

    async fn quote(&self, offer: &OfferRef) -> Result<Quote, CloudError> {
        let body = json!({
            "gpu_name": {"eq": offer.instance_type},
            "num_gpus": {"eq": offer.gpu_count},
            "rentable": {"eq": true},
            "rented": {"eq": false},
            "verified": {"eq": true},
            "reliability2": {"gte": MIN_RELIABILITY},
            "type": if offer.spot { "bid" } else { "on-demand" },
            // So that dph_total includes the storage this instance will have.
            "allocated_storage": self.config.disk_gb,
            "order": [["dph_total", "asc"]],
            "limit": OFFERS_LIMIT,
        });
        let answer: Offers = self
            .api
            .json(Method::POST, "/bundles/", Some(&body), &classify)
            .await?;
        let choice = choose(&answer.offers, offer)?;
        Ok(Quote {
            price_per_hour: choice.price,
            ask: Some(choice.ask.to_string()),
            detail: choice.detail,
        })
    }

    /// The create itself is sent once ([`Api::json_once`]), never retried, since a create
    /// whose answer was lost may have made the instance, and a second try would make another.
    async fn create(&self, req: &CreateRequest) -> Result<InstanceId, CloudError> {
        let ask = req
            .quote
            .ask
            .as_deref()
            .and_then(numeric_id)
            .ok_or_else(|| {
                self.error(
                    ErrorKind::Refused,
                    "a Vast.ai instance is created from a live offer: quote first (the quote has no offer id)",
                )
            })?;
        let key = req.public_key.trim();
        if key.is_empty() || key.contains('\n') {
            return Err(self.error(
                ErrorKind::Refused,
                "the public key must be one line in OpenSSH form",
            ));
        }
        let mut body = json!({
            "client_id": "me",
            "image": req.image,
            "disk": req.disk_gb,
            "label": req.name.to_string(),
            "onstart": onstart_script(key, req.onstart.as_deref()),
            "runtype": "ssh_direct",
        });
        if req.offer.spot {
            // A bid makes the instance interruptible: it is paused whenever outbid.
            body["price"] = json!(req.quote.price_per_hour);
        } else {
            // An on-demand create that cannot start at once is cancelled, not left queued.
            body["cancel_unavail"] = json!(true);
        }
        let answer: CreateAnswer = self
            .api
            .json_once(
                Method::PUT,
                &format!("/asks/{ask}/"),
                Some(&body),
                &classify_create,
            )
            .await?;
        if !answer.success {
            return Err(self.error(
                ErrorKind::NoCapacity,
                format!(
                    "offer {ask} was not rented: {}",
                    answer
                        .msg
                        .or(answer.error)
                        .unwrap_or_else(|| "success: false".into())
                ),
            ));
        }
        let id = answer.new_contract.ok_or_else(|| {
            CloudError::malformed(
                provider_id(),
                "new_contract",
                "missing field `new_contract`",
            )
        })?;
        // The key is in onstart already; attaching it through the API as well covers images
        // whose onstart does not run. Best effort: the instance exists either way.
        let _ = self
            .api
            .send(
                Method::POST,
                &format!("/instances/{id}/ssh/"),
                Some(&json!({ "ssh_key": key })),
                &classify,
            )
            .await;
        Ok(InstanceId(id.to_string()))
    }

    async fn list(&self) -> Result<Vec<Instance>, CloudError> {
        let listing: Listing = self
            .api
            .json(Method::GET, "/instances/", None, &classify)
            .await?;
        Ok(listing.instances.into_iter().map(to_instance).collect())
    }

    async fn terminate(&self, id: &InstanceId) -> Result<(), CloudError> {
        let Some(n) = numeric_id(&id.0) else {
            return Err(self.error(
                ErrorKind::Refused,
                format!("{id} is not a Vast.ai instance id"),
            ));
        };
        #[derive(Deserialize)]
        struct Destroyed {
            success: bool,
            msg: Option<String>,
        }
        match self
            .api
            .json::<Destroyed>(Method::DELETE, &format!("/instances/{n}/"), None, &classify)
            .await
        {
            Ok(d) if d.success => Ok(()),
            Ok(d) => Err(self.error(
                ErrorKind::Refused,
                format!(
                    "destroying instance {n} failed: {}",
                    d.msg.unwrap_or_else(|| "success: false".into())
                ),
            )),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn charged(&self, id: &InstanceId) -> Result<Option<f64>, CloudError> {
        let Some(n) = numeric_id(&id.0) else {
            return Ok(None);
        };
        let source = format!("instance-{n}");
        let now = unix_now();
        let filters = json!({
            "day": {"gte": now - CHARGES_WINDOW_DAYS * 86_400, "lte": now + 86_400},
            "type": {"in": ["instance"]},
        });
        let mut total: Option<f64> = None;
        let mut after: Option<String> = None;
        for _ in 0..CHARGES_MAX_PAGES {
            let mut url = reqwest::Url::parse("http://query.invalid/").expect("a constant URL");
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("select_filters", &filters.to_string());
                q.append_pair("limit", "500");
                if let Some(token) = &after {
                    q.append_pair("after_token", token);
                }
            }
            let path = format!("/charges/?{}", url.query().unwrap_or_default());
            let page: Charges = self.api.json(Method::GET, &path, None, &classify).await?;
            if let Some(amount) = charged_to(&page, &source) {
                total = Some(total.unwrap_or(0.0) + amount);
            }
            match page.next_token {
                Some(token) if !token.is_empty() && !page.results.is_empty() => after = Some(token),
                _ => break,
            }
        }
        Ok(total)
    }

    fn calls(&self) -> u64 {
        self.api.calls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::decode;

    fn fixture(name: &str) -> String {
        let path = format!("{}/fixtures/vastai/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn want(gpu: &str, count: u32, spot: bool, max: Option<f64>) -> OfferRef {
        OfferRef {
            instance_type: gpu.into(),
            region: String::new(),
            gpu_count: count,
            spot,
            expected_price_per_hour: 1.0,
            max_price_per_hour: max,
            tier: None,
            vcpus: None,
        }
    }

    fn offer(id: u64, dph: f64, reliability: f64) -> Offer {
        Offer {
            id,
            num_gpus: 1,
            gpu_name: "H100 SXM".into(),
            dph_total: dph,
            min_bid: Some(dph / 2.0),
            reliability2: Some(reliability),
            host_id: Some(id * 10),
            geolocation: Some("Oslo, NO".into()),
        }
    }

    #[test]
    fn the_documented_offer_parses_and_is_chosen() {
        let offers: Offers = decode("vastai", &fixture("search_offers.json")).unwrap();
        let c = choose(&offers.offers, &want("Imaginary RTX 9999", 4, false, None)).unwrap();
        assert_eq!(c.ask, 12345678);
        assert_eq!(c.price, 0.234567);
        assert_eq!(
            c.detail,
            "offer 12345678 on host 55555, reliability 1.000, Atlantis, AT"
        );
        let bid = choose(&offers.offers, &want("Imaginary RTX 9999", 4, true, None)).unwrap();
        assert_eq!(bid.price, 0.1112, "min_bid 0.111111 rounded up");
        let e = choose(&offers.offers, &want("Imaginary RTX 9999", 2, false, None)).unwrap_err();
        assert_eq!(
            e.kind,
            ErrorKind::NoCapacity,
            "a 4-GPU offer is no 2-GPU offer"
        );
    }

    #[test]
    fn the_cheapest_reliable_offer_wins_not_the_cheapest() {
        let offers = [
            offer(1, 1.80, 0.999),
            offer(2, 1.60, 0.90),  // cheapest, but under MIN_RELIABILITY
            offer(3, 1.65, 0.995), // 1.658 per unit of reliability
            offer(4, 1.62, 0.951), // cheaper, but 1.703 per unit of reliability
        ];
        let c = choose(&offers, &want("H100 SXM", 1, false, None)).unwrap();
        assert_eq!((c.ask, c.price), (3, 1.65));
        let c = choose(&offers, &want("h100_sxm", 1, true, None)).unwrap();
        assert_eq!((c.ask, c.price), (3, 0.825), "bids weigh the same way");
        // An equal risk-adjusted price goes to the more reliable host.
        let tie = [offer(7, 0.99, 0.99), offer(8, 0.96, 0.96)];
        assert_eq!(
            choose(&tie, &want("H100 SXM", 1, false, None)).unwrap().ask,
            7
        );
    }

    #[test]
    fn max_price_filters_before_choosing() {
        let offers = [offer(1, 1.80, 0.999), offer(3, 1.65, 0.995)];
        let c = choose(&offers, &want("H100 SXM", 1, false, Some(1.70))).unwrap();
        assert_eq!(c.ask, 3);
        let e = choose(&offers, &want("H100 SXM", 1, false, Some(1.0))).unwrap_err();
        assert_eq!(e.kind, ErrorKind::PriceAbove);
        assert!(e.to_string().contains("$1.6500/h"), "{e}");
        let e = choose(
            &[offer(2, 1.60, 0.90)],
            &want("H100 SXM", 1, false, Some(9.0)),
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::NoCapacity);
        let mut no_bid = offer(5, 1.0, 0.99);
        no_bid.min_bid = None;
        let e = choose(&[no_bid], &want("H100 SXM", 1, true, None)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::NoCapacity, "no min_bid: not biddable");
    }

    #[test]
    fn bids_round_up_to_four_decimals() {
        assert_eq!(round_up_bid(0.8), 0.8);
        assert_eq!(round_up_bid(0.111111), 0.1112);
        assert_eq!(round_up_bid(0.12340000001), 0.1234);
        assert_eq!(round_up_bid(0.12341), 0.1235);
    }

    #[test]
    fn the_documented_listing_maps() {
        let listing: Listing = decode("vastai", &fixture("show_instances.json")).unwrap();
        let got: Vec<Instance> = listing.instances.into_iter().map(to_instance).collect();
        assert_eq!(got.len(), 2);
        let a = &got[0];
        assert_eq!(a.id, InstanceId("312".into()));
        assert_eq!(a.name, "ML Training Job 2025");
        assert_eq!(a.state, InstanceState::Running);
        assert_eq!(
            a.endpoint,
            Some(Endpoint {
                host: "192.0.2.45".into(),
                port: 20000,
                user: "root".into()
            }),
            "the direct address wins over the proxy"
        );
        assert_eq!(a.price_per_hour, Some(0.8021));
        assert!(!a.interruptible);
        assert!(a.lease().is_none(), "not Ferry's");
        let b = &got[1];
        assert_eq!(b.state, InstanceState::Provisioning);
        assert_eq!(b.endpoint, None, "no endpoint before it runs");
        assert!(b.interruptible);
        assert!(b.lease().is_some());
    }

    fn instance(actual: Option<&str>, ports: Option<Value>) -> VastInstance {
        VastInstance {
            id: 9,
            label: Some("x".into()),
            actual_status: actual.map(str::to_string),
            intended_status: Some("running".into()),
            cur_state: "running".into(),
            next_state: Some("running".into()),
            ssh_host: Some("ssh5.vast.ai".into()),
            ssh_port: Some(10612),
            public_ipaddr: Some("203.0.113.9".into()),
            ports,
            dph_total: Some(0.5),
            is_bid: true,
            status_msg: None,
        }
    }

    #[test]
    fn without_a_port_map_the_proxy_is_used() {
        let proxy = Some(Endpoint {
            host: "ssh5.vast.ai".into(),
            port: 10612,
            user: "root".into(),
        });
        for ports in [
            None,
            Some(Value::Null),
            Some(json!([22, 10612])),
            Some(json!({"22/tcp": null})),
            Some(json!({"22/tcp": [{"HostIp": "0.0.0.0", "HostPort": "x"}]})),
        ] {
            let i = to_instance(instance(Some("running"), ports.clone()));
            assert_eq!(i.endpoint, proxy, "{ports:?}");
        }
        let direct = to_instance(instance(
            Some("running"),
            Some(json!({"22/tcp": [{"HostIp": "0.0.0.0", "HostPort": "41234"}]})),
        ));
        assert_eq!(
            direct.endpoint.map(|e| (e.host, e.port)),
            Some(("203.0.113.9".into(), 41234))
        );
    }

    #[test]
    fn every_status_maps() {
        use InstanceState::*;
        let cases = [
            ("running", None, None, Provisioning),
            ("running", None, Some("loading"), Provisioning),
            ("running", None, Some("created"), Provisioning),
            ("running", None, Some("running"), Running),
            ("stopped", None, Some("exited"), Stopped),
            ("stopped", None, Some("stopped"), Stopped),
            ("running", None, Some("offline"), Stopped),
            ("running", None, Some("frozen"), Stopped),
            ("running", None, Some("rebooting"), Provisioning),
            ("running", None, Some("unknown"), Provisioning),
            ("running", Some("unloaded"), Some("running"), Terminating),
            ("unloaded", Some("unloaded"), Some("exited"), Terminated),
        ];
        for (cur, next, actual, state) in cases {
            assert_eq!(
                state_of(cur, next, actual),
                state,
                "{cur} {next:?} {actual:?}"
            );
        }
        let mut outbid = instance(Some("exited"), None);
        outbid.status_msg = Some("host out of priority".into());
        let i = to_instance(outbid);
        assert_eq!(i.state, Stopped);
        assert!(
            i.status_text.starts_with("exited (outbid"),
            "{}",
            i.status_text
        );
        assert!(
            i.status_text.ends_with(": host out of priority"),
            "{}",
            i.status_text
        );
        assert_eq!(i.endpoint, None);
    }

    #[test]
    fn a_listing_without_an_id_names_the_field() {
        let e = decode::<Listing>(
            "vastai",
            r#"{"instances":[{"cur_state":"running","is_bid":false}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Malformed);
        let text = e.to_string();
        assert!(text.starts_with("vastai: instances[0]"), "{text}");
        assert!(text.contains("`id`"), "{text}");
    }

    #[test]
    fn refusals_are_classified() {
        let r = |status, name: &str| Refusal {
            status,
            body: fixture(name),
        };
        assert_eq!(
            classify_create(&r(404, "create_instance_404.json")),
            Some(ErrorKind::NoCapacity)
        );
        assert_eq!(
            classify_create(&r(410, "create_instance_410.json")),
            Some(ErrorKind::NoCapacity)
        );
        assert_eq!(
            classify(&r(404, "auth_error_404.json")),
            Some(ErrorKind::Auth)
        );
        assert_eq!(
            classify_create(&r(404, "auth_error_404.json")),
            Some(ErrorKind::Auth)
        );
        // An unknown instance is the generic 404: NotFound, which terminate reads as done.
        assert_eq!(classify(&r(404, "destroy_instance_404.json")), None);
        assert_eq!(classify_create(&r(400, "destroy_instance_404.json")), None);
    }

    #[test]
    fn the_other_documented_answers_parse() {
        let c: CreateAnswer = decode("vastai", &fixture("create_instance.json")).unwrap();
        assert!(c.success);
        assert_eq!(c.new_contract, Some(1234568));
        let refused: CreateAnswer = decode("vastai", &fixture("create_instance_410.json")).unwrap();
        assert!(!refused.success);
        let charges: Charges = decode("vastai", &fixture("show_charges.json")).unwrap();
        assert_eq!(charged_to(&charges, "instance-12345678"), Some(38.421));
        assert_eq!(charged_to(&charges, "instance-1"), None);
        assert!(charges.next_token.is_some());
    }

    #[test]
    fn onstart_installs_the_key_first() {
        let s = onstart_script("ssh-ed25519 AAAA ferry's key", Some("echo guard"));
        let first = s.lines().next().unwrap();
        assert_eq!(
            first,
            r"mkdir -p ~/.ssh && echo 'ssh-ed25519 AAAA ferry'\''s key' >> ~/.ssh/authorized_keys && chmod 700 ~/.ssh && chmod 600 ~/.ssh/authorized_keys"
        );
        assert!(s.ends_with("echo guard\n"), "{s}");
        assert!(!onstart_script("k", None).contains("guard"));
    }

    #[test]
    fn the_guard_destroys_its_own_instance() {
        let v = VastAi::new(ProviderConfig::new(
            ProviderKind::Vastai,
            crate::ApiKey::new("secret-key"),
        ));
        let Guard::SelfTerminate(cmd) = v.guard() else {
            panic!("Vast.ai instances can end themselves");
        };
        assert!(cmd.contains("DELETE"), "{cmd}");
        assert!(
            cmd.contains("https://console.vast.ai/api/v0/instances/$CONTAINER_ID/"),
            "{cmd}"
        );
        assert!(!cmd.contains("secret-key"));
        assert_eq!(v.billing(), Billing::PER_SECOND);
    }
}

/// Vast.ai's `gpu_name` for a catalog instance (`8x H100 SXM (verified hosts)` → `H100 SXM`).
pub fn gpu_name(catalog_instance: &str) -> String {
    let s = catalog_instance.trim();
    let s = match s.split_once("x ") {
        Some((n, rest)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => s,
    };
    let s = s.split(" (").next().unwrap_or(s);
    s.trim().to_string()
}

#[cfg(test)]
mod catalog_names {
    #[test]
    fn catalog_instances_become_gpu_names() {
        assert_eq!(super::gpu_name("8x H100 SXM (verified hosts)"), "H100 SXM");
        assert_eq!(super::gpu_name("1x RTX 4090"), "RTX 4090");
        assert_eq!(super::gpu_name("RTX 4090"), "RTX 4090");
    }
}
