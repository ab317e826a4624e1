//! The providers the config rents machines from (`[providers.X] launch = true`): their
//! credentials resolved from the config and the environment in one place, and their
//! clients built. The server, `ferry backends` and placement all ask here, so they agree
//! on which providers are usable and on what is missing from the others.

use crate::context::Context;
use crate::error::Result;
use ferry_catalog::Catalog;
use ferry_cloud::providers::ProviderConfig;
use ferry_cloud::{Account, ApiKey, Provider, ProviderKind};
use ferry_config::ProviderSettings;
use std::sync::Arc;

/// A provider whose credentials are all there.
#[derive(Debug, Clone)]
pub struct ReadyProvider {
    pub kind: ProviderKind,
    pub settings: ProviderSettings,
    pub config: ProviderConfig,
}

/// A provider with `launch = true` that cannot be used yet, and why in words (what to set).
#[derive(Debug, Clone)]
pub struct MissingCredentials {
    pub kind: ProviderKind,
    pub why: String,
}

/// The rented providers of the config, usable or not.
pub struct RentedProviders {
    pub ready: Vec<ReadyProvider>,
    pub missing: Vec<MissingCredentials>,
}

/// Every provider with `launch = true`, its credentials resolved. `catalog` gives the
/// regions to list where the config names none.
pub fn rented_providers(ctx: &Context, catalog: Option<&Catalog>) -> RentedProviders {
    let env = |v: &str| std::env::var(v).ok().filter(|s| !s.trim().is_empty());
    let read = |p: &std::path::Path| std::fs::read_to_string(p).map_err(|e| e.to_string());
    let mut out = RentedProviders {
        ready: vec![],
        missing: vec![],
    };
    for (name, settings) in &ctx.config.providers {
        let Some(kind) = ProviderKind::from_id(name) else {
            continue;
        };
        if !settings.launch {
            continue;
        }
        match resolve(kind, settings, ctx, &env, &read) {
            Ok(mut config) => {
                if config.regions.is_empty()
                    && let Some(c) = catalog
                {
                    config.regions = catalog_regions(c, kind);
                }
                out.ready.push(ReadyProvider {
                    kind,
                    settings: settings.clone(),
                    config,
                });
            }
            Err(why) => out.missing.push(MissingCredentials { kind, why }),
        }
    }
    out
}

/// The regions the catalog lists offers of `kind` in, sorted, each once.
fn catalog_regions(catalog: &Catalog, kind: ProviderKind) -> Vec<String> {
    let mut regions: Vec<String> = catalog
        .offers
        .iter()
        .filter(|o| o.provider == kind.id())
        .map(|o| o.region.clone())
        .collect();
    regions.sort();
    regions.dedup();
    regions
}

/// The client `ferry catalog refresh` asks for live spot prices, for providers that publish
/// them (AWS): built from `[providers.X]` whether or not `launch` is set, and `Err` with
/// what is missing otherwise.
pub fn spot_price_client(
    ctx: &Context,
    kind: ProviderKind,
) -> std::result::Result<Arc<dyn Provider>, String> {
    if kind != ProviderKind::Aws {
        return Err(format!("{kind} publishes no live spot prices"));
    }
    let env = |v: &str| std::env::var(v).ok().filter(|s| !s.trim().is_empty());
    // Without any credential in sight the SDK's chain would end at the instance metadata
    // service, seconds of timeouts per region for nothing.
    let file = |var: &str, default: &str| {
        env(var)
            .map(std::path::PathBuf::from)
            .or_else(|| env("HOME").map(|h| std::path::Path::new(&h).join(default)))
            .is_some_and(|p| p.exists())
    };
    let visible = env("AWS_ACCESS_KEY_ID").is_some()
        || env("AWS_PROFILE").is_some()
        || ctx
            .config
            .providers
            .get("aws")
            .is_some_and(|s| s.profile.is_some())
        || file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials")
        || file("AWS_CONFIG_FILE", ".aws/config");
    if !visible {
        return Err("no AWS credentials (environment, profile or ~/.aws)".into());
    }
    let read = |p: &std::path::Path| std::fs::read_to_string(p).map_err(|e| e.to_string());
    let settings = ctx
        .config
        .providers
        .get(kind.id())
        .cloned()
        .unwrap_or_default();
    let config = resolve(kind, &settings, ctx, &env, &read)?;
    build(kind, config).map_err(|e| e.to_string())
}

