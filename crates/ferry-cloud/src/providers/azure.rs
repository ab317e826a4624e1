//! Azure Virtual Machines, through Azure Resource Manager's REST API with a service
//! principal's token (Microsoft Entra ID, client credentials).
//!
//! Sources: the Compute REST reference <https://learn.microsoft.com/rest/api/compute/>
//! (Virtual Machines Create Or Update, List, Delete; Resource Skus List; Usage List), the
//! Network one <https://learn.microsoft.com/rest/api/virtualnetwork/> (Network Security
//! Groups, Virtual Networks, Public IP Addresses List), Resource Groups
//! <https://learn.microsoft.com/rest/api/resources/resource-groups>, ARM's error shape and
//! paging (`nextLink`) <https://github.com/Azure/azure-resource-manager-rpc>, the token
//! request <https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow>,
//! the instance view's status codes
//! <https://learn.microsoft.com/azure/virtual-machines/states-billing>, Spot VMs and their
//! quota <https://learn.microsoft.com/azure/virtual-machines/spot-vms>, and billing
//! (<https://azure.microsoft.com/pricing/details/virtual-machines/linux/>: "billed per second").
//!
//! | step | call |
//! |---|---|
//! | token | `POST {token_url}` (form: `grant_type=client_credentials, client_id, client_secret, scope=https://management.azure.com/.default`) → `{token_type, expires_in, access_token}`, cached until two minutes before it expires |
//! | quote | `GET /subscriptions/{s}/providers/Microsoft.Compute/skus?api-version=2021-07-01&$filter=location eq '{loc}'` → `{value: [{resourceType, name, family, locations, capabilities: [{name, value}], restrictions: [{type, values, reasonCode}]}], nextLink?}`; then `GET …/providers/Microsoft.Compute/locations/{loc}/usages?api-version=2024-07-01` → `{value: [{currentValue, limit, name: {value, localizedValue}}], nextLink?}` |
//! | create, once per process | `GET`, and if missing `PUT`, `/subscriptions/{s}/resourcegroups/{rg}?api-version=2021-04-01 {location, tags}` |
//! | create, once per location | `PUT …/resourceGroups/{rg}/providers/Microsoft.Network/networkSecurityGroups/ferry-ssh-{loc}?api-version=2024-05-01` (TCP 22 in); `PUT …/virtualNetworks/ferry-vnet-{loc}?api-version=2024-05-01` (10.0.0.0/16, subnet `default` 10.0.0.0/24) |
//! | create | `PUT …/providers/Microsoft.Compute/virtualMachines/{name}?api-version=2024-07-01 {location, tags, properties: {hardwareProfile, storageProfile, osProfile, networkProfile (NIC and public IP made with the VM, deleted with it), priority?, evictionPolicy?, billingProfile?}}` → `200/201 {name, properties: {provisioningState}}` |
//! | list | `GET …/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines?api-version=2024-07-01&statusOnly=true` → `{value: [{name, tags?, properties: {priority?, instanceView: {statuses: [{code}]}}}], nextLink?}` and `GET …/resourceGroups/{rg}/providers/Microsoft.Network/publicIPAddresses?api-version=2024-05-01` → `{value: [{name, properties: {ipAddress?}}]}` |
//! | terminate | `DELETE …/virtualMachines/{name}?api-version=2024-07-01` → 202/200/204 |
//!
//! An instance's id is its VM name (Ferry's lease name): ARM addresses a VM by name within
//! the resource group, so the id alone terminates it after a restart. Every `PUT` is
//! idempotent (the same name and body is the same resource), so a create resent after a lost
//! answer makes no second machine; still the VM's `PUT` is sent once ([`Api::json_once`]), as
//! for every provider, and a lost answer is found again by listing by name.
//!
//! Quotas are vCPUs, per VM family and location (the SKU's `family` names the usage), plus the
//! regional total (`cores`); Spot VMs count only against `lowPriorityCores`. The quote checks
//! them before a create would be refused with `OperationNotAllowed`.
//!
//! Failures are told apart by ARM's `error.code`, never by the message (but for
//! `OperationNotAllowed`, which ARM uses for quota and for other refusals alike).
//!
//! UNCONFIRMED (the docs leave it open):
//! - what `statusOnly=true` leaves out of each VM (read: `name` and the instance view's
//!   statuses are there; `tags` and `properties.priority` are read when present);
//! - whether a VM whose `PUT` was just accepted is listed at once, and with which statuses
//!   (read: `ProvisioningState/creating`, no power state: Provisioning);
//! - whether the VM's `PUT` can follow the VNet's at once, before the VNet's own
//!   provisioning has finished (ARM answers the VNet's `PUT` before it is done);
//! - the answer to deleting a VM Azure no longer knows: ARM's conventions say 204, some
//!   answers are 404 `ResourceNotFound`; both are read as gone, a 404 without ARM's error body
//!   is not (a wrong base URL);
//! - the OS disk of the default image: marketplace images carry 30 to 64 GiB disks and a
//!   smaller `diskSizeGB` is refused, so Ferry asks for at least [`MIN_OS_DISK_GB`];
//! - the Premium SSD tier prices other than P10, P20 and P30 (see [`premium_ssd_per_month`]).

use crate::billing::Billing;
use crate::error::{CloudError, ErrorKind};
use crate::http::{Api, ApiKey, Refusal, TokenSource};
use crate::oauth::{self, TokenCache};
use crate::provider::{
    CreateRequest, Endpoint, Guard, Instance, InstanceId, InstanceState, OfferRef, Provider, Quote,
};
use crate::providers::{Account, ProviderConfig, ProviderKind};
use async_trait::async_trait;
use base64::Engine as _;
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{Mutex, OnceCell};

