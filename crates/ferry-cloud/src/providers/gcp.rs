//! Google Cloud Compute Engine, through its REST API v1 with an OAuth 2.0 access token that a
//! service account's key signs for (a JWT bearer grant, RFC 7523).
//!
//! Sources: the API reference <https://cloud.google.com/compute/docs/reference/rest/v1>
//! (`regions.get`, `machineTypes.get`, `instances.insert`, `instances.aggregatedList`,
//! `instances.delete`, `zoneOperations.wait`, the `Operation` and `Instance` resources), the
//! service-account token flow <https://developers.google.com/identity/protocols/oauth2/service-account#httprest>,
//! the GPU quotas <https://cloud.google.com/compute/resource-usage#gpu_quota> and Spot VMs'
//! use of them <https://cloud.google.com/compute/docs/instances/create-use-spot> ("to prevent
//! Spot VMs from consuming your quotas for standard VMs' … GPUs … consider requesting
//! preemptible quota"), the error shape <https://cloud.google.com/compute/docs/api/how-tos/api-requests-responses#handling_api_errors>,
//! the insert errors <https://cloud.google.com/compute/docs/troubleshooting/troubleshooting-resource-availability>,
//! billing <https://cloud.google.com/compute/vm-instance-pricing#billing_model> and disk prices
//! <https://cloud.google.com/compute/disks-image-pricing>.
//!
//! | step | call |
//! |---|---|
//! | token | `POST <token_uri>` form `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<RS256 JWT>` → `{access_token, expires_in, token_type}` (kept until two minutes before it expires) |
//! | quote | `GET /projects/{p}/regions/{region}` → `{name, status, zones: [URL], quotas: [{metric, limit, usage}]}` (the family's GPU quota), then per zone `GET /projects/{p}/zones/{zone}/machineTypes/{type}` → `{name, guestCpus, memoryMb, accelerators?}` until one is 200 (404: not offered there) |
//! | create | `POST /projects/{p}/zones/{zone}/instances?requestId=<UUID of the lease name>` `{name, machineType, labels, disks, networkInterfaces, scheduling, metadata}` → `Operation`; then `POST /projects/{p}/zones/{zone}/operations/{op}/wait` until `DONE` |
//! | list | `GET /projects/{p}/aggregated/instances?returnPartialSuccess=true[&pageToken=]` → `{items: {"zones/{zone}": {instances?: [Instance], warning?}}, nextPageToken?, unreachables?}` |
//! | terminate | `DELETE /projects/{p}/zones/{zone}/instances/{name}` → `Operation` (not waited for: the caller lists) |
//!
//! An instance id is `{zone}/{name}`: Compute Engine addresses an instance by zone and name,
//! and Ferry must be able to delete one after a restart with nothing else in hand. The GPUs
//! are built into the accelerator-optimized machine types Ferry rents (A2, A3, G2), so no
//! `guestAccelerators` are sent. Ferry's key goes in the `ssh-keys` metadata as the user
//! `ferry`, which the guest agent makes; an instance is reached as `ferry@<natIP>:22`.
//!
//! The insert is sent once ([`Api::json_once`]) with a `requestId` made from the lease name,
//! so that the same create sent again within the hour is the same request to Google, and
//! after it a second insert of the name answers 409 `alreadyExists`, read as ours. A failed
//! insert shows in its operation's `error.errors[].code`: `ZONE_RESOURCE_POOL_EXHAUSTED(_WITH_DETAILS)`
//! is no capacity, `QUOTA_EXCEEDED` is quota. Refusals of calls are classified by Google's
//! `error.errors[0].reason`, never by the message.
//!
//! Compute Engine has no live price API a service account can read without the Cloud Billing
//! catalog: the quote's price is the catalog's list price, and `max_price` is held against it.
//!
//! UNCONFIRMED (the docs leave it open, or this was not run against the live service):
//! - whether `regions.get` reports every GPU metric (the `Quota.metric` enum lists the
//!   A100, L4 and H100 ones; H200 is newer): a metric the answer lacks is not read as a quota
//!   of 0, the quote says "quota … not reported" and goes on, and an insert over a quota is
//!   still refused by its operation's `QUOTA_EXCEEDED`;
//! - for Spot, which metric counts: the `PREEMPTIBLE_` one when the region reports it above
//!   0, else the standard one (the docs say Spot VMs use standard quota without preemptible
//!   quota);
//! - a second insert of an existing name: read as ours on HTTP 409 `alreadyExists`, and on an
//!   operation error `RESOURCE_ALREADY_EXISTS`;
//! - Compute Engine answers 403 for `quotaExceeded` and `rateLimitExceeded` as well as for a
//!   permission denied; Ferry's HTTP layer reads every 403 as `Auth` before a provider's
//!   classifier sees it, so those come back as `Auth`, with Google's words;
//! - `STOPPING` is both a stop and a delete in progress: read as `Stopped`, as the status table
//!   of the `Instance` resource has no deleting state;
//! - whether a `DELETE` of an instance already being deleted answers `resourceNotReady`: read
//!   as transient (the caller tries again, then lists).

use crate::billing::Billing;
use crate::error::{CloudError, ErrorKind};
use crate::http::{Api, ApiKey, Refusal, TokenSource};
use crate::oauth::{self, TokenAnswer, TokenCache};
use crate::provider::{
    CreateRequest, Endpoint, Guard, Instance, InstanceId, InstanceState, OfferRef, Provider, Quote,
};
use crate::providers::{Account, ProviderConfig, ProviderKind};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub const BASE_URL: &str = "https://compute.googleapis.com/compute/v1";
/// The Deep Learning VM image family with CUDA 12.4 on Ubuntu 22.04
/// (<https://cloud.google.com/deep-learning-vm/docs/images>): NVIDIA's driver comes with it.
pub const DEFAULT_IMAGE: &str =
    "projects/deeplearning-platform-release/global/images/family/common-cu124-ubuntu-2204";

