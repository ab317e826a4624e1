//! Paperspace (DigitalOcean's Paperspace machines), through its v1 REST API at
//! `https://api.paperspace.com/v1` with a bearer key.
//!
//! Sources: the API reference, <https://docs.digitalocean.com/reference/paperspace/api-reference/>
//! (its OpenAPI spec is <https://api.paperspace.com/v1/openapi.json>); the public clients
//! `skypilot-org/skypilot:sky/provision/paperspace/{utils,constants}.py` and
//! `Paperspace/cli:api/client.ts` (the error shape).
//!
//! | Ferry | call |
//! |---|---|
//! | quote | `GET /machine-availability?machineType=&region=` → `{available}` (capacity only: no price API) |
//! | key | `GET /startup-scripts?name=` → `{items,hasMore,nextPage}`; else `POST /startup-scripts {name,script,isRunOnce}` → the script |
//! | create | `POST /machines {name,machineType,templateId,region,diskSize,publicIpType,startOnCreate,startupScriptId,…}` → `{event, data: machine}` |
//! | list | `GET /machines?limit=&after=` → `{items: [machine], hasMore, nextPage}` |
//! | terminate | `DELETE /machines/{id}` → `{event, data}` |
//!
//! Paperspace installs no SSH key on a machine by itself: the key goes in through a startup
//! script (as SkyPilot does it), one per distinct key and boot script, named after a hash of
//! both so that every Ferry process sharing the account finds the same one. Errors are tRPC
//! shaped, `{"code": "BAD_REQUEST", "message": "…"}` (`Paperspace/cli:api/client.ts`).
//!
//! UNCONFIRMED (the docs leave it open):
//! - the wording of a no-capacity or quota refusal (classified by words in `message`);
//! - `publicIp` being `null` until one is assigned (the docs' sample has a string);
//! - the region values: the docs' sample is `ny2`; the catalog's `NY2` is sent lowercased;
//! - the allowed `diskSize` values (the spec has an enum of numbers; SkyPilot uses 100, 250,
//!   500, 1000, 2000, the docs' sample 50): a size is rounded up to the next of those;
//! - the default template ids (SkyPilot's "Ubuntu 22.04 ML-in-a-Box" per machine type);
//! - billing: a third-party FinOps note says per second, Paperspace's pages give hourly
//!   rates; per second is assumed;
//! - `usageRate`'s unit, so listings report no price.

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
use serde::de::DeserializeOwned;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;

pub const BASE_URL: &str = "https://api.paperspace.com/v1";
/// "Ubuntu 22.04 ML-in-a-Box", the template SkyPilot boots an A100-80G with
/// (`skypilot-org/skypilot:sky/provision/paperspace/constants.py`). UNCONFIRMED: public
/// template ids are not in the v1 docs; `GET /os-templates` lists them.
pub const DEFAULT_IMAGE: &str = "tqqsxr6b";

/// The ML-in-a-Box template per machine type, where SkyPilot uses another than the default.
const TEMPLATE_BY_TYPE: &[(&str, &str)] = &[
    ("H100", "tilqt47t"),
    ("H100x8", "t7vp562h"),
    ("A100-80Gx8", "tvimtol9"),
    ("V100", "twnlo3zj"),
    ("V100-32G", "twnlo3zj"),
    ("V100-32Gx2", "twnlo3zj"),
    ("V100-32Gx4", "twnlo3zj"),
    ("A4000", "twnlo3zj"),
    ("A4000x2", "twnlo3zj"),
    ("A4000x4", "twnlo3zj"),
    ("P4000", "twnlo3zj"),
];

/// Machine types whose GPUs are joined by NVLink when asked (SkyPilot's `NVLINK_INSTANCES`).
const NVLINK_TYPES: &[&str] = &["H100x8", "A100-80Gx8"];

/// Disk sizes a machine can have, GB (UNCONFIRMED, see the module docs).
const DISK_SIZES_GB: &[u32] = &[50, 100, 250, 500, 1000, 2000];

/// The SSH login of Paperspace's Ubuntu templates.
const SSH_USER: &str = "paperspace";