pub const BASE_URL: &str = "https://management.azure.com";
/// The Data Science VM for HPC on Ubuntu 22.04 (NVIDIA's driver, CUDA), as a marketplace
/// URN `publisher:offer:sku:version`; a configured image is a URN too, or an image resource
/// id (`/subscriptions/…/images/…` or a gallery image version).
pub const DEFAULT_IMAGE: &str = "microsoft-dsvm:ubuntu-hpc:2204:latest";

const PROVIDER: &str = "azure";

const COMPUTE_API: &str = "2024-07-01";
const SKUS_API: &str = "2021-07-01";
const NETWORK_API: &str = "2024-05-01";
const GROUPS_API: &str = "2021-04-01";

/// Where Microsoft Entra ID issues tokens for a tenant.
const ENTRA_TOKEN_URL: &str = "https://login.microsoftonline.com";
/// What the token is for: Azure Resource Manager.
const ARM_SCOPE: &str = "https://management.azure.com/.default";

/// The login Ferry gives its VMs, and where its key goes.
const SSH_USER: &str = "ferry";
const SSH_PORT: u16 = 22;

/// The smallest OS disk Ferry asks for (the marketplace GPU images' own disks are up to 64 GiB).
pub const MIN_OS_DISK_GB: u32 = 64;

/// Tags on every VM Ferry makes.
pub const OWNER_TAG: &str = "ferry-owner";
pub const JOB_TAG: &str = "ferry-job";
pub const ATTEMPT_TAG: &str = "ferry-attempt";

/// The usages of the regional quotas (`name.value`): all regular vCPUs, and Spot's.
const TOTAL_CORES: &str = "cores";
const SPOT_CORES: &str = "lowPriorityCores";

/// Hours Azure counts in a month for its monthly prices.
const HOURS_PER_MONTH: f64 = 730.0;

/// Premium SSD (LRS) managed disks, East US, USD per month, by tier: a disk is billed as the
/// smallest tier that holds it (<https://learn.microsoft.com/azure/virtual-machines/disks-understand-billing>).
/// P10 $19.71, P20 $73.22, P30 $135.17 per <https://azure.microsoft.com/pricing/details/managed-disks/>
/// as quoted by TechTarget ("How does Azure Premium Storage billing work?") and Lucidity's
/// 2026 pricing guide; the other tiers are the same page's figures as remembered, as of 2025,
/// UNCONFIRMED.
const PREMIUM_SSD_TIERS: [(u32, f64); 10] = [
    (32, 5.28),      // P4
    (64, 10.21),     // P6
    (128, 19.71),    // P10
    (256, 38.01),    // P15
    (512, 73.22),    // P20
    (1024, 135.17),  // P30
    (2048, 259.05),  // P40
    (4096, 495.57),  // P50
    (8192, 946.08),  // P60
    (16384, 1802.1), // P70
];

/// What a Premium SSD OS disk of `disk_gb` costs per month (its tier's price; past the table,
/// the largest tier's price per GiB).
pub fn premium_ssd_per_month(disk_gb: u32) -> f64 {
    let gb = disk_gb.max(MIN_OS_DISK_GB);
    match PREMIUM_SSD_TIERS.iter().find(|(size, _)| gb <= *size) {
        Some((_, price)) => *price,
        None => {
            let (size, price) = PREMIUM_SSD_TIERS[PREMIUM_SSD_TIERS.len() - 1];
            price / f64::from(size) * f64::from(gb)
        }
    }
}

/// What a Premium SSD OS disk of `disk_gb` costs per hour (the fake bills the same).
pub fn premium_ssd_per_hour(disk_gb: u32) -> f64 {
    premium_ssd_per_month(disk_gb) / HOURS_PER_MONTH
}

/// The service principal's token, from Microsoft Entra ID's token endpoint.
struct EntraToken {
    client: reqwest::Client,
    url: String,
    client_id: String,
    secret: ApiKey,
    cache: TokenCache,
    /// What the account lacks, when it is not an Azure one.
    missing: Option<String>,
}

#[async_trait]
impl TokenSource for EntraToken {
    async fn token(&self) -> Result<ApiKey, CloudError> {
        if let Some(m) = &self.missing {
            return Err(CloudError::new(PROVIDER, ErrorKind::Auth, m.clone()));
        }
        self.cache
            .get(|| async {
                let body = oauth::form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", &self.client_id),
                    ("client_secret", self.secret.expose()),
                    ("scope", ARM_SCOPE),
                ]);
                oauth::request_token(PROVIDER, &self.client, &self.url, body).await
            })
            .await
    }
}

pub struct Azure {
    api: Api,
    tokens: Arc<EntraToken>,
    /// The API's base URL, to read `nextLink`s against.
    base: String,
    subscription: String,
    resource_group: String,
    image: Option<String>,
    /// The resource group, found or made by the first create of this process.
    group: OnceCell<()>,
    /// Each location's security group and virtual network, made by its first create.
    networks: Mutex<BTreeMap<String, Arc<OnceCell<()>>>>,
}

impl Azure {
    pub fn new(config: ProviderConfig) -> Azure {
        let (tenant, client_id, subscription, resource_group, token_url, missing) =
            match &config.account {
                Account::Azure {
                    tenant_id,
                    client_id,
                    subscription_id,
                    resource_group,
                    token_url,
                } => (
                    tenant_id.clone(),
                    client_id.clone(),
                    subscription_id.clone(),
                    resource_group.clone(),
                    token_url.clone(),
                    None,
                ),
                _ => (
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    None,
                    Some(format!(
                        "no Azure account: [providers.azure] needs {}",
                        ProviderKind::Azure.env_var()
                    )),
                ),
            };
        let url = token_url.unwrap_or_else(|| {
            format!(
                "{ENTRA_TOKEN_URL}/{}/oauth2/v2.0/token",
                segment(tenant.trim())
            )
        });
        let tokens = Arc::new(EntraToken {
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .connect_timeout(std::time::Duration::from_secs(10))
                .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("an HTTP client"),
            url,
            client_id: client_id.trim().to_string(),
            secret: config.key.clone(),
            cache: TokenCache::new(),
            missing,
        });
        let base = config.base_url.trim_end_matches('/').to_string();
        Azure {
            api: Api::with_tokens(PROVIDER, &base, tokens.clone()).with_retry(config.retry),
            tokens,
            base,
            subscription: subscription.trim().to_string(),
            resource_group: resource_group.trim().to_string(),
            image: config.image.clone().filter(|i| !i.trim().is_empty()),
            group: OnceCell::new(),
            networks: Mutex::new(BTreeMap::new()),
        }
    }