const PROVIDER: &str = "gcp";

/// The scope of the token: every Compute Engine call.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The JWT bearer grant (RFC 7523 §2.1).
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The user Ferry's key is installed for (through the `ssh-keys` metadata).
const SSH_USER: &str = "ferry";
const SSH_PORT: u16 = 22;

/// pd-balanced in us-central1, $0.10 per GB-month
/// (<https://cloud.google.com/compute/disks-image-pricing>), over 730 hours a month.
const PD_BALANCED_PER_GB_MONTH: f64 = 0.10;

/// Rounds of `operations/{op}/wait` (each returns when the operation is done or after about
/// two minutes) before a create stops waiting and leaves the rest to listing.
const WAIT_ROUNDS: u32 = 10;

/// Pages of an aggregated listing read at most.
const MAX_PAGES: u32 = 100;

/// The fields of a service-account key file Ferry reads (the JSON a user downloads from
/// IAM & Admin > Service accounts > Keys).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ServiceAccount {
    pub client_email: String,
    pub private_key: String,
    pub token_uri: String,
    #[serde(default)]
    pub project_id: Option<String>,
    /// The key's id, sent as the JWT's `kid`.
    #[serde(default)]
    pub private_key_id: Option<String>,
}

impl ServiceAccount {
    /// Reads a key file; what is wrong, in words that never quote the file (serde_json's
    /// messages name the field and the position, not the value).
    pub fn parse(text: &str) -> Result<ServiceAccount, String> {
        serde_json::from_str::<ServiceAccount>(text).map_err(|e| {
            format!(
                "not a service-account key file ({e}): make one under IAM & Admin > Service accounts > Keys > Add key > JSON"
            )
        })
    }
}

/// The PKCS#8 (or PKCS#1) DER inside a PEM private key; what is wrong, in words that never
/// show the key.
fn pem_to_der(pem: &str) -> Result<Vec<u8>, String> {
    let mut body = String::new();
    let mut inside = false;
    for line in pem.lines().map(str::trim) {
        if line.starts_with("-----BEGIN ") {
            inside = true;
        } else if line.starts_with("-----END ") {
            if body.is_empty() {
                break;
            }
            return STANDARD
                .decode(body.as_bytes())
                .map_err(|_| "private_key is not valid base64 between its PEM lines".to_string());
        } else if inside {
            body.push_str(line);
        }
    }
    Err("private_key is not a PEM private key (no BEGIN/END PRIVATE KEY lines)".into())
}

/// The signing key of a service account.
fn signing_key(sa: &ServiceAccount) -> Result<ring::signature::RsaKeyPair, String> {
    let der = pem_to_der(&sa.private_key)?;
    ring::signature::RsaKeyPair::from_pkcs8(&der)
        .or_else(|_| ring::signature::RsaKeyPair::from_der(&der))
        .map_err(|e| format!("private_key is not an RSA private key Ferry can sign with ({e})"))
}