/// The client configuration of one provider, or what is missing, in words.
pub fn resolve(
    kind: ProviderKind,
    settings: &ProviderSettings,
    ctx: &Context,
    env: &dyn Fn(&str) -> Option<String>,
    read: &dyn Fn(&std::path::Path) -> std::result::Result<String, String>,
) -> std::result::Result<ProviderConfig, String> {
    let key = |k: String| ApiKey::new(k);
    let mut config = match kind {
        ProviderKind::Runpod
        | ProviderKind::Lambda
        | ProviderKind::Vastai
        | ProviderKind::Paperspace => {
            let k = ctx.config.api_key(kind.id(), env).ok_or_else(|| {
                format!(
                    "no API key: set {} (or api_key under [providers.{kind}])",
                    kind.env_var()
                )
            })?;
            ProviderConfig::new(kind, key(k))
        }
        ProviderKind::Aws => {
            // The SDK's chain is read when the first call is made; a missing credential
            // then comes back as an authentication error naming AWS.
            let mut c = ProviderConfig::new(kind, key(String::new()));
            c.account = Account::Aws {
                profile: settings.profile.clone(),
                quotas_url: settings.quotas_endpoint.clone(),
            };
            c
        }
        ProviderKind::Gcp => {
            let file = settings
                .credentials_file
                .clone()
                .or_else(|| env("GOOGLE_APPLICATION_CREDENTIALS").map(Into::into))
                .ok_or_else(|| format!("no service-account key: set {}", kind.env_var()))?;
            let file = expand_home(&file);
            let text = read(&file)
                .map_err(|e| format!("cannot read the key file {}: {e}", file.display()))?;
            let sa = ferry_cloud::providers::gcp::ServiceAccount::parse(&text)
                .map_err(|e| format!("the key file {}: {e}", file.display()))?;
            let project = settings
                .project
                .clone()
                .or(sa.project_id.clone())
                .ok_or_else(|| {
                    format!(
                        "no project: set project under [providers.gcp] (the key file {} names none)",
                        file.display()
                    )
                })?;
            let mut c = ProviderConfig::new(kind, key(text));
            c.account = Account::Gcp {
                project,
                token_url: settings.token_endpoint.clone(),
            };
            c
        }
        ProviderKind::Azure => {
            let pick = |v: &Option<String>, var: &str| v.clone().or_else(|| env(var));
            let fields = [
                ("tenant_id", pick(&settings.tenant_id, "AZURE_TENANT_ID")),
                ("client_id", pick(&settings.client_id, "AZURE_CLIENT_ID")),
                (
                    "client_secret",
                    pick(&settings.client_secret, "AZURE_CLIENT_SECRET"),
                ),
                (
                    "subscription_id",
                    pick(&settings.subscription_id, "AZURE_SUBSCRIPTION_ID"),
                ),
            ];
            let missing: Vec<String> = fields
                .iter()
                .filter(|(_, v)| v.as_deref().is_none_or(|s| s.trim().is_empty()))
                .map(|(name, _)| format!("{name} (or AZURE_{})", name.to_ascii_uppercase()))
                .collect();
            if !missing.is_empty() {
                return Err(format!(
                    "no service principal: set {} under [providers.azure]",
                    missing.join(", ")
                ));
            }
            let [tenant, client, secret, subscription] = fields.map(|(_, v)| v.unwrap_or_default());
            let mut c = ProviderConfig::new(kind, key(secret));
            c.account = Account::Azure {
                tenant_id: tenant,
                client_id: client,
                subscription_id: subscription,
                resource_group: settings
                    .resource_group
                    .clone()
                    .unwrap_or_else(|| "ferry".into()),
                token_url: settings.token_endpoint.clone(),
            };
            c
        }
    };
    if let Some(url) = &settings.api_endpoint {
        config.base_url = url.clone();
    }
    config.image = settings.image.clone();
    if let Some(d) = settings.disk_gb {
        config.disk_gb = d;
    }
    config.regions = settings.regions.clone();
    Ok(config)
}

/// The provider's client. AWS's comes from `ferry-cloud-aws`, when Ferry was built with
/// the `aws` feature (the default).
pub fn build(kind: ProviderKind, config: ProviderConfig) -> Result<Arc<dyn Provider>> {
    match kind.build(config.clone()) {
        Some(p) => Ok(p),
        None => build_aws(config),
    }
}

#[cfg(feature = "aws")]
fn build_aws(config: ProviderConfig) -> Result<Arc<dyn Provider>> {
    Ok(Arc::new(ferry_cloud_aws::Ec2::new(config)))
}

#[cfg(not(feature = "aws"))]
fn build_aws(_config: ProviderConfig) -> Result<Arc<dyn Provider>> {
    Err(crate::error::RegistryError::invalid(
        "[providers.aws] launch = true, but this ferry was built without AWS support: build it with `cargo build --release -p ferry-cli` (the `aws` feature is on by default)",
    ))
}

fn expand_home(p: &std::path::Path) -> std::path::PathBuf {
    match (p.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => std::path::PathBuf::from(home).join(rest),
        _ => p.to_path_buf(),
    }
}