    fn error(&self, kind: ErrorKind, message: impl Into<String>) -> CloudError {
        CloudError::new(PROVIDER, kind, message)
    }

    fn subscription_path(&self) -> String {
        format!("/subscriptions/{}", segment(&self.subscription))
    }

    fn group_path(&self) -> String {
        format!(
            "{}/resourceGroups/{}",
            self.subscription_path(),
            segment(&self.resource_group)
        )
    }

    fn vm_path(&self, name: &str) -> String {
        format!(
            "{}/providers/Microsoft.Compute/virtualMachines/{}?api-version={COMPUTE_API}",
            self.group_path(),
            segment(name)
        )
    }

    fn nsg_id(&self, location: &str) -> String {
        format!(
            "{}/providers/Microsoft.Network/networkSecurityGroups/ferry-ssh-{location}",
            self.group_path()
        )
    }

    fn vnet_id(&self, location: &str) -> String {
        format!(
            "{}/providers/Microsoft.Network/virtualNetworks/ferry-vnet-{location}",
            self.group_path()
        )
    }

    /// One request, its token asked first: a refused secret fails here, once, instead of in
    /// [`Api`]'s retry loop (which retries whatever fails before an answer comes). A token the
    /// API refuses is forgotten, so the next request fetches another.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        once: bool,
    ) -> Result<String, CloudError> {
        self.tokens.token().await?;
        let sent = if once {
            self.api.send_once(method, path, body, &classify).await
        } else {
            self.api.send(method, path, body, &classify).await
        };
        if let Err(e) = &sent
            && e.kind == ErrorKind::Auth
        {
            self.tokens.cache.forget().await;
        }
        sent
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        once: bool,
    ) -> Result<T, CloudError> {
        let text = self.send(method, path, body, once).await?;
        crate::http::decode(PROVIDER, &text)
    }

    /// Every page of a list, following `nextLink`.
    async fn all_pages<T: DeserializeOwned>(&self, first: String) -> Result<Vec<T>, CloudError> {
        let mut out = vec![];
        let mut path = first;
        for _ in 0..100 {
            let page: Page<T> = self.json(Method::GET, &path, None, false).await?;
            out.extend(page.value);
            match page.next_link.filter(|l| !l.trim().is_empty()) {
                Some(link) => path = next_path(&self.base, &link)?,
                None => return Ok(out),
            }
        }
        Err(self.error(
            ErrorKind::Malformed,
            "nextLink: more than 100 pages, given up",
        ))
    }

    /// The resource group, made in `location` if the subscription lacks it.
    async fn ensure_group(&self, location: &str) -> Result<(), CloudError> {
        self.group
            .get_or_try_init(|| async {
                let path = format!(
                    "{}/resourcegroups/{}?api-version={GROUPS_API}",
                    self.subscription_path(),
                    segment(&self.resource_group)
                );
                match self.send(Method::GET, &path, None, false).await {
                    Ok(_) => return Ok(()),
                    Err(e) if e.kind == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                let body = json!({"location": location, "tags": {"managed-by": "ferry"}});
                self.send(Method::PUT, &path, Some(&body), false)
                    .await
                    .map(|_| ())
            })
            .await
            .copied()
    }

    /// The location's SSH-only security group and virtual network, made once per process.
    async fn ensure_network(&self, location: &str) -> Result<(), CloudError> {
        self.ensure_group(location).await?;
        let cell = self
            .networks
            .lock()
            .await
            .entry(location.to_string())
            .or_default()
            .clone();
        cell.get_or_try_init(|| async {
            let nsg = json!({
                "location": location,
                "tags": {"managed-by": "ferry"},
                "properties": {"securityRules": [{
                    "name": "ssh",
                    "properties": {
                        "protocol": "Tcp",
                        "sourcePortRange": "*",
                        "destinationPortRange": "22",
                        "sourceAddressPrefix": "*",
                        "destinationAddressPrefix": "*",
                        "access": "Allow",
                        "priority": 1000,
                        "direction": "Inbound",
                    },
                }]},
            });
            let path = format!("{}?api-version={NETWORK_API}", self.nsg_id(location));
            self.send(Method::PUT, &path, Some(&nsg), false).await?;
            let vnet = json!({
                "location": location,
                "tags": {"managed-by": "ferry"},
                "properties": {
                    "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                    "subnets": [{"name": "default", "properties": {"addressPrefix": "10.0.0.0/24"}}],
                },
            });
            let path = format!("{}?api-version={NETWORK_API}", self.vnet_id(location));
            self.send(Method::PUT, &path, Some(&vnet), false).await?;
            Ok::<_, CloudError>(())
        })
        .await
        .copied()
    }

    /// The VM's `PUT` body.
    fn vm_body(&self, req: &CreateRequest, location: &str) -> Result<Value, CloudError> {
        let image = if !req.image.trim().is_empty() {
            req.image.trim()
        } else {
            self.image.as_deref().unwrap_or(DEFAULT_IMAGE)
        };
        let image = image_reference(image).map_err(|e| self.error(ErrorKind::Refused, e))?;
        let name = req.name.to_string();
        let mut properties = json!({
            "hardwareProfile": {"vmSize": req.offer.instance_type},
            "storageProfile": {
                "imageReference": image,
                "osDisk": {
                    "createOption": "FromImage",
                    "deleteOption": "Delete",
                    "diskSizeGB": req.disk_gb.max(MIN_OS_DISK_GB),
                    "managedDisk": {"storageAccountType": "Premium_LRS"},
                },
            },
            "osProfile": {
                "computerName": computer_name(&name),
                "adminUsername": SSH_USER,
                "linuxConfiguration": {
                    "disablePasswordAuthentication": true,
                    "ssh": {"publicKeys": [{
                        "path": format!("/home/{SSH_USER}/.ssh/authorized_keys"),
                        "keyData": req.public_key.trim(),
                    }]},
                },
            },
            "networkProfile": {
                "networkApiVersion": "2020-11-01",
                "networkInterfaceConfigurations": [{
                    "name": format!("{name}-nic"),
                    "properties": {
                        "primary": true,
                        "deleteOption": "Delete",
                        "networkSecurityGroup": {"id": self.nsg_id(location)},
                        "ipConfigurations": [{
                            "name": "ipconfig1",
                            "properties": {
                                "subnet": {"id": format!("{}/subnets/default", self.vnet_id(location))},
                                "publicIPAddressConfiguration": {
                                    "name": format!("{name}-ip"),
                                    "sku": {"name": "Standard"},
                                    "properties": {
                                        "deleteOption": "Delete",
                                        "publicIPAllocationMethod": "Static",
                                    },
                                },
                            },
                        }],
                    },
                }],
            },
        });
        if let Some(script) = &req.onstart {
            // cloud-init runs custom data that starts with `#!` as a script at first boot.
            let script = if script.starts_with("#!") {
                script.clone()
            } else {
                format!("#!/bin/sh\n{script}")
            };
            properties["osProfile"]["customData"] =
                json!(base64::engine::general_purpose::STANDARD.encode(script));
        }
        if req.offer.spot {
            properties["priority"] = json!("Spot");
            properties["evictionPolicy"] = json!("Delete");
            properties["billingProfile"] =
                json!({"maxPrice": req.offer.max_price_per_hour.unwrap_or(-1.0)});
        }
        Ok(json!({
            "location": location,
            "tags": {
                OWNER_TAG: req.name.install,
                JOB_TAG: req.name.job.to_string(),
                ATTEMPT_TAG: req.name.attempt.to_string(),
            },
            "properties": properties,
        }))
    }
}