pub struct Paperspace {
    api: Api,
    config: ProviderConfig,
    /// Startup scripts found or made by this process, id by name: one lookup per key.
    scripts: Mutex<HashMap<String, String>>,
    page_size: u32,
}

impl Paperspace {
    pub fn new(config: ProviderConfig) -> Paperspace {
        let id = ProviderKind::Paperspace.id();
        Paperspace {
            api: Api::new(id, &config.base_url, config.key.clone()).with_retry(config.retry),
            config,
            scripts: Mutex::new(HashMap::new()),
            page_size: 100,
        }
    }

    /// Items per listing page (the API allows 1 to 120); for tests of the paging.
    #[doc(hidden)]
    pub fn with_page_size(mut self, n: u32) -> Paperspace {
        self.page_size = n.clamp(1, 120);
        self
    }

    fn error(&self, kind: ErrorKind, message: impl Into<String>) -> CloudError {
        CloudError::new(self.api.provider(), kind, message)
    }

    /// Every item of a paged listing (`{items, hasMore, nextPage}`), one call per page.
    async fn all_pages<T: DeserializeOwned>(
        &self,
        path: &str,
        filter: &str,
    ) -> Result<Vec<T>, CloudError> {
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut url = format!("{path}?limit={}{filter}", self.page_size);
            if let Some(cursor) = &after {
                url.push_str(&format!("&after={}", query_escape(cursor)));
            }
            let page: Page<T> = self.api.json(Method::GET, &url, None, &classify).await?;
            items.extend(page.items);
            // A listing cut short would make Ferry's machines look gone: a page that says
            // there is more but gives no new cursor is an error, not the end.
            match (page.has_more, page.next_page) {
                (false, _) => return Ok(items),
                (true, Some(next)) if after.as_ref() != Some(&next) => after = Some(next),
                (true, _) => {
                    return Err(self.error(
                        ErrorKind::Malformed,
                        format!("nextPage: {path} says it has more but gives no new cursor"),
                    ));
                }
            }
        }
    }

    /// The id of the startup script that installs `key` and runs `onstart`, found or made.
    async fn startup_script(&self, key: &str, onstart: Option<&str>) -> Result<String, CloudError> {
        let script = boot_script(key, onstart).map_err(|m| self.error(ErrorKind::Refused, m))?;
        let name = script_name(key, onstart);
        if let Some(id) = self.cached_script(&name) {
            return Ok(id);
        }
        let found: Vec<StartupScript> = self
            .all_pages(
                "/startup-scripts",
                &format!("&name={}", query_escape(&name)),
            )
            .await?;
        let id = match found
            .into_iter()
            .find(|s| s.name == name && s.dt_deleted.is_none())
        {
            Some(s) => s.id,
            None => {
                let body = json!({"name": name, "script": script, "isRunOnce": false});
                let made: StartupScript = self
                    .api
                    .json(Method::POST, "/startup-scripts", Some(&body), &classify)
                    .await?;
                made.id
            }
        };
        if let Ok(mut cache) = self.scripts.lock() {
            cache.insert(name, id.clone());
        }
        Ok(id)
    }

    fn cached_script(&self, name: &str) -> Option<String> {
        self.scripts.lock().ok()?.get(name).cloned()
    }
}