/// The signed JWT a token request carries: RS256 over `header.claims`, base64url without
/// padding, valid from `now` for an hour.
fn assertion(
    sa: &ServiceAccount,
    key: &ring::signature::RsaKeyPair,
    now: u64,
) -> Result<String, String> {
    let mut header = json!({"alg": "RS256", "typ": "JWT"});
    if let Some(kid) = sa.private_key_id.as_deref().filter(|k| !k.is_empty()) {
        header["kid"] = json!(kid);
    }
    let claims = json!({
        "iss": sa.client_email,
        "scope": SCOPE,
        "aud": sa.token_uri,
        "iat": now,
        "exp": now + 3600,
    });
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0u8; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        message.as_bytes(),
        &mut signature,
    )
    .map_err(|_| "the private key could not sign the token request".to_string())?;
    Ok(format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Google's token endpoint for the service account of the key file, with the token cached.
struct GoogleTokens {
    /// The key file read, or what is wrong with it (said at the first call).
    account: Result<(ServiceAccount, ring::signature::RsaKeyPair), String>,
    /// Where the token request goes: the config's endpoint, else the key file's `token_uri`.
    url: String,
    client: reqwest::Client,
    cache: TokenCache,
    fetched: AtomicU64,
}

impl GoogleTokens {
    fn new(key_text: &str, token_url: Option<String>) -> GoogleTokens {
        let account = ServiceAccount::parse(key_text)
            .map_err(|e| format!("the service-account key: {e}"))
            .and_then(|sa| {
                let key =
                    signing_key(&sa).map_err(|e| format!("the service-account key file's {e}"))?;
                Ok((sa, key))
            });
        let url = token_url
            .filter(|u| !u.trim().is_empty())
            .or_else(|| account.as_ref().ok().map(|(sa, _)| sa.token_uri.clone()))
            .unwrap_or_default();
        GoogleTokens {
            account,
            url,
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("an HTTP client"),
            cache: TokenCache::new(),
            fetched: AtomicU64::new(0),
        }
    }

    async fn fetch(&self) -> Result<TokenAnswer, CloudError> {
        let (sa, key) = self.account.as_ref().map_err(|e| {
            CloudError::new(
                PROVIDER,
                ErrorKind::Auth,
                format!("{e}: check [providers.gcp] credentials_file"),
            )
        })?;
        let jwt = assertion(sa, key, unix_now())
            .map_err(|e| CloudError::new(PROVIDER, ErrorKind::Auth, e))?;
        self.fetched.fetch_add(1, Ordering::Relaxed);
        let body = oauth::form(&[("grant_type", GRANT_TYPE), ("assertion", &jwt)]);
        oauth::request_token(PROVIDER, &self.client, &self.url, body).await
    }
}

#[async_trait]
impl TokenSource for GoogleTokens {
    async fn token(&self) -> Result<ApiKey, CloudError> {
        self.cache.get(|| self.fetch()).await
    }
}

pub struct Gcp {
    api: Api,
    tokens: Arc<GoogleTokens>,
    project: Option<String>,
    /// Zones (or regions) the config names: tried first.
    regions: Vec<String>,
    image: Option<String>,
    disk_gb: u32,
}

impl Gcp {
    pub fn new(config: ProviderConfig) -> Gcp {
        let (project, token_url) = match &config.account {
            Account::Gcp { project, token_url } => (Some(project.clone()), token_url.clone()),
            _ => (None, None),
        };
        let tokens = Arc::new(GoogleTokens::new(config.key.expose(), token_url));
        let source: Arc<dyn TokenSource> = tokens.clone();
        Gcp {
            api: Api::with_tokens(PROVIDER, &config.base_url, source).with_retry(config.retry),
            tokens,
            project: project.filter(|p| !p.trim().is_empty()),
            regions: config.regions.clone(),
            image: config.image.clone(),
            disk_gb: config.disk_gb,
        }
    }

    fn error(&self, kind: ErrorKind, message: impl Into<String>) -> CloudError {
        CloudError::new(PROVIDER, kind, message)
    }

    fn project(&self) -> Result<&str, CloudError> {
        self.project.as_deref().ok_or_else(|| {
            self.error(
                ErrorKind::Auth,
                "no project: set project under [providers.gcp]",
            )
        })
    }

    /// The token, fetched (or taken from the cache) before a call: a refused key comes back
    /// from here once, not from inside the API's retry loop.
    async fn ready(&self) -> Result<&str, CloudError> {
        let project = self.project()?;
        self.tokens.token().await?;
        Ok(project)
    }

    /// A call; a token the API refused is forgotten, so the next call fetches another.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T, CloudError> {
        let got = self.api.json(method, path, body, &classify).await;
        self.forget_on_auth(got).await
    }

    async fn forget_on_auth<T>(&self, got: Result<T, CloudError>) -> Result<T, CloudError> {
        if let Err(e) = &got
            && e.kind == ErrorKind::Auth
        {
            self.tokens.cache.forget().await;
        }
        got
    }

    /// The zones to try for an offer in `region`: the offer's own zone and the config's zones
    /// of the region first, then the region's others, in the API's order.
    fn zones_to_try(&self, offer_region: &str, region: &str, listed: &[String]) -> Vec<String> {
        let mut out: Vec<String> = vec![];
        let preferred =
            std::iter::once(offer_region.trim()).chain(self.regions.iter().map(|r| r.trim()));
        for z in preferred {
            if is_zone(z) && region_of(z) == region && !out.iter().any(|o| o == z) {
                out.push(z.to_string());
            }
        }
        for url in listed {
            let z = short_name(url);
            if !out.iter().any(|o| o == z) {
                out.push(z.to_string());
            }
        }
        out
    }

    async fn wait(
        &self,
        project: &str,
        zone: &str,
        mut op: Operation,
    ) -> Result<Operation, CloudError> {
        for _ in 0..WAIT_ROUNDS {
            if op.status == "DONE" {
                return Ok(op);
            }
            let path = format!(
                "/projects/{project}/zones/{zone}/operations/{}/wait",
                op.name
            );
            op = self.call(Method::POST, &path, None).await?;
        }
        Ok(op)
    }
}