#[async_trait]
impl Provider for Azure {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Azure
    }

    /// Linux VMs: "billed per second", no minimum stated.
    fn billing(&self) -> Billing {
        Billing::PER_SECOND
    }

    fn guard(&self) -> Guard {
        Guard::None(
            "an Azure VM shut down from inside is stopped, not deallocated: it keeps billing compute, and deleting it needs the service principal's secret",
        )
    }

    async fn quote(&self, offer: &OfferRef) -> Result<Quote, CloudError> {
        let location = location_of(&offer.region).ok_or_else(|| {
            self.error(
                ErrorKind::Refused,
                format!(
                    "{:?} is not an Azure location: Azure places a VM in one (eastus, westus2, …)",
                    offer.region
                ),
            )
        })?;
        let size = offer.instance_type.trim();
        let filter = percent(&format!("location eq '{location}'"));
        let skus: Vec<Sku> = self
            .all_pages(format!(
                "{}/providers/Microsoft.Compute/skus?api-version={SKUS_API}&$filter={filter}",
                self.subscription_path()
            ))
            .await?;
        let sku = available_sku(&skus, size, &location)?;
        let vcpus = sku.capability("vCPUs").or(offer.vcpus).unwrap_or(0);
        let gpus = sku.capability("GPUs").unwrap_or(offer.gpu_count);

        let price = offer.expected_price_per_hour;
        if let Some(max) = offer.max_price_per_hour
            && price > max
        {
            return Err(self.error(
                ErrorKind::PriceAbove,
                format!("{size} costs ${price:.2}/h, above max_price ${max:.2}/h"),
            ));
        }

        let usages: Vec<Usage> = self
            .all_pages(format!(
                "{}/providers/Microsoft.Compute/locations/{location}/usages?api-version={COMPUTE_API}",
                self.subscription_path()
            ))
            .await?;
        let checked = check_quota(
            size,
            &location,
            sku.family.as_deref(),
            vcpus,
            offer.spot,
            &usages,
        )?;
        let how = if offer.spot { "Spot" } else { "pay-as-you-go" };
        Ok(Quote {
            price_per_hour: price,
            ask: Some(location.clone()),
            detail: format!(
                "{size} ({vcpus} vCPUs, {gpus} GPU) in {location}, {how}, at ${price:.2}/h; {checked}"
            ),
        })
    }

    /// The resource group and the location's network are made first (idempotent `PUT`s,
    /// retried like any call); the VM's `PUT` is sent once and never retried here: the caller
    /// finds a lost one by name.
    async fn create(&self, req: &CreateRequest) -> Result<InstanceId, CloudError> {
        let location = req
            .quote
            .ask
            .as_deref()
            .and_then(location_of)
            .or_else(|| location_of(&req.offer.region))
            .ok_or_else(|| {
                self.error(
                    ErrorKind::Refused,
                    "no Azure location to create in: the quote chose none",
                )
            })?;
        if req.public_key.trim().is_empty() {
            return Err(self.error(ErrorKind::Refused, "Ferry's public SSH key is empty"));
        }
        let body = self.vm_body(req, &location)?;
        self.ensure_network(&location).await?;
        let name = req.name.to_string();
        let made: CreatedVm = self
            .json(Method::PUT, &self.vm_path(&name), Some(&body), true)
            .await?;
        Ok(InstanceId(made.name))
    }

    async fn list(&self) -> Result<Vec<Instance>, CloudError> {
        let vms: Vec<Vm> = match self
            .all_pages(format!(
                "{}/providers/Microsoft.Compute/virtualMachines?api-version={COMPUTE_API}&statusOnly=true",
                self.group_path()
            ))
            .await
        {
            Ok(vms) => vms,
            // No resource group yet: Ferry has made nothing.
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(e),
        };
        if vms.is_empty() {
            return Ok(vec![]);
        }
        let ips: Vec<PublicIp> = match self
            .all_pages(format!(
                "{}/providers/Microsoft.Network/publicIPAddresses?api-version={NETWORK_API}",
                self.group_path()
            ))
            .await
        {
            Ok(ips) => ips,
            Err(e) if e.kind == ErrorKind::NotFound => vec![],
            Err(e) => return Err(e),
        };
        let addresses: BTreeMap<String, String> = ips
            .into_iter()
            .filter_map(|ip| {
                let address = ip.properties?.ip_address?.trim().to_string();
                (!address.is_empty()).then_some((ip.name, address))
            })
            .collect();
        Ok(vms
            .into_iter()
            .map(|vm| {
                let ip = addresses.get(&format!("{}-ip", vm.name)).cloned();
                vm.into_instance(ip)
            })
            .collect())
    }

    async fn terminate(&self, id: &InstanceId) -> Result<(), CloudError> {
        match self
            .send(Method::DELETE, &self.vm_path(&id.0), None, false)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn storage_per_hour(&self, disk_gb: u32) -> f64 {
        premium_ssd_per_hour(disk_gb)
    }

    fn calls(&self) -> u64 {
        self.api.calls()
    }
}