#[async_trait]
impl Provider for Paperspace {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Paperspace
    }

    fn billing(&self) -> Billing {
        Billing::PER_SECOND
    }

    fn guard(&self) -> Guard {
        Guard::None(
            "Paperspace's auto-shutdown only stops a machine, and a stopped machine still bills its storage",
        )
    }

    /// Paperspace publishes no price API, so the price is the catalog's; what can be checked
    /// live is whether the machine type is in stock in the region (one call).
    async fn quote(&self, offer: &OfferRef) -> Result<Quote, CloudError> {
        if offer.spot {
            return Err(self.error(
                ErrorKind::Refused,
                "Paperspace has no spot or interruptible machines: only on-demand offers can be rented there",
            ));
        }
        let price = offer.expected_price_per_hour;
        if let Some(max) = offer.max_price_per_hour
            && price > max
        {
            return Err(self.error(
                ErrorKind::PriceAbove,
                format!(
                    "{} costs ${price:.2}/h, above the most accepted (${max:.2}/h)",
                    offer.instance_type
                ),
            ));
        }
        let region = api_region(&offer.region);
        let path = format!(
            "/machine-availability?machineType={}&region={}",
            query_escape(&offer.instance_type),
            query_escape(&region)
        );
        let stock: Availability = self.api.json(Method::GET, &path, None, &classify).await?;
        if !stock.available {
            return Err(self.error(
                ErrorKind::NoCapacity,
                format!(
                    "no {} machine is available in {region} now",
                    offer.instance_type
                ),
            ));
        }
        Ok(Quote {
            price_per_hour: price,
            ask: None,
            detail: format!(
                "Paperspace has no live price API: the catalog's price; {} in stock in {region}",
                offer.instance_type
            ),
        })
    }

    /// The create is sent once ([`Api::json_once`]): a create whose answer is lost may have
    /// made the machine, and a blind retry would make a second; the caller finds the first by
    /// listing.
    async fn create(&self, req: &CreateRequest) -> Result<InstanceId, CloudError> {
        if req.offer.spot {
            return Err(self.error(
                ErrorKind::Refused,
                "Paperspace has no spot or interruptible machines: only on-demand offers can be rented there",
            ));
        }
        let script_id = self
            .startup_script(&req.public_key, req.onstart.as_deref())
            .await?;
        let image = if !req.image.trim().is_empty() {
            req.image.trim()
        } else {
            self.config.image.as_deref().unwrap_or(DEFAULT_IMAGE)
        };
        let machine_type = req.offer.instance_type.as_str();
        let disk = if req.disk_gb > 0 {
            req.disk_gb
        } else {
            self.config.disk_gb
        };
        let body = json!({
            "name": req.name.to_string(),
            "machineType": machine_type,
            "templateId": template_for(image, machine_type),
            "region": api_region(&req.offer.region),
            "diskSize": disk_size(disk),
            "publicIpType": "dynamic",
            "startOnCreate": true,
            "startupScriptId": script_id,
            // Otherwise Paperspace mails the user a password for every machine Ferry makes.
            "emailPassword": false,
            "enableNvlink": NVLINK_TYPES.contains(&machine_type),
        });
        let made: Created = self
            .api
            .json_once(Method::POST, "/machines", Some(&body), &classify)
            .await?;
        Ok(InstanceId(made.data.id))
    }

    async fn list(&self) -> Result<Vec<Instance>, CloudError> {
        let machines: Vec<Machine> = self.all_pages("/machines", "").await?;
        Ok(machines.into_iter().map(Machine::into_instance).collect())
    }

    async fn terminate(&self, id: &InstanceId) -> Result<(), CloudError> {
        // An id Paperspace could not have given is no machine of the account's: nothing to do,
        // and nothing odd is put into the request path.
        if id.0.is_empty()
            || !id
                .0
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Ok(());
        }
        match self
            .api
            .send(
                Method::DELETE,
                &format!("/machines/{}", id.0),
                None,
                &classify,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn calls(&self) -> u64 {
        self.api.calls()
    }
}

/// `{items, hasMore, nextPage}`, the shape of every v1 listing.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page<T> {
    items: Vec<T>,
    has_more: bool,
    next_page: Option<String>,
}

/// A machine, as far as Ferry reads it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Machine {
    id: String,
    name: String,
    state: String,
    public_ip: Option<String>,
}