#[async_trait]
impl Provider for Gcp {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Gcp
    }

    /// "billed in one-second increments, with a one-minute minimum"
    /// (<https://cloud.google.com/compute/vm-instance-pricing#billing_model>).
    fn billing(&self) -> Billing {
        Billing {
            increment_s: 1,
            minimum_s: 60,
        }
    }

    fn guard(&self) -> Guard {
        Guard::None(
            "a Compute Engine VM that shuts itself down is stopped (TERMINATED), not deleted: its disk keeps billing, and deleting it needs the account's credentials",
        )
    }

    async fn quote(&self, offer: &OfferRef) -> Result<Quote, CloudError> {
        let machine = offer.instance_type.trim();
        let price = offer.expected_price_per_hour;
        if let Some(max) = offer.max_price_per_hour
            && price > max
        {
            return Err(self.error(
                ErrorKind::PriceAbove,
                format!("{machine} lists at ${price:.2}/h, above max_price ${max:.2}/h"),
            ));
        }
        let region = region_of(offer.region.trim());
        if region.is_empty() {
            return Err(self.error(
                ErrorKind::Refused,
                format!("no region to create {machine} in"),
            ));
        }
        let project = self.ready().await?;
        let info: RegionInfo = match self
            .call(
                Method::GET,
                &format!("/projects/{project}/regions/{region}"),
                None,
            )
            .await
        {
            Err(e) if e.kind == ErrorKind::NotFound => {
                return Err(self.error(
                    ErrorKind::Refused,
                    format!(
                        "the project {project} has no region {region}: {}",
                        e.message
                    ),
                ));
            }
            got => got?,
        };
        let quota = quota_check(&info, machine, offer.gpu_count, offer.spot)?;
        for zone in self.zones_to_try(&offer.region, region, &info.zones) {
            let path = format!("/projects/{project}/zones/{zone}/machineTypes/{machine}");
            match self.call::<MachineType>(Method::GET, &path, None).await {
                Ok(t) => {
                    let gpus: Vec<String> = t
                        .accelerators
                        .iter()
                        .map(|a| {
                            format!(
                                "{} × {}",
                                a.guest_accelerator_count, a.guest_accelerator_type
                            )
                        })
                        .collect();
                    let gpus = if gpus.is_empty() {
                        String::new()
                    } else {
                        format!(", {}", gpus.join(", "))
                    };
                    return Ok(Quote {
                        price_per_hour: price,
                        ask: Some(zone.clone()),
                        detail: format!(
                            "{} ({} vCPUs, {} GB{gpus}) in {zone} at ${price:.2}/h list price{}; {quota}",
                            t.name,
                            t.guest_cpus,
                            t.memory_mb / 1024,
                            if offer.spot { " (Spot)" } else { "" },
                        ),
                    });
                }
                Err(e) if e.kind == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        Err(self.error(
            ErrorKind::NoCapacity,
            format!("no zone of {region} offers {machine}"),
        ))
    }

    /// The insert alone is sent once, never retried here: its `requestId` makes a resend
    /// within the hour the same request, and the caller finds a lost answer by name.
    async fn create(&self, req: &CreateRequest) -> Result<InstanceId, CloudError> {
        let machine = req.offer.instance_type.trim();
        let zone = req
            .quote
            .ask
            .clone()
            .filter(|z| is_zone(z))
            .or_else(|| Some(req.offer.region.trim().to_string()).filter(|z| is_zone(z)))
            .ok_or_else(|| {
                self.error(
                    ErrorKind::Refused,
                    "no zone to create in: the quote chose none",
                )
            })?;
        let project = self.ready().await?;
        let name = req.name.to_string();
        let image = Some(req.image.trim())
            .filter(|i| !i.is_empty())
            .or(self.image.as_deref())
            .unwrap_or(DEFAULT_IMAGE);
        let disk_gb = if req.disk_gb > 0 {
            req.disk_gb
        } else {
            self.disk_gb
        };
        let body = insert_body(req, &zone, image, disk_gb);
        let path = format!(
            "/projects/{project}/zones/{zone}/instances?requestId={}",
            request_id(&name)
        );
        let id = InstanceId(format!("{zone}/{name}"));
        let exists = AtomicBool::new(false);
        let classify_insert = |r: &Refusal| {
            if reason(r).as_deref() == Some("alreadyExists") {
                exists.store(true, Ordering::Relaxed);
            }
            classify(r)
        };
        let sent = self
            .api
            .json_once::<Operation>(Method::POST, &path, Some(&body), &classify_insert)
            .await;
        let op = match self.forget_on_auth(sent).await {
            Ok(op) => op,
            // The name is taken in this zone: by our own earlier insert of this lease.
            Err(_) if exists.load(Ordering::Relaxed) => return Ok(id),
            Err(e) => return Err(e),
        };
        let op = self.wait(project, &zone, op).await?;
        match op.failure(machine, &zone) {
            None => Ok(id),
            Some(e) if e.kind == ErrorKind::NotFound => Ok(id), // RESOURCE_ALREADY_EXISTS
            Some(e) => Err(e),
        }
    }

    async fn list(&self) -> Result<Vec<Instance>, CloudError> {
        let project = self.ready().await?;
        let base = format!("/projects/{project}/aggregated/instances?returnPartialSuccess=true");
        let mut out = vec![];
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let path = match &token {
                Some(t) => format!("{base}&{}", oauth::form(&[("pageToken", t)])),
                None => base.clone(),
            };
            let page: Aggregated = self.call(Method::GET, &path, None).await?;
            if !page.unreachables.is_empty() {
                // A listing that misses zones would make their instances look gone.
                return Err(self.error(
                    ErrorKind::Transient,
                    format!(
                        "the listing could not reach {}",
                        page.unreachables.join(", ")
                    ),
                ));
            }
            for scoped in page.items.into_values() {
                out.extend(scoped.instances.into_iter().map(GcpInstance::into_instance));
            }
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
        Err(self.error(
            ErrorKind::Malformed,
            format!("nextPageToken: still set after {MAX_PAGES} pages"),
        ))
    }

    async fn terminate(&self, id: &InstanceId) -> Result<(), CloudError> {
        let Some((zone, name)) =
            id.0.split_once('/')
                .filter(|(z, n)| is_zone(z) && !n.is_empty())
        else {
            return Err(self.error(
                ErrorKind::Refused,
                format!("{id} is not a Compute Engine instance id (zone/name)"),
            ));
        };
        let project = self.ready().await?;
        let path = format!("/projects/{project}/zones/{zone}/instances/{name}");
        match self.call::<Operation>(Method::DELETE, &path, None).await {
            Ok(op) => match op.failure(name, zone) {
                Some(e) if e.kind != ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
            Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn storage_per_hour(&self, disk_gb: u32) -> f64 {
        f64::from(disk_gb) * PD_BALANCED_PER_GB_MONTH / 730.0
    }

    /// API calls and token requests.
    fn calls(&self) -> u64 {
        self.api.calls() + self.tokens.fetched.load(Ordering::Relaxed)
    }
}

/// The insert's body (`instances.insert`'s `Instance`).
fn insert_body(req: &CreateRequest, zone: &str, image: &str, disk_gb: u32) -> serde_json::Value {
    let machine = req.offer.instance_type.trim();
    let mut scheduling = json!({
        "onHostMaintenance": "TERMINATE",
        "automaticRestart": false,
        "provisioningModel": if req.offer.spot { "SPOT" } else { "STANDARD" },
    });
    if req.offer.spot {
        scheduling["instanceTerminationAction"] = json!("DELETE");
    }
    let mut items = vec![json!({
        "key": "ssh-keys",
        "value": format!("{SSH_USER}:{}", req.public_key.trim()),
    })];
    if let Some(script) = &req.onstart {
        items.push(json!({"key": "startup-script", "value": script}));
    }
    json!({
        "name": req.name.to_string(),
        "machineType": format!("zones/{zone}/machineTypes/{machine}"),
        "labels": {
            "ferry-owner": req.name.install,
            "ferry-job": req.name.job.to_string(),
            "ferry-attempt": req.name.attempt.to_string(),
        },
        "disks": [{
            "boot": true,
            "autoDelete": true,
            "initializeParams": {
                "sourceImage": image,
                "diskSizeGb": disk_gb.to_string(),
                "diskType": format!("zones/{zone}/diskTypes/pd-balanced"),
            },
        }],
        "networkInterfaces": [{
            "network": "global/networks/default",
            "accessConfigs": [{"type": "ONE_TO_ONE_NAT", "name": "External NAT"}],
        }],
        "scheduling": scheduling,
        "metadata": {"items": items},
    })
}

/// A UUID (version 5 layout) made from the lease name, the same in every process: the
/// insert's `requestId`.
pub fn request_id(name: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, format!("ferry:{name}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest.as_ref()[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Whether `s` names a zone (`us-central1-a`) rather than a region (`us-central1`): a zone is
/// a region, whose last part ends in a digit, and a suffix.
pub fn is_zone(s: &str) -> bool {
    match s.rsplit_once('-') {
        Some((head, tail)) => {
            !tail.is_empty()
                && tail.starts_with(|c: char| c.is_ascii_lowercase())
                && head.ends_with(|c: char| c.is_ascii_digit())
                && head.contains('-')
        }
        None => false,
    }
}

/// The region of a zone, or the region itself.
pub fn region_of(s: &str) -> &str {
    if is_zone(s) {
        s.rsplit_once('-').map_or(s, |(head, _)| head)
    } else {
        s
    }
}

/// The last part of a resource URL (`…/zones/us-central1-a` → `us-central1-a`).
fn short_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// The regional GPU quota metric of a machine type's family
/// (<https://cloud.google.com/compute/resource-usage#gpu_quota>).
pub fn gpu_metric(machine_type: &str) -> Option<&'static str> {
    let family = machine_type
        .rsplit_once('-')
        .map_or(machine_type, |(f, _)| f);
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

/// The family's GPU quota in the region against what the machine needs: `Quota` when it
/// would pass it; else the quota in words, for the quote's detail.
fn quota_check(
    info: &RegionInfo,
    machine: &str,
    gpus: u32,
    spot: bool,
) -> Result<String, CloudError> {
    let Some(metric) = gpu_metric(machine) else {
        return Ok(format!("no GPU quota known for {machine}"));
    };
    let find = |m: &str| info.quotas.iter().find(|q| q.metric == m);
    let preemptible = format!("PREEMPTIBLE_{metric}");
    // Spot VMs count against the preemptible quota where the project has one, else the
    // standard one.
    let row = if spot {
        find(&preemptible)
            .filter(|q| q.limit > 0.0)
            .or_else(|| find(metric))
    } else {
        find(metric)
    };
    let Some(q) = row else {
        return Ok(format!(
            "quota {} not reported for {}",
            if spot { &preemptible } else { metric },
            info.name
        ));
    };
    let wanted = f64::from(gpus);
    if q.usage + wanted > q.limit {
        return Err(CloudError::new(
            PROVIDER,
            ErrorKind::Quota,
            format!(
                "quota {} in {} is {} ({} in use); {machine} needs {gpus} more",
                q.metric, info.name, q.limit, q.usage
            ),
        ));
    }
    Ok(format!(
        "quota {} in {} is {} ({} in use)",
        q.metric, info.name, q.limit, q.usage
    ))
}

#[derive(Debug, Deserialize)]
struct RegionInfo {
    name: String,
    #[serde(default)]
    zones: Vec<String>,
    #[serde(default)]
    quotas: Vec<QuotaRow>,
}

#[derive(Debug, Deserialize)]
struct QuotaRow {
    metric: String,
    limit: f64,
    usage: f64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MachineType {
    name: String,
    guest_cpus: u32,
    memory_mb: u64,
    #[serde(default)]
    accelerators: Vec<Accelerator>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Accelerator {
    guest_accelerator_type: String,
    guest_accelerator_count: u32,
}

/// The fields of an `Operation` Ferry reads.
#[derive(Debug, Deserialize)]
struct Operation {
    name: String,
    status: String,
    #[serde(default)]
    error: Option<OperationError>,
}

#[derive(Debug, Deserialize)]
struct OperationError {
    #[serde(default)]
    errors: Vec<OperationErrorItem>,
}

#[derive(Debug, Deserialize)]
struct OperationErrorItem {
    code: String,
    #[serde(default)]
    message: Option<String>,
}

impl Operation {
    /// What the operation's error says, by its first code; `NotFound` stands for "the
    /// resource exists already" (ours).
    fn failure(&self, what: &str, zone: &str) -> Option<CloudError> {
        let errors = &self.error.as_ref()?.errors;
        let first = errors.first()?;
        let words: Vec<String> = errors
            .iter()
            .map(|e| match &e.message {
                Some(m) => format!("{}: {m}", e.code),
                None => e.code.clone(),
            })
            .collect();
        let kind = match first.code.as_str() {
            "ZONE_RESOURCE_POOL_EXHAUSTED" | "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS" => {
                ErrorKind::NoCapacity
            }
            "QUOTA_EXCEEDED" => ErrorKind::Quota,
            "RESOURCE_ALREADY_EXISTS" => ErrorKind::NotFound,
            _ => ErrorKind::Refused,
        };
        Some(CloudError::new(
            PROVIDER,
            kind,
            format!("{what} in {zone}: {}", words.join("; ")),
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Aggregated {
    #[serde(default)]
    items: BTreeMap<String, Scoped>,
    #[serde(default)]
    next_page_token: Option<String>,
    #[serde(default)]
    unreachables: Vec<String>,
}

/// One zone of an aggregated listing: its instances, or a warning (`NO_RESULTS_ON_PAGE`).
#[derive(Debug, Deserialize)]
struct Scoped {
    #[serde(default)]
    instances: Vec<GcpInstance>,
}

/// The fields of an `Instance` Ferry reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GcpInstance {
    name: String,
    zone: String,
    status: String,
    #[serde(default)]
    network_interfaces: Vec<NetworkInterface>,
    #[serde(default)]
    scheduling: Option<Scheduling>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NetworkInterface {
    #[serde(default)]
    access_configs: Vec<AccessConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccessConfig {
    #[serde(default, rename = "natIP")]
    nat_ip: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Scheduling {
    #[serde(default)]
    provisioning_model: Option<String>,
    #[serde(default)]
    preemptible: Option<bool>,
}

impl GcpInstance {
    fn into_instance(self) -> Instance {
        let state = state_of(&self.status);
        let ip = self
            .network_interfaces
            .iter()
            .flat_map(|n| n.access_configs.iter())
            .filter_map(|a| a.nat_ip.as_deref())
            .map(str::trim)
            .find(|ip| !ip.is_empty());
        let endpoint = match (state, ip) {
            (InstanceState::Running, Some(ip)) => Some(Endpoint {
                host: ip.to_string(),
                port: SSH_PORT,
                user: SSH_USER.to_string(),
            }),
            _ => None,
        };
        let interruptible = self.scheduling.as_ref().is_some_and(|s| {
            s.provisioning_model.as_deref() == Some("SPOT") || s.preemptible == Some(true)
        });
        Instance {
            id: InstanceId(format!("{}/{}", short_name(&self.zone), self.name)),
            name: self.name,
            state,
            endpoint,
            status_text: self.status,
            price_per_hour: None,
            interruptible,
        }
    }
}

/// An instance's `status`, as Ferry acts on it. `TERMINATED` is Compute Engine's stopped VM,
/// which still bills its disk.
fn state_of(status: &str) -> InstanceState {
    match status {
        "PROVISIONING" | "STAGING" | "REPAIRING" => InstanceState::Provisioning,
        "RUNNING" => InstanceState::Running,
        "STOPPING" | "SUSPENDING" | "SUSPENDED" | "TERMINATED" => InstanceState::Stopped,
        _ => InstanceState::Provisioning,
    }
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    errors: Vec<ErrorItem>,
}

#[derive(Debug, Deserialize)]
struct ErrorItem {
    #[serde(default)]
    reason: Option<String>,
}

/// Google's reason for a refusal (`error.errors[0].reason`, else `error.status`); `None`
/// when the body is not Google's error shape.
fn reason(r: &Refusal) -> Option<String> {
    let body = serde_json::from_str::<ErrorBody>(&r.body).ok()?;
    let detail = body.error;
    Some(
        detail
            .errors
            .into_iter()
            .find_map(|e| e.reason)
            .or(detail.status)
            .unwrap_or_default(),
    )
}

/// Reads a refusal by Google's reason.
fn classify(r: &Refusal) -> Option<ErrorKind> {
    let Some(reason) = reason(r) else {
        // A 404 without Google's error body is a wrong URL, not a gone instance: a terminate
        // must not take it for "deleted already".
        return (r.status == 404).then_some(ErrorKind::Refused);
    };
    Some(match reason.as_str() {
        "notFound" | "NOT_FOUND" => ErrorKind::NotFound,
        "quotaExceeded" => ErrorKind::Quota,
        "rateLimitExceeded" | "userRateLimitExceeded" | "RESOURCE_EXHAUSTED" => {
            ErrorKind::RateLimited
        }
        "resourceNotReady" => ErrorKind::Transient,
        "authError"
        | "forbidden"
        | "accessNotConfigured"
        | "UNAUTHENTICATED"
        | "PERMISSION_DENIED" => ErrorKind::Auth,
        _ => ErrorKind::Refused,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::decode;
    use crate::names::LeaseName;
    use ferry_job::JobId;

    fn refusal(status: u16, body: &str) -> Refusal {
        Refusal {
            status,
            body: body.to_string(),
        }
    }

    const SA: &str = include_str!("../../fixtures/gcp/service-account.json");

    #[test]
    fn the_key_file_parses_and_signs_a_verifiable_jwt() {
        let sa = ServiceAccount::parse(SA).unwrap();
        assert_eq!(sa.project_id.as_deref(), Some("ferry-test-project"));
        assert!(sa.private_key_id.is_some());
        let key = signing_key(&sa).unwrap();
        let jwt = assertion(&sa, &key, 1_700_000_000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], sa.private_key_id.clone().unwrap());
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], sa.client_email);
        assert_eq!(claims["aud"], sa.token_uri);
        assert_eq!(claims["scope"], SCOPE);
        assert_eq!(claims["exp"].as_u64(), Some(1_700_003_600));
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            ring::signature::KeyPair::public_key(&key).as_ref().to_vec(),
        );
        let signed = format!("{}.{}", parts[0], parts[1]);
        public
            .verify(
                signed.as_bytes(),
                &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
            )
            .unwrap();
    }

    #[test]
    fn a_bad_key_file_says_what_is_wrong_and_never_shows_the_key() {
        let e = ServiceAccount::parse("{\"client_email\": \"x\"}").unwrap_err();
        assert!(e.contains("private_key"), "{e}");
        let mut sa = ServiceAccount::parse(SA).unwrap();
        sa.private_key =
            "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n".into();
        let e = signing_key(&sa).unwrap_err();
        assert!(e.contains("not an RSA private key"), "{e}");
        assert!(!e.contains("bm90"), "{e}");
        sa.private_key = "just text".into();
        assert!(signing_key(&sa).unwrap_err().contains("not a PEM"));
        let tokens = GoogleTokens::new("not json", None);
        let e = tokens.account.as_ref().err().unwrap();
        assert!(e.contains("not a service-account key file"), "{e}");
    }

    #[tokio::test]
    async fn a_bad_key_file_is_auth_at_the_first_call() {
        let p = Gcp::new(ProviderConfig {
            account: Account::Gcp {
                project: "p".into(),
                token_url: Some("http://127.0.0.1:9/token".into()),
            },
            ..ProviderConfig::new(ProviderKind::Gcp, ApiKey::new("{}"))
        });
        let e = p.list().await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Auth, "{e}");
        assert!(e.to_string().contains("credentials_file"), "{e}");
        assert_eq!(p.calls(), 0);
    }

    #[test]
    fn zones_and_regions_tell_apart() {
        assert!(is_zone("us-central1-a"));
        assert!(is_zone("europe-west4-c"));
        assert!(is_zone("northamerica-northeast1-b"));
        assert!(!is_zone("us-central1"));
        assert!(!is_zone("me-west1"));
        assert!(!is_zone("global"));
        assert!(!is_zone(""));
        assert_eq!(region_of("us-central1-a"), "us-central1");
        assert_eq!(region_of("us-central1"), "us-central1");
        assert_eq!(
            short_name("https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-f"),
            "us-central1-f"
        );
    }

    #[test]
    fn gpu_metrics_by_family() {
        for (t, m) in [
            ("a2-highgpu-1g", Some("NVIDIA_A100_GPUS")),
            ("a2-ultragpu-8g", Some("NVIDIA_A100_80GB_GPUS")),
            ("a3-highgpu-8g", Some("NVIDIA_H100_GPUS")),
            ("a3-megagpu-8g", Some("NVIDIA_H100_MEGA_GPUS")),
            ("a3-ultragpu-8g", Some("NVIDIA_H200_GPUS")),
            ("g2-standard-48", Some("NVIDIA_L4_GPUS")),
            ("n1-standard-8", None),
        ] {
            assert_eq!(gpu_metric(t), m, "{t}");
        }
    }

    #[test]
    fn the_region_answer_checks_the_quota() {
        let info: RegionInfo =
            decode(PROVIDER, include_str!("../../fixtures/gcp/region.json")).unwrap();
        assert_eq!(info.zones.len(), 4);
        // NVIDIA_A100_GPUS: limit 1, usage 1.
        let e = quota_check(&info, "a2-highgpu-1g", 1, false).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Quota);
        assert_eq!(
            e.to_string(),
            "gcp: quota NVIDIA_A100_GPUS in us-central1 is 1 (1 in use); a2-highgpu-1g needs 1 more"
        );
        // Spot: the preemptible quota (16, 0 in use).
        let ok = quota_check(&info, "a2-highgpu-8g", 8, true).unwrap();
        assert!(ok.contains("PREEMPTIBLE_NVIDIA_A100_GPUS"), "{ok}");
        // L4: 8, 2 in use.
        assert!(quota_check(&info, "g2-standard-48", 4, false).is_ok());
        let e = quota_check(&info, "g2-standard-48", 8, false).unwrap_err();
        assert!(e.to_string().contains("is 8 (2 in use)"), "{e}");
        // Spot without a preemptible quota (0): the standard one counts.
        let e = quota_check(&info, "g2-standard-48", 8, true).unwrap_err();
        assert!(e.to_string().contains("quota NVIDIA_L4_GPUS"), "{e}");
        // Not reported: not read as 0.
        let said = quota_check(&info, "a3-ultragpu-8g", 8, false).unwrap();
        assert!(said.contains("NVIDIA_H200_GPUS not reported"), "{said}");
        assert!(quota_check(&info, "n1-standard-4", 0, false).is_ok());
    }

    #[test]
    fn the_machine_type_answer_parses() {
        let t: MachineType = decode(
            PROVIDER,
            include_str!("../../fixtures/gcp/machine-type.json"),
        )
        .unwrap();
        assert_eq!(t.name, "a2-highgpu-1g");
        assert_eq!(t.guest_cpus, 12);
        assert_eq!(
            t.accelerators[0].guest_accelerator_type,
            "nvidia-tesla-a100"
        );
        assert_eq!(t.accelerators[0].guest_accelerator_count, 1);
    }

    #[test]
    fn operations_parse_and_their_errors_classify() {
        let op: Operation = decode(
            PROVIDER,
            include_str!("../../fixtures/gcp/operation-insert.json"),
        )
        .unwrap();
        assert_eq!(op.status, "RUNNING");
        assert!(op.failure("x", "z").is_none());
        for (file, kind) in [
            (
                include_str!("../../fixtures/gcp/operation-error-exhausted.json"),
                ErrorKind::NoCapacity,
            ),
            (
                include_str!("../../fixtures/gcp/operation-error-quota.json"),
                ErrorKind::Quota,
            ),
        ] {
            let op: Operation = decode(PROVIDER, file).unwrap();
            assert_eq!(op.status, "DONE");
            let e = op.failure("a2-highgpu-1g", "us-central1-a").unwrap();
            assert_eq!(e.kind, kind, "{e}");
            assert!(e.to_string().contains("us-central1-a"), "{e}");
        }
    }

    #[test]
    fn the_aggregated_listing_parses_and_maps() {
        let page: Aggregated = decode(
            PROVIDER,
            include_str!("../../fixtures/gcp/aggregated-instances.json"),
        )
        .unwrap();
        assert_eq!(page.next_page_token.as_deref(), Some("CkQIABABGgUKAwMxMjM"));
        let got: Vec<Instance> = page
            .items
            .into_values()
            .flat_map(|s| s.instances)
            .map(GcpInstance::into_instance)
            .collect();
        assert_eq!(got.len(), 2);
        let running = got.iter().find(|i| i.status_text == "RUNNING").unwrap();
        assert_eq!(running.id.0, "us-central1-a/my-training-box");
        assert_eq!(running.lease(), None, "a user's own VM is not Ferry's");
        assert_eq!(
            running.endpoint,
            Some(Endpoint {
                host: "203.0.113.7".into(),
                port: 22,
                user: "ferry".into()
            })
        );
        assert!(!running.interruptible);
        let spot = got.iter().find(|i| i.status_text == "STAGING").unwrap();
        assert_eq!(spot.state, InstanceState::Provisioning);
        assert_eq!(spot.endpoint, None);
        assert!(spot.interruptible);
        assert!(spot.lease().is_some());
        assert_eq!(spot.id.0, format!("us-central1-b/{}", spot.name));
    }

    #[test]
    fn a_listing_without_status_names_the_field() {
        let text = include_str!("../../fixtures/gcp/aggregated-instances.json")
            .replace("\"status\": \"STAGING\",", "");
        let e = decode::<Aggregated>(PROVIDER, &text).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Malformed);
        let text = e.to_string();
        assert!(text.contains("items"), "{text}");
        assert!(text.contains("instances[0]"), "{text}");
        assert!(text.contains("status"), "{text}");
    }

    #[test]
    fn statuses_map() {
        for (status, state) in [
            ("PROVISIONING", InstanceState::Provisioning),
            ("STAGING", InstanceState::Provisioning),
            ("REPAIRING", InstanceState::Provisioning),
            ("RUNNING", InstanceState::Running),
            ("STOPPING", InstanceState::Stopped),
            ("SUSPENDING", InstanceState::Stopped),
            ("SUSPENDED", InstanceState::Stopped),
            ("TERMINATED", InstanceState::Stopped),
            ("SOMETHING_NEW", InstanceState::Provisioning),
        ] {
            assert_eq!(state_of(status), state, "{status}");
        }
    }

    #[test]
    fn errors_classify_by_reason() {
        let cases = [
            (
                404,
                include_str!("../../fixtures/gcp/error-not-found.json"),
                Some(ErrorKind::NotFound),
            ),
            (
                409,
                include_str!("../../fixtures/gcp/error-already-exists.json"),
                Some(ErrorKind::Refused),
            ),
            (
                403,
                include_str!("../../fixtures/gcp/error-quota-exceeded.json"),
                Some(ErrorKind::Quota),
            ),
            (
                403,
                include_str!("../../fixtures/gcp/error-permission-denied.json"),
                Some(ErrorKind::Auth),
            ),
            (
                429,
                include_str!("../../fixtures/gcp/error-rate-limited.json"),
                Some(ErrorKind::RateLimited),
            ),
            (
                400,
                include_str!("../../fixtures/gcp/error-invalid.json"),
                Some(ErrorKind::Refused),
            ),
            (404, "<html>Not Found</html>", Some(ErrorKind::Refused)),
            (400, "", None),
        ];
        for (status, body, kind) in cases {
            assert_eq!(classify(&refusal(status, body)), kind, "{status} {body}");
        }
        assert_eq!(
            reason(&refusal(
                409,
                include_str!("../../fixtures/gcp/error-already-exists.json")
            ))
            .as_deref(),
            Some("alreadyExists")
        );
    }

    #[test]
    fn the_request_id_is_a_stable_uuid_of_the_name() {
        let a = request_id("ferry-0a1b2c3d-j-1-a1");
        assert_eq!(a, request_id("ferry-0a1b2c3d-j-1-a1"));
        assert_ne!(a, request_id("ferry-0a1b2c3d-j-1-a2"));
        assert_eq!(a.len(), 36);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('5'));
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn the_insert_body_has_the_documented_fields() {
        let name = LeaseName::new("0a1b2c3d", &JobId::new(1_700_000_000_000, 3), 2);
        let req = CreateRequest {
            name: name.clone(),
            offer: OfferRef {
                instance_type: "a2-highgpu-1g".into(),
                region: "us-central1".into(),
                gpu_count: 1,
                spot: true,
                expected_price_per_hour: 1.8,
                max_price_per_hour: None,
                tier: None,
                vcpus: Some(12),
            },
            quote: Quote {
                price_per_hour: 1.8,
                ask: Some("us-central1-a".into()),
                detail: String::new(),
            },
            public_key: "ssh-ed25519 AAAA ferry\n".into(),
            image: DEFAULT_IMAGE.into(),
            disk_gb: 80,
            onstart: Some("echo hi".into()),
        };
        let b = insert_body(&req, "us-central1-a", DEFAULT_IMAGE, 80);
        assert_eq!(b["name"], name.to_string());
        assert_eq!(
            b["machineType"],
            "zones/us-central1-a/machineTypes/a2-highgpu-1g"
        );
        assert_eq!(b["labels"]["ferry-owner"], "0a1b2c3d");
        assert_eq!(b["labels"]["ferry-attempt"], "2");
        assert_eq!(b["labels"]["ferry-job"], name.job.to_string());
        assert_eq!(b["disks"][0]["initializeParams"]["diskSizeGb"], "80");
        assert_eq!(b["scheduling"]["provisioningModel"], "SPOT");
        assert_eq!(b["scheduling"]["instanceTerminationAction"], "DELETE");
        assert_eq!(
            b["metadata"]["items"][0]["value"],
            "ferry:ssh-ed25519 AAAA ferry"
        );
        assert_eq!(b["metadata"]["items"][1]["key"], "startup-script");
        assert_eq!(
            b["networkInterfaces"][0]["accessConfigs"][0]["type"],
            "ONE_TO_ONE_NAT"
        );
    }

    #[test]
    fn the_token_answer_parses() {
        let t: TokenAnswer =
            decode(PROVIDER, include_str!("../../fixtures/gcp/token.json")).unwrap();
        assert_eq!(t.expires_in, 3599);
        assert!(t.access_token.starts_with("ya29."));
    }
}