/// A page of an ARM list.
#[derive(Debug, Deserialize)]
struct Page<T> {
    value: Vec<T>,
    #[serde(rename = "nextLink", default)]
    next_link: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Sku {
    resource_type: String,
    name: String,
    #[serde(default)]
    family: Option<String>,
    #[serde(default)]
    locations: Vec<String>,
    #[serde(default)]
    capabilities: Vec<Capability>,
    #[serde(default)]
    restrictions: Vec<Restriction>,
}

impl Sku {
    /// A numeric capability (`vCPUs`, `GPUs`).
    fn capability(&self, name: &str) -> Option<u32> {
        self.capabilities
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
            .and_then(|c| c.value.trim().parse::<f64>().ok())
            .map(|v| v as u32)
    }
}

#[derive(Debug, Deserialize)]
struct Capability {
    name: String,
    value: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Restriction {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    values: Vec<String>,
    #[serde(default)]
    reason_code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Usage {
    current_value: i64,
    limit: i64,
    name: UsageName,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageName {
    value: String,
    #[serde(default)]
    localized_value: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CreatedVm {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Vm {
    name: String,
    #[serde(default)]
    properties: Option<VmProperties>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VmProperties {
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    provisioning_state: Option<String>,
    #[serde(default)]
    instance_view: Option<InstanceView>,
}

#[derive(Debug, Deserialize)]
struct InstanceView {
    #[serde(default)]
    statuses: Vec<Status>,
}

#[derive(Debug, Deserialize)]
struct Status {
    code: String,
}

#[derive(Debug, Deserialize)]
struct PublicIp {
    name: String,
    #[serde(default)]
    properties: Option<PublicIpProperties>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublicIpProperties {
    #[serde(default)]
    ip_address: Option<String>,
}

impl Vm {
    fn into_instance(self, ip: Option<String>) -> Instance {
        let props = self.properties.unwrap_or(VmProperties {
            priority: None,
            provisioning_state: None,
            instance_view: None,
        });
        let codes: Vec<String> = props
            .instance_view
            .map(|v| v.statuses.into_iter().map(|s| s.code).collect())
            .unwrap_or_default();
        let state = state_of(&codes, props.provisioning_state.as_deref());
        let status_text = if codes.is_empty() {
            props
                .provisioning_state
                .clone()
                .map(|p| format!("ProvisioningState/{}", p.to_ascii_lowercase()))
                .unwrap_or_default()
        } else {
            codes.join(", ")
        };
        let endpoint = match (state, ip) {
            (InstanceState::Running, Some(host)) => Some(Endpoint {
                host,
                port: SSH_PORT,
                user: SSH_USER.to_string(),
            }),
            _ => None,
        };
        let interruptible = props
            .priority
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case("Spot") || p.eq_ignore_ascii_case("Low"));
        Instance {
            id: InstanceId(self.name.clone()),
            name: self.name,
            state,
            endpoint,
            status_text,
            // ARM reports no price.
            price_per_hour: None,
            interruptible,
        }
    }
}

/// A VM's instance-view status codes (`ProvisioningState/…`, `PowerState/…`), as Ferry acts
/// on them; the model's `provisioningState` when there is no instance view.
fn state_of(codes: &[String], provisioning: Option<&str>) -> InstanceState {
    let find = |prefix: &str| {
        codes.iter().find_map(|c| {
            let (p, v) = c.split_once('/')?;
            p.eq_ignore_ascii_case(prefix)
                .then(|| v.to_ascii_lowercase())
        })
    };
    let prov = find("ProvisioningState").or_else(|| provisioning.map(|p| p.to_ascii_lowercase()));
    let power = find("PowerState");
    if prov.as_deref() == Some("deleting") {
        return InstanceState::Terminating;
    }
    // A failed VM may still hold (and bill) its resources: Ferry terminates it.
    if prov.as_deref().is_some_and(|p| p.starts_with("failed")) {
        return InstanceState::Stopped;
    }
    match power.as_deref() {
        Some("running") => InstanceState::Running,
        // Stopped from inside still bills compute until deallocated: Ferry terminates it.
        Some("stopped" | "stopping" | "deallocated" | "deallocating") => InstanceState::Stopped,
        _ => InstanceState::Provisioning,
    }
}

/// The size's SKU in `location`, or why it cannot be had there.
fn available_sku<'a>(skus: &'a [Sku], size: &str, location: &str) -> Result<&'a Sku, CloudError> {
    let Some(sku) = skus.iter().find(|s| {
        s.resource_type.eq_ignore_ascii_case("virtualMachines")
            && s.name.eq_ignore_ascii_case(size)
            && (s.locations.is_empty()
                || s.locations.iter().any(|l| l.eq_ignore_ascii_case(location)))
    }) else {
        return Err(CloudError::new(
            PROVIDER,
            ErrorKind::NoCapacity,
            format!(
                "{size} is not offered in {location} (Microsoft.Compute/skus lists no such size there)"
            ),
        ));
    };
    if let Some(r) = sku.restrictions.iter().find(|r| {
        r.kind.eq_ignore_ascii_case("Location")
            && (r.values.is_empty() || r.values.iter().any(|v| v.eq_ignore_ascii_case(location)))
    }) {
        let why = r.reason_code.as_deref().unwrap_or("restricted");
        return Err(CloudError::new(
            PROVIDER,
            ErrorKind::NoCapacity,
            format!(
                "{size} is restricted in {location} for this subscription ({why}): ask Azure support to enable it, or place it elsewhere"
            ),
        ));
    }
    Ok(sku)
}

/// Refuses a size whose vCPUs would pass a quota of the location: the family's and the
/// regional total for pay-as-you-go, `lowPriorityCores` for Spot. The words of what was
/// checked, when nothing refuses.
fn check_quota(
    size: &str,
    location: &str,
    family: Option<&str>,
    vcpus: u32,
    spot: bool,
    usages: &[Usage],
) -> Result<String, CloudError> {
    let wanted: Vec<&str> = if spot {
        vec![SPOT_CORES]
    } else {
        family.into_iter().chain([TOTAL_CORES]).collect()
    };
    let mut checked = vec![];
    for name in wanted {
        let Some(u) = usages
            .iter()
            .find(|u| u.name.value.eq_ignore_ascii_case(name))
        else {
            continue;
        };
        let label = u.name.localized_value.as_deref().unwrap_or(name);
        if u.current_value + i64::from(vcpus) > u.limit {
            return Err(CloudError::new(
                PROVIDER,
                ErrorKind::Quota,
                format!(
                    "{size} needs {vcpus} vCPUs, but the quota \"{label}\" ({}) in {location} is {} vCPUs with {} in use: ask for more under Subscriptions > Usage + quotas",
                    u.name.value, u.limit, u.current_value
                ),
            ));
        }
        checked.push(format!("{label} {} of {} in use", u.current_value, u.limit));
    }
    Ok(if checked.is_empty() {
        "no vCPU quota listed for it: not checked".to_string()
    } else {
        format!("quota: {}", checked.join(", "))
    })
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    code: String,
    #[serde(default)]
    message: String,
}

/// Reads a refusal by ARM's `error.code`.
fn classify(r: &Refusal) -> Option<ErrorKind> {
    let Ok(body) = serde_json::from_str::<ErrorBody>(&r.body) else {
        // A 404 without ARM's error body is a wrong URL, not a gone VM.
        return (r.status == 404).then_some(ErrorKind::Refused);
    };
    let e = body.error;
    Some(match e.code.as_str() {
        "SkuNotAvailable"
        | "AllocationFailed"
        | "ZonalAllocationFailed"
        | "OverconstrainedAllocationRequest"
        | "OverconstrainedZonalAllocationRequest" => ErrorKind::NoCapacity,
        "QuotaExceeded" => ErrorKind::Quota,
        "OperationNotAllowed" if e.message.to_ascii_lowercase().contains("quota") => {
            ErrorKind::Quota
        }
        "ResourceNotFound" | "NotFound" | "ResourceGroupNotFound" => ErrorKind::NotFound,
        "InvalidAuthenticationToken"
        | "InvalidAuthenticationTokenTenant"
        | "ExpiredAuthenticationToken"
        | "AuthenticationFailed"
        | "AuthorizationFailed" => ErrorKind::Auth,
        _ => ErrorKind::Refused,
    })
}

/// The catalog's region as an Azure location (`eastus`), or `None` where it names none.
fn location_of(region: &str) -> Option<String> {
    let r = region.trim().to_ascii_lowercase();
    (!r.is_empty()
        && r != "global"
        && r != "any"
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
    .then_some(r)
}

/// An image as ARM's `imageReference`: a URN `publisher:offer:sku:version`, or an image
/// resource id.
fn image_reference(image: &str) -> Result<Value, String> {
    let image = image.trim();
    if image.starts_with("/subscriptions/") {
        return Ok(json!({ "id": image }));
    }
    match image.split(':').collect::<Vec<_>>().as_slice() {
        [publisher, offer, sku, version]
            if [publisher, offer, sku, version]
                .iter()
                .all(|p| !p.trim().is_empty()) =>
        {
            Ok(json!({
                "publisher": publisher.trim(),
                "offer": offer.trim(),
                "sku": sku.trim(),
                "version": version.trim(),
            }))
        }
        _ => Err(format!(
            "image {image:?} is neither a URN publisher:offer:sku:version nor an image id /subscriptions/…"
        )),
    }
}

/// A Linux computer name: at most 64 characters.
fn computer_name(name: &str) -> String {
    name.chars().take(64).collect()
}

/// The path and query of a `nextLink`, which ARM gives as an absolute URL of the API.
fn next_path(base: &str, link: &str) -> Result<String, CloudError> {
    let link = link.trim();
    let normalized = match link.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => {
            let (host, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = host.strip_suffix(":443").unwrap_or(host);
            format!("{scheme}://{host}{tail}")
        }
        _ => link.to_string(),
    };
    normalized
        .strip_prefix(base)
        .filter(|p| p.starts_with('/'))
        .map(str::to_string)
        .ok_or_else(|| {
            CloudError::malformed(
                PROVIDER,
                "nextLink",
                format!("{link:?} is not under the API's base URL {base}"),
            )
        })
}

/// A path segment or query value, percent-encoded.
fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A name as one path segment (resource group names may hold parentheses).
fn segment(s: &str) -> String {
    percent(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::decode;

    fn refusal(status: u16, body: &str) -> Refusal {
        Refusal {
            status,
            body: body.to_string(),
        }
    }

    fn skus() -> Vec<Sku> {
        decode::<Page<Sku>>(PROVIDER, include_str!("../../fixtures/azure/skus.json"))
            .unwrap()
            .value
    }

    fn usages() -> Vec<Usage> {
        decode::<Page<Usage>>(PROVIDER, include_str!("../../fixtures/azure/usages.json"))
            .unwrap()
            .value
    }

    #[test]
    fn skus_parse_and_restrictions_refuse() {
        let skus = skus();
        let a100 = available_sku(&skus, "Standard_NC24ads_A100_v4", "eastus").unwrap();
        assert_eq!(a100.family.as_deref(), Some("StandardNCADSA100v4Family"));
        assert_eq!(a100.capability("vCPUs"), Some(24));
        assert_eq!(a100.capability("GPUs"), Some(1));
        // Case does not matter to ARM.
        available_sku(&skus, "standard_nc24ads_a100_v4", "EastUS").unwrap();

        let e = available_sku(&skus, "Standard_ND96isr_H100_v5", "eastus").unwrap_err();
        assert_eq!(e.kind, ErrorKind::NoCapacity);
        assert!(e.to_string().contains("NotAvailableForSubscription"), "{e}");
        let e = available_sku(&skus, "Standard_NC80adis_H100_v5", "eastus").unwrap_err();
        assert_eq!(e.kind, ErrorKind::NoCapacity);
        assert!(e.to_string().contains("not offered in eastus"), "{e}");
        // A disk SKU of the same name is not a VM size.
        assert!(available_sku(&skus, "Premium_LRS", "eastus").is_err());
        // A zone restriction leaves the other zones: still available.
        available_sku(&skus, "Standard_NC4as_T4_v3", "eastus").unwrap();
    }

    #[test]
    fn quotas_refuse_with_their_names_and_numbers() {
        let usages = usages();
        let ok = check_quota(
            "Standard_NC24ads_A100_v4",
            "eastus",
            Some("StandardNCADSA100v4Family"),
            24,
            false,
            &usages,
        )
        .unwrap();
        assert!(
            ok.contains("Standard NCADS_A100_v4 Family vCPUs 24 of 96"),
            "{ok}"
        );
        assert!(ok.contains("Total Regional vCPUs"), "{ok}");

        let e = check_quota(
            "Standard_NC96ads_A100_v4",
            "eastus",
            Some("StandardNCADSA100v4Family"),
            96,
            false,
            &usages,
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Quota);
        let text = e.to_string();
        assert!(
            text.contains("\"Standard NCADS_A100_v4 Family vCPUs\""),
            "{text}"
        );
        assert!(text.contains("is 96 vCPUs with 24 in use"), "{text}");
        assert!(text.contains("needs 96 vCPUs"), "{text}");

        // Spot counts against the regional low-priority quota only.
        let e = check_quota(
            "Standard_NC24ads_A100_v4",
            "eastus",
            Some("StandardNCADSA100v4Family"),
            24,
            true,
            &usages,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("Total Regional Low-priority vCPUs"),
            "{e}"
        );
        let none =
            check_quota("Standard_X", "eastus", Some("unknownFamily"), 4, false, &[]).unwrap();
        assert!(none.contains("not checked"), "{none}");
    }

    #[test]
    fn vms_parse_and_map() {
        let vms: Page<Vm> =
            decode(PROVIDER, include_str!("../../fixtures/azure/vms.json")).unwrap();
        let ips: Page<PublicIp> = decode(
            PROVIDER,
            include_str!("../../fixtures/azure/public-ips.json"),
        )
        .unwrap();
        let addresses: BTreeMap<String, String> = ips
            .value
            .into_iter()
            .filter_map(|ip| Some((ip.name, ip.properties?.ip_address?)))
            .collect();
        assert_eq!(vms.next_link, None);
        let got: Vec<Instance> = vms
            .value
            .into_iter()
            .map(|vm| {
                let ip = addresses.get(&format!("{}-ip", vm.name)).cloned();
                vm.into_instance(ip)
            })
            .collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].state, InstanceState::Running);
        assert_eq!(
            got[0].endpoint,
            Some(Endpoint {
                host: "203.0.113.7".into(),
                port: 22,
                user: "ferry".into()
            })
        );
        assert!(got[0].interruptible);
        assert!(got[0].lease().is_some());
        assert_eq!(
            got[0].status_text,
            "ProvisioningState/succeeded, PowerState/running"
        );
        assert_eq!(got[1].state, InstanceState::Provisioning);
        assert_eq!(got[1].endpoint, None, "no endpoint while creating");
        assert!(!got[1].interruptible);
        assert_eq!(got[2].state, InstanceState::Stopped);
        assert_eq!(got[2].lease(), None, "a user's own VM is not Ferry's");
    }

    #[test]
    fn a_listing_without_a_name_names_the_field() {
        let text = include_str!("../../fixtures/azure/vms.json").replacen(
            "\"name\": \"ferry-0a1b2c3d-j-00000000000000a1-a1\",",
            "",
            1,
        );
        let e = decode::<Page<Vm>>(PROVIDER, &text).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Malformed);
        assert!(e.to_string().starts_with("azure: value[0]"), "{e}");
        assert!(e.to_string().contains("name"), "{e}");
    }

    #[test]
    fn statuses_map() {
        let s = |codes: &[&str]| {
            state_of(
                &codes.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                None,
            )
        };
        assert_eq!(
            s(&["ProvisioningState/creating"]),
            InstanceState::Provisioning
        );
        assert_eq!(
            s(&["ProvisioningState/creating", "PowerState/starting"]),
            InstanceState::Provisioning
        );
        assert_eq!(
            s(&["ProvisioningState/succeeded", "PowerState/running"]),
            InstanceState::Running
        );
        for stopped in ["stopped", "stopping", "deallocated", "deallocating"] {
            assert_eq!(
                s(&[
                    "ProvisioningState/succeeded",
                    &format!("PowerState/{stopped}")
                ]),
                InstanceState::Stopped,
                "{stopped}"
            );
        }
        assert_eq!(
            s(&["ProvisioningState/deleting", "PowerState/running"]),
            InstanceState::Terminating
        );
        assert_eq!(
            s(&["ProvisioningState/failed/AllocationFailed"]),
            InstanceState::Stopped
        );
        assert_eq!(s(&[]), InstanceState::Provisioning);
        assert_eq!(state_of(&[], Some("Deleting")), InstanceState::Terminating);
        assert_eq!(state_of(&[], Some("Failed")), InstanceState::Stopped);
    }

    #[test]
    fn other_answers_parse() {
        let made: CreatedVm = decode(
            PROVIDER,
            include_str!("../../fixtures/azure/vm-create.json"),
        )
        .unwrap();
        assert_eq!(made.name, "ferry-0a1b2c3d-j-00000000000000a1-a1");
        let token: oauth::TokenAnswer =
            decode(PROVIDER, include_str!("../../fixtures/azure/token.json")).unwrap();
        assert_eq!(token.expires_in, 3599);
    }

    #[test]
    fn errors_classify_by_code() {
        let cases = [
            (
                409,
                include_str!("../../fixtures/azure/error-sku-not-available.json"),
                Some(ErrorKind::NoCapacity),
            ),
            (
                409,
                include_str!("../../fixtures/azure/error-allocation-failed.json"),
                Some(ErrorKind::NoCapacity),
            ),
            (
                409,
                include_str!("../../fixtures/azure/error-quota.json"),
                Some(ErrorKind::Quota),
            ),
            (
                404,
                include_str!("../../fixtures/azure/error-resource-group-not-found.json"),
                Some(ErrorKind::NotFound),
            ),
            (
                404,
                include_str!("../../fixtures/azure/error-resource-not-found.json"),
                Some(ErrorKind::NotFound),
            ),
            (
                400,
                include_str!("../../fixtures/azure/error-invalid-parameter.json"),
                Some(ErrorKind::Refused),
            ),
            (
                409,
                r#"{"error":{"code":"OperationNotAllowed","message":"The VM is being deleted."}}"#,
                Some(ErrorKind::Refused),
            ),
            (
                400,
                r#"{"error":{"code":"InvalidAuthenticationToken","message":"x"}}"#,
                Some(ErrorKind::Auth),
            ),
            (404, "", Some(ErrorKind::Refused)),
            (409, "<html>", None),
        ];
        for (status, body, kind) in cases {
            assert_eq!(classify(&refusal(status, body)), kind, "{status} {body}");
        }
    }

    #[test]
    fn images_are_urns_or_ids() {
        assert_eq!(
            image_reference(DEFAULT_IMAGE).unwrap(),
            json!({"publisher": "microsoft-dsvm", "offer": "ubuntu-hpc", "sku": "2204", "version": "latest"})
        );
        let id = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/images/mine";
        assert_eq!(image_reference(id).unwrap(), json!({ "id": id }));
        assert!(image_reference("ubuntu").is_err());
        assert!(image_reference("a::c:d").is_err());
    }

    #[test]
    fn next_links_stay_under_the_api() {
        let base = "https://management.azure.com";
        assert_eq!(
            next_path(
                base,
                "https://management.azure.com:443/subscriptions/s/providers/Microsoft.Compute/skus?api-version=2021-07-01&$skiptoken=abc"
            )
            .unwrap(),
            "/subscriptions/s/providers/Microsoft.Compute/skus?api-version=2021-07-01&$skiptoken=abc"
        );
        assert!(next_path(base, "https://evil.example/subscriptions/s").is_err());
        assert_eq!(
            next_path("http://127.0.0.1:9/azure", "http://127.0.0.1:9/azure/x?y=1").unwrap(),
            "/x?y=1"
        );
    }

    #[test]
    fn disks_are_priced_by_tier() {
        assert_eq!(premium_ssd_per_month(50), 10.21, "P6");
        assert_eq!(premium_ssd_per_month(10), 10.21, "at least 64 GiB");
        assert_eq!(premium_ssd_per_month(100), 19.71, "P10");
        assert_eq!(premium_ssd_per_month(1024), 135.17, "P30");
        assert!((premium_ssd_per_hour(64) - 10.21 / 730.0).abs() < 1e-12);
        assert!(premium_ssd_per_month(32_767) > premium_ssd_per_month(16_384));
    }

    #[test]
    fn locations_and_encoding() {
        assert_eq!(location_of(" EastUS ").as_deref(), Some("eastus"));
        assert_eq!(location_of("global"), None);
        assert_eq!(location_of("east us"), None);
        assert_eq!(
            percent("location eq 'eastus'"),
            "location%20eq%20%27eastus%27"
        );
        assert_eq!(computer_name(&"x".repeat(80)).len(), 64);
    }

    #[tokio::test]
    async fn an_account_that_is_not_azure_is_auth_without_a_request() {
        let p = Azure::new(ProviderConfig::new(ProviderKind::Azure, ApiKey::new("s")));
        let e = p.list().await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Auth);
        assert!(e.to_string().contains("tenant_id"), "{e}");
        assert_eq!(p.calls(), 0);
    }
}