impl Machine {
    fn into_instance(self) -> Instance {
        let state = machine_state(&self.state);
        let endpoint = match (&state, &self.public_ip) {
            (InstanceState::Running, Some(ip)) if !ip.trim().is_empty() => Some(Endpoint {
                host: ip.trim().to_string(),
                port: 22,
                user: SSH_USER.to_string(),
            }),
            _ => None,
        };
        Instance {
            id: InstanceId(self.id),
            name: self.name,
            state,
            endpoint,
            status_text: self.state,
            price_per_hour: None,
            interruptible: false,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartupScript {
    id: String,
    name: String,
    dt_deleted: Option<String>,
}

/// `POST /machines`'s answer: the event that makes the machine, and the machine.
#[derive(Debug, Deserialize)]
struct Created {
    data: CreatedMachine,
}

#[derive(Debug, Deserialize)]
struct CreatedMachine {
    id: String,
}

#[derive(Debug, Deserialize)]
struct Availability {
    available: bool,
}

/// A machine's `state` (`off, starting, stopping, restarting, serviceready, ready, upgrading,
/// provisioning`), as Ferry acts on it. Deleted machines are not listed at all.
fn machine_state(state: &str) -> InstanceState {
    match state.to_ascii_lowercase().as_str() {
        "ready" | "serviceready" => InstanceState::Running,
        "stopping" | "off" => InstanceState::Stopped,
        // provisioning, starting, restarting, upgrading, and any state the docs do not name
        // yet: not usable, not gone.
        _ => InstanceState::Provisioning,
    }
}

/// Reads a refusal's tRPC body (`{"code", "message"}`, or an `error` field) for the kinds
/// that matter to the scheduler.
fn classify(r: &Refusal) -> Option<ErrorKind> {
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
    let code = body["code"].as_str().unwrap_or_default();
    let mut words = body["message"].as_str().unwrap_or_default().to_string();
    match &body["error"] {
        serde_json::Value::String(s) => words.push_str(&format!(" {s}")),
        serde_json::Value::Object(o) => {
            if let Some(s) = o.get("message").and_then(|m| m.as_str()) {
                words.push_str(&format!(" {s}"));
            }
        }
        _ => {}
    }
    let words = words.to_ascii_lowercase();
    let says = |any: &[&str]| any.iter().any(|w| words.contains(w));
    if says(&[
        "capacity",
        "not available",
        "unavailable",
        "out of stock",
        "no machines available",
    ]) {
        Some(ErrorKind::NoCapacity)
    } else if says(&["quota", "limit"]) {
        Some(ErrorKind::Quota)
    } else if r.status == 404 || code == "NOT_FOUND" {
        Some(ErrorKind::NotFound)
    } else {
        None
    }
}

/// The boot script that installs Ferry's key for the `paperspace` user (once, however often
/// the machine boots), then runs Ferry's own boot script. The key is single-quoted, so a key
/// that is not one plain OpenSSH line is refused rather than spliced into a shell script.
fn boot_script(key: &str, onstart: Option<&str>) -> Result<String, String> {
    let key = key.trim();
    if key.is_empty() || key.contains(['\'', '\n', '\r', '\\']) {
        return Err("the SSH public key is not one OpenSSH line".into());
    }
    let mut script = format!(
        "#!/bin/bash\n\
         mkdir -p /home/paperspace/.ssh && touch /home/paperspace/.ssh/authorized_keys\n\
         grep -qxF '{key}' /home/paperspace/.ssh/authorized_keys || echo '{key}' >> /home/paperspace/.ssh/authorized_keys\n\
         chown -R paperspace:paperspace /home/paperspace/.ssh; chmod 700 /home/paperspace/.ssh; chmod 600 /home/paperspace/.ssh/authorized_keys\n"
    );
    if let Some(extra) = onstart.filter(|s| !s.trim().is_empty()) {
        script.push_str(extra);
        if !extra.ends_with('\n') {
            script.push('\n');
        }
    }
    Ok(script)
}

/// `ferry-<12 hex>`: the same key and boot script give the same name in every process, so
/// a script made once is found again instead of made again.
fn script_name(key: &str, onstart: Option<&str>) -> String {
    let hash = fnv1a64(format!("{}\n{}", key.trim(), onstart.unwrap_or_default()).as_bytes());
    format!("ferry-{:016x}", hash)[..18].to_string()
}

/// FNV-1a, 64 bits: stable across processes and Rust releases (std's hasher is neither
/// promised to be), and a name needs no cryptographic strength.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The API's region value for the catalog's: short codes (`NY2`) go lowercase, as in the
/// docs' `ny2`; long names (`East Coast (NY2)`, which SkyPilot sends) go as they are.
fn api_region(region: &str) -> String {
    let r = region.trim();
    if r.bytes().all(|b| b.is_ascii_alphanumeric()) {
        r.to_ascii_lowercase()
    } else {
        r.to_string()
    }
}

/// The template to boot: the ML-in-a-Box one for the machine type when Ferry's default is
/// asked for, else the configured one.
fn template_for<'a>(image: &'a str, machine_type: &str) -> &'a str {
    if image != DEFAULT_IMAGE {
        return image;
    }
    TEMPLATE_BY_TYPE
        .iter()
        .find(|(t, _)| *t == machine_type)
        .map_or(DEFAULT_IMAGE, |(_, id)| id)
}

/// The smallest allowed disk at least `gb` large (a larger ask goes as it is, for the API
/// to refuse in its own words).
fn disk_size(gb: u32) -> u32 {
    DISK_SIZES_GB
        .iter()
        .copied()
        .find(|s| *s >= gb)
        .unwrap_or(gb)
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::decode;

    fn fixture(name: &str) -> String {
        let path = format!("{}/fixtures/paperspace/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn refusal(status: u16, body: &str) -> Refusal {
        Refusal {
            status,
            body: body.into(),
        }
    }

    #[test]
    fn the_documented_listing_parses_and_maps() {
        let page: Page<Machine> = decode("paperspace", &fixture("machines_list.json")).unwrap();
        assert!(!page.has_more);
        assert_eq!(page.next_page, None);
        let list: Vec<Instance> = page.items.into_iter().map(Machine::into_instance).collect();
        assert_eq!(list.len(), 2);
        let ready = &list[0];
        assert_eq!(ready.id, InstanceId("psr2v1xqg".into()));
        assert_eq!(ready.name, "ferry-0a1b2c3d-j-0000018bcfe56800-a1");
        assert!(ready.lease().is_some());
        assert_eq!(ready.state, InstanceState::Running);
        assert_eq!(
            ready.endpoint,
            Some(Endpoint {
                host: "184.105.3.22".into(),
                port: 22,
                user: "paperspace".into()
            })
        );
        let booting = &list[1];
        assert_eq!(booting.state, InstanceState::Provisioning);
        assert_eq!(booting.status_text, "provisioning");
        assert_eq!(booting.endpoint, None, "no address yet");
        assert!(booting.lease().is_none(), "a user's own machine");
    }

    #[test]
    fn the_other_documented_answers_parse() {
        let made: Created = decode("paperspace", &fixture("machine_create.json")).unwrap();
        assert_eq!(made.data.id, "psr2v1xqg");
        let scripts: Page<StartupScript> =
            decode("paperspace", &fixture("startup_scripts_list.json")).unwrap();
        assert_eq!(scripts.items[0].name, "ferry-3f9a0c6e12b4");
        assert_eq!(scripts.items[0].dt_deleted, None);
        let made: StartupScript =
            decode("paperspace", &fixture("startup_script_create.json")).unwrap();
        assert_eq!(made.id, "sc8k2m4pq");
        let stock: Availability =
            decode("paperspace", &fixture("machine_availability.json")).unwrap();
        assert!(stock.available);
    }

    #[test]
    fn a_listing_without_a_state_names_the_field() {
        let text = r#"{"items":[{"id":"ps1","name":"a","publicIp":null}],"hasMore":false,"nextPage":null}"#;
        let e = decode::<Page<Machine>>("paperspace", text).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Malformed);
        let msg = e.to_string();
        assert!(msg.starts_with("paperspace: items[0]"), "{msg}");
        assert!(msg.contains("state"), "{msg}");
    }

    #[test]
    fn every_documented_state_maps() {
        use InstanceState::*;
        for (s, want) in [
            ("provisioning", Provisioning),
            ("starting", Provisioning),
            ("restarting", Provisioning),
            ("upgrading", Provisioning),
            ("serviceready", Running),
            ("ready", Running),
            ("stopping", Stopped),
            ("off", Stopped),
            ("something-new", Provisioning),
        ] {
            assert_eq!(machine_state(s), want, "{s}");
        }
        // A ready machine without an address yet has no endpoint; an off one never has.
        let m = |state: &str, ip: Option<&str>| Machine {
            id: "ps1".into(),
            name: "n".into(),
            state: state.into(),
            public_ip: ip.map(str::to_string),
        };
        assert_eq!(m("ready", None).into_instance().endpoint, None);
        assert_eq!(m("ready", Some("")).into_instance().endpoint, None);
        assert_eq!(m("off", Some("1.2.3.4")).into_instance().endpoint, None);
        let off = m("off", Some("1.2.3.4")).into_instance();
        assert_eq!(off.status_text, "off");
        assert!(off.state.may_bill());
    }

    #[test]
    fn refusals_are_classified_by_their_words() {
        let e = fixture("error.json");
        assert_eq!(classify(&refusal(400, &e)), Some(ErrorKind::NoCapacity));
        for (status, body, want) in [
            (
                400,
                r#"{"code":"BAD_REQUEST","message":"Machine type H100 is not available in ny2"}"#,
                Some(ErrorKind::NoCapacity),
            ),
            (
                400,
                r#"{"error":"Out of stock"}"#,
                Some(ErrorKind::NoCapacity),
            ),
            (
                400,
                r#"{"code":"BAD_REQUEST","message":"You have reached your machine limit"}"#,
                Some(ErrorKind::Quota),
            ),
            (
                403,
                r#"{"code":"FORBIDDEN","message":"quota exceeded"}"#,
                Some(ErrorKind::Quota),
            ),
            (
                404,
                r#"{"code":"NOT_FOUND","message":"Machine not found"}"#,
                Some(ErrorKind::NotFound),
            ),
            (
                400,
                r#"{"code":"NOT_FOUND","message":"No such machine"}"#,
                Some(ErrorKind::NotFound),
            ),
            (
                400,
                r#"{"code":"BAD_REQUEST","message":"Invalid templateId"}"#,
                None,
            ),
            (400, "<html>bad gateway</html>", None),
        ] {
            assert_eq!(classify(&refusal(status, body)), want, "{body}");
        }
    }

    #[test]
    fn the_boot_script_installs_the_key_once_then_runs_ferrys() {
        let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG ferry";
        let s = boot_script(key, Some("echo guard")).unwrap();
        assert!(s.starts_with("#!/bin/bash\n"));
        assert!(s.contains(&format!(
            "echo '{key}' >> /home/paperspace/.ssh/authorized_keys"
        )));
        assert!(s.contains(&format!("grep -qxF '{key}'")));
        assert!(s.ends_with("echo guard\n"));
        assert!(boot_script("ssh-ed25519 AAAA' ; rm -rf / '", None).is_err());
        assert!(boot_script("", None).is_err());
    }

    #[test]
    fn script_names_are_stable_and_tell_keys_apart() {
        let a = script_name("ssh-ed25519 AAAA ferry", None);
        assert_eq!(a, script_name("ssh-ed25519 AAAA ferry\n", Some("")));
        assert_eq!(a.len(), "ferry-".len() + 12);
        assert!(a[6..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, script_name("ssh-ed25519 BBBB ferry", None));
        assert_ne!(a, script_name("ssh-ed25519 AAAA ferry", Some("echo hi")));
        // FNV-1a's published test vector: the hash does not drift.
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn request_values_follow_the_api() {
        assert_eq!(api_region("NY2"), "ny2");
        assert_eq!(api_region("East Coast (NY2)"), "East Coast (NY2)");
        assert_eq!(disk_size(50), 50);
        assert_eq!(disk_size(51), 100);
        assert_eq!(disk_size(1), 50);
        assert_eq!(disk_size(5000), 5000);
        assert_eq!(template_for(DEFAULT_IMAGE, "H100"), "tilqt47t");
        assert_eq!(template_for(DEFAULT_IMAGE, "A100-80G"), DEFAULT_IMAGE);
        assert_eq!(template_for("tmine123", "H100"), "tmine123");
        assert_eq!(query_escape("East Coast (NY2)"), "East%20Coast%20%28NY2%29");
    }
}
