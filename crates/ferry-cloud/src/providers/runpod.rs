//! RunPod, through its GraphQL API.
//!
//! RunPod's REST v1 is to be retired on November 15, 2026 (docs.runpod.io/api/errors) and
//! REST v2 is in beta (docs.runpod.io/api-reference-v2/overview); GraphQL is the stable API
//! with both on-demand pods and interruptible (spot) pods with a bid.
//!
//! Every call is `POST https://api.runpod.io/graphql?api_key=KEY` with the JSON body
//! `{"query": "...", "variables": {...}}` (docs.runpod.io/sdks/graphql/configurations; the
//! schema is at graphql-spec.runpod.io):
//!
//! | call | operation |
//! |---|---|
//! | quote | `gpuTypes(input: {id})` with `lowestPrice(input: {gpuCount, secureCloud})` |
//! | create on-demand | `podFindAndDeployOnDemand(input: {...})` (docs.runpod.io/sdks/graphql/manage-pods) |
//! | create spot | `podRentInterruptable(input: {bidPerGpu, ...})` (same page) |
//! | list | `myself { pods { ... runtime { ports { ... } } } }` (same page) |
//! | terminate | `podTerminate(input: {podId})` (same page) |
//!
//! GraphQL refusals come back as HTTP 200 with `{"errors": [{"message": ...}], "data": null}`,
//! so they are classified here by their words: "There are no longer any instances available
//! with the requested specifications" is no capacity (the text dstack and SkyPilot users
//! report); "pod not found to terminate" is an instance already gone (dstack's
//! `dstackai/dstack:src/dstack/_internal/core/backends/runpod/api_client.py` treats it as
//! done); a message about quota or balance is a quota; anything else is a refusal.
//!
//! Ferry's key reaches the pod as the `PUBLIC_KEY` environment variable, which RunPod's
//! images install into `authorized_keys` at start (docs.runpod.io "Connect to a Pod with
//! SSH"). The SSH endpoint is the `runtime.ports` entry with `privatePort` 22 and a public IP;
//! `runtime` is null until the container runs (dstack's `update_provisioning_data`).
//!
//! UNCONFIRMED:
//! - a `lowestPrice` input without `secureCloud` prices both clouds together (the cheaper),
//!   which is how Ferry quotes an offer with no tier;
//! - whether `lowestPrice` can answer 0 rather than null when nothing is left (both are read
//!   as no capacity);
//! - the exact words of quota and low-balance refusals;
//! - the pod-scoped `RUNPOD_API_KEY` a pod carries being allowed to remove its own pod (the
//!   guard's `runpodctl remove pod`; newer runpodctl releases also name it `pod delete`);
//! - a dead or paused pod's `desiredStatus` values beyond RUNNING, EXITED and TERMINATED
//!   (kept as provisioning, with the status shown as RunPod gives it).

use crate::billing::Billing;
use crate::error::{CloudError, ErrorKind};
use crate::http::{Api, Refusal, decode};
use crate::provider::{
    CreateRequest, Endpoint, Guard, Instance, InstanceId, InstanceState, OfferRef, Provider, Quote,
};
use crate::providers::{ProviderConfig, ProviderKind};
use async_trait::async_trait;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

pub const BASE_URL: &str = "https://api.runpod.io/graphql";
/// RunPod's container disk price, USD per GB-month (https://www.runpod.io/pricing).
pub const CONTAINER_DISK_USD_PER_GB_MONTH: f64 = 0.10;

/// Hours in the month storage prices are quoted for (730 = 8,760 / 12, the providers' own).
pub const HOURS_PER_MONTH: f64 = 730.0;

pub const DEFAULT_IMAGE: &str = "runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04";

const PROVIDER: &str = "runpod";

const GPU_TYPES: &str = "query GpuTypes($gpuTypesInput: GpuTypeFilter, $lowestPriceInput: GpuLowestPriceInput) { gpuTypes(input: $gpuTypesInput) { id displayName memoryInGb securePrice communityPrice secureSpotPrice communitySpotPrice lowestPrice(input: $lowestPriceInput) { minimumBidPrice uninterruptablePrice stockStatus } } }";
const DEPLOY_ON_DEMAND: &str = "mutation Deploy($input: PodFindAndDeployOnDemandInput!) { podFindAndDeployOnDemand(input: $input) { id imageName machine { podHostId } } }";
const RENT_INTERRUPTABLE: &str = "mutation Rent($input: PodRentInterruptableInput!) { podRentInterruptable(input: $input) { id imageName machine { podHostId } } }";
const LIST_PODS: &str = "query Pods { myself { pods { id name desiredStatus lastStatusChange costPerHr imageName podType runtime { uptimeInSeconds ports { ip isIpPublic privatePort publicPort type } } machine { gpuDisplayName } } } }";
const TERMINATE: &str =
    "mutation Terminate($input: PodTerminateInput!) { podTerminate(input: $input) }";

/// RunPod's words for "nothing left of that GPU type" (matched lowercased).
const NO_CAPACITY_WORDS: &str = "no longer any instances available";
/// RunPod's words for terminating a pod it does not know (matched lowercased).
const UNKNOWN_POD_WORDS: &str = "pod not found to terminate";

pub struct RunPod {
    api: Api,
    config: ProviderConfig,
}

/// How a GraphQL call is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tries {
    /// Retried on 5xx, 429 and dropped connections, as the retry policy says.
    Policy,
    /// Sent once ([`Api::send_once`]): creates go this way, since a create whose answer was
    /// lost (a 502 from a proxy) may have made the pod, and a retry would make a second one.
    /// The caller finds a lost create again by listing, by name.
    Once,
}

impl RunPod {
    pub fn new(config: ProviderConfig) -> RunPod {
        RunPod {
            api: Api::new(
                ProviderKind::Runpod.id(),
                &config.base_url,
                config.key.clone(),
            )
            .key_in_query()
            .with_retry(config.retry),
            config,
        }
    }

    /// One GraphQL call: the body after any `errors` were turned into a typed error.
    async fn call(
        &self,
        tries: Tries,
        query: &str,
        variables: Value,
    ) -> Result<String, CloudError> {
        let body = json!({ "query": query, "variables": variables });
        let text = match tries {
            Tries::Policy => {
                self.api
                    .send(Method::POST, "", Some(&body), &classify)
                    .await?
            }
            Tries::Once => {
                self.api
                    .send_once(Method::POST, "", Some(&body), &classify)
                    .await?
            }
        };
        if let Some(messages) = graphql_errors(&text) {
            return Err(CloudError::new(
                PROVIDER,
                classify_messages(&messages),
                format!("GraphQL error: {messages}"),
            ));
        }
        Ok(text)
    }

    /// A GraphQL call whose `data` is decoded as `T`, naming the field that did not fit.
    async fn query<T: DeserializeOwned>(
        &self,
        tries: Tries,
        query: &str,
        variables: Value,
    ) -> Result<T, CloudError> {
        let text = self.call(tries, query, variables).await?;
        Ok(decode::<Data<T>>(PROVIDER, &text)?.data)
    }
}

#[derive(Deserialize)]
struct Data<T> {
    data: T,
}

#[derive(Deserialize)]
struct GpuTypes {
    #[serde(rename = "gpuTypes")]
    gpu_types: Vec<GpuType>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GpuType {
    id: String,
    display_name: Option<String>,
    /// Null when RunPod has no price for the count asked (none left).
    lowest_price: Option<LowestPrice>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LowestPrice {
    minimum_bid_price: Option<f64>,
    uninterruptable_price: Option<f64>,
    stock_status: Option<String>,
}

#[derive(Deserialize)]
struct Deployed {
    #[serde(rename = "podFindAndDeployOnDemand", alias = "podRentInterruptable")]
    pod: Option<DeployedPod>,
}

#[derive(Deserialize)]
struct DeployedPod {
    id: String,
}

#[derive(Deserialize)]
struct Myself {
    myself: Pods,
}

#[derive(Deserialize)]
struct Pods {
    pods: Vec<Pod>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Pod {
    id: String,
    name: Option<String>,
    desired_status: String,
    #[serde(default, deserialize_with = "number_or_text")]
    cost_per_hr: Option<f64>,
    pod_type: Option<String>,
    /// Null until the container runs.
    runtime: Option<Runtime>,
}

#[derive(Deserialize)]
struct Runtime {
    ports: Option<Vec<Port>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Port {
    ip: Option<String>,
    is_ip_public: Option<bool>,
    private_port: Option<u16>,
    public_port: Option<u16>,
}

/// `costPerHr` is a number in GraphQL answers and a string (`"0.74"`) in REST ones: both are
/// read, so that a change of API shape does not lose the price.
fn number_or_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrText {
        Number(f64),
        Text(String),
    }
    match Option::<NumberOrText>::deserialize(d)? {
        None => Ok(None),
        Some(NumberOrText::Number(n)) => Ok(Some(n)),
        Some(NumberOrText::Text(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("not a price: {s:?}"))),
    }
}

/// The GraphQL `errors` of an answer, their messages joined; `None` when there are none.
fn graphql_errors(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    let errors = v.get("errors")?.as_array()?;
    let messages: Vec<String> = errors
        .iter()
        .map(|e| match e.get("message").and_then(Value::as_str) {
            Some(m) => m.to_string(),
            None => e.to_string(),
        })
        .collect();
    (!messages.is_empty()).then(|| messages.join("; "))
}

fn classify_messages(messages: &str) -> ErrorKind {
    let m = messages.to_ascii_lowercase();
    if m.contains(NO_CAPACITY_WORDS) {
        ErrorKind::NoCapacity
    } else if m.contains(UNKNOWN_POD_WORDS) {
        ErrorKind::NotFound
    } else if m.contains("quota") || m.contains("balance") {
        ErrorKind::Quota
    } else {
        ErrorKind::Refused
    }
}

/// A non-2xx answer (a GraphQL validation error comes back as 400). GraphQL has one URL, so
/// a 404 says the URL is wrong, never that a pod is gone: it is a refusal, not `NotFound`.
fn classify(r: &Refusal) -> Option<ErrorKind> {
    Some(graphql_errors(&r.body).map_or(ErrorKind::Refused, |m| classify_messages(&m)))
}

/// Secure Cloud, Community Cloud, or whichever has the machine (`ALL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cloud {
    Secure,
    Community,
    All,
}

impl Cloud {
    fn of(offer: &OfferRef) -> Result<Cloud, CloudError> {
        match offer
            .tier
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("all") => Ok(Cloud::All),
            Some("secure") => Ok(Cloud::Secure),
            Some("community") => Ok(Cloud::Community),
            Some(other) => Err(CloudError::new(
                PROVIDER,
                ErrorKind::Refused,
                format!("RunPod has no {other:?} cloud: the tier must be secure or community"),
            )),
        }
    }

    fn cloud_type(self) -> &'static str {
        match self {
            Cloud::Secure => "SECURE",
            Cloud::Community => "COMMUNITY",
            Cloud::All => "ALL",
        }
    }
}

fn no_capacity(offer: &OfferRef, cloud: Cloud) -> CloudError {
    CloudError::new(
        PROVIDER,
        ErrorKind::NoCapacity,
        format!(
            "no {} x{} left ({} cloud{})",
            offer.instance_type,
            offer.gpu_count,
            cloud.cloud_type().to_ascii_lowercase(),
            if offer.spot { ", spot" } else { "" }
        ),
    )
}

/// The per-GPU bid a spot create sends: the quote's, else its hourly price split per GPU.
fn bid_per_gpu(req: &CreateRequest) -> Result<f64, CloudError> {
    let bid = match req.quote.ask.as_deref() {
        Some(ask) => ask.trim().parse::<f64>().ok(),
        None => Some(req.quote.price_per_hour / f64::from(req.offer.gpu_count.max(1))),
    };
    bid.filter(|b| b.is_finite() && *b > 0.0).ok_or_else(|| {
        CloudError::new(
            PROVIDER,
            ErrorKind::Refused,
            "a spot pod needs a positive bid per GPU from its quote",
        )
    })
}

/// A pod as Ferry sees it. Ready means RUNNING with its SSH port published on a public IP;
/// a running pod whose container has not started (`runtime` null) or has no public port 22
/// yet is still provisioning.
fn instance(pod: Pod) -> Instance {
    let endpoint = pod.runtime.as_ref().and_then(ssh_endpoint);
    let state = match pod.desired_status.as_str() {
        "RUNNING" if endpoint.is_some() => InstanceState::Running,
        "EXITED" => InstanceState::Stopped,
        "TERMINATED" => InstanceState::Terminated,
        _ => InstanceState::Provisioning,
    };
    Instance {
        id: InstanceId(pod.id),
        name: pod.name.unwrap_or_default(),
        endpoint: endpoint.filter(|_| state == InstanceState::Running),
        status_text: pod.desired_status,
        price_per_hour: pod.cost_per_hr,
        interruptible: pod.pod_type.as_deref() == Some("INTERRUPTABLE"),
        state,
    }
}

fn ssh_endpoint(runtime: &Runtime) -> Option<Endpoint> {
    runtime.ports.as_deref()?.iter().find_map(|p| {
        let public = p.is_ip_public == Some(true) && p.private_port == Some(22);
        match (&p.ip, p.public_port) {
            (Some(ip), Some(port)) if public && !ip.is_empty() => Some(Endpoint {
                host: ip.clone(),
                port,
                user: "root".into(),
            }),
            _ => None,
        }
    })
}

#[async_trait]
impl Provider for RunPod {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Runpod
    }

    /// "All compute and storage charges are billed per second"
    /// (docs.runpod.io/accounts-billing/billing).
    fn billing(&self) -> Billing {
        Billing::PER_SECOND
    }

    /// A pod carries `RUNPOD_POD_ID` and a pod-scoped `RUNPOD_API_KEY`, and RunPod's images
    /// have `runpodctl` (docs.runpod.io/runpodctl/overview). `remove` terminates; `stop`
    /// would keep billing for the volume.
    fn guard(&self) -> Guard {
        Guard::SelfTerminate("runpodctl remove pod \"$RUNPOD_POD_ID\"".into())
    }

    async fn quote(&self, offer: &OfferRef) -> Result<Quote, CloudError> {
        let cloud = Cloud::of(offer)?;
        if offer.gpu_count == 0 {
            return Err(CloudError::new(
                PROVIDER,
                ErrorKind::Refused,
                "a RunPod GPU pod needs at least one GPU",
            ));
        }
        let mut lowest = json!({ "gpuCount": offer.gpu_count });
        match cloud {
            Cloud::Secure => lowest["secureCloud"] = json!(true),
            Cloud::Community => lowest["secureCloud"] = json!(false),
            Cloud::All => {}
        }
        let variables = json!({
            "gpuTypesInput": { "id": offer.instance_type },
            "lowestPriceInput": lowest,
        });
        let found: GpuTypes = self.query(Tries::Policy, GPU_TYPES, variables).await?;
        let gpu = found
            .gpu_types
            .into_iter()
            .find(|g| g.id == offer.instance_type)
            .ok_or_else(|| {
                CloudError::new(
                    PROVIDER,
                    ErrorKind::Refused,
                    format!("RunPod has no GPU type {:?}", offer.instance_type),
                )
            })?;
        let lowest = gpu.lowest_price.ok_or_else(|| no_capacity(offer, cloud))?;
        let per_gpu = if offer.spot {
            lowest.minimum_bid_price
        } else {
            lowest.uninterruptable_price
        }
        .filter(|p| p.is_finite() && *p > 0.0)
        .ok_or_else(|| no_capacity(offer, cloud))?;
        let price = per_gpu * f64::from(offer.gpu_count);
        if let Some(max) = offer.max_price_per_hour
            && price > max
        {
            return Err(CloudError::new(
                PROVIDER,
                ErrorKind::PriceAbove,
                format!(
                    "{} x{} is ${price:.4}/h now, above the most accepted, ${max:.4}/h",
                    offer.instance_type, offer.gpu_count
                ),
            ));
        }
        Ok(Quote {
            price_per_hour: price,
            // The per-GPU bid the create sends, kept exact.
            ask: offer.spot.then(|| per_gpu.to_string()),
            detail: format!(
                "{} x{}, {} cloud{}, stock {}",
                gpu.display_name.as_deref().unwrap_or(&gpu.id),
                offer.gpu_count,
                cloud.cloud_type().to_ascii_lowercase(),
                if offer.spot { ", spot bid" } else { "" },
                lowest.stock_status.as_deref().unwrap_or("unknown"),
            ),
        })
    }

    async fn create(&self, req: &CreateRequest) -> Result<InstanceId, CloudError> {
        let cloud = Cloud::of(&req.offer)?;
        let image = [
            req.image.as_str(),
            self.config.image.as_deref().unwrap_or(""),
        ]
        .into_iter()
        .find(|i| !i.trim().is_empty())
        .unwrap_or(DEFAULT_IMAGE);
        let disk_gb = if req.disk_gb > 0 {
            req.disk_gb
        } else {
            self.config.disk_gb
        };
        let mut input = json!({
            "cloudType": cloud.cloud_type(),
            "gpuCount": req.offer.gpu_count,
            "gpuTypeId": req.offer.instance_type,
            "name": req.name.to_string(),
            "imageName": image,
            "containerDiskInGb": disk_gb,
            "volumeInGb": 0,
            "ports": "22/tcp",
            "startSsh": true,
            "supportPublicIp": true,
            // RunPod's images append $PUBLIC_KEY to root's authorized_keys at start.
            "env": [{ "key": "PUBLIC_KEY", "value": req.public_key.trim() }],
            "dockerArgs": "",
        });
        let mutation = if req.offer.spot {
            input["bidPerGpu"] = json!(bid_per_gpu(req)?);
            RENT_INTERRUPTABLE
        } else {
            DEPLOY_ON_DEMAND
        };
        let deployed: Deployed = self
            .query(Tries::Once, mutation, json!({ "input": input }))
            .await?;
        let pod = deployed.pod.ok_or_else(|| {
            CloudError::malformed(PROVIDER, "data", "no pod and no error in the create answer")
        })?;
        Ok(InstanceId(pod.id))
    }

    async fn list(&self) -> Result<Vec<Instance>, CloudError> {
        let me: Myself = self.query(Tries::Policy, LIST_PODS, json!({})).await?;
        Ok(me.myself.pods.into_iter().map(instance).collect())
    }

    async fn terminate(&self, id: &InstanceId) -> Result<(), CloudError> {
        let variables = json!({ "input": { "podId": id.0 } });
        match self.call(Tries::Policy, TERMINATE, variables).await {
            Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
            // `podTerminate` answers null on success.
            Ok(_) => Ok(()),
        }
    }

    /// The container disk: $0.10 per GB-month while the pod runs (RunPod's pricing page,
    /// https://www.runpod.io/pricing, "Container Disk"), billed per second like compute.
    fn storage_per_hour(&self, disk_gb: u32) -> f64 {
        f64::from(disk_gb) * CONTAINER_DISK_USD_PER_GB_MONTH / HOURS_PER_MONTH
    }

    fn calls(&self) -> u64 {
        self.api.calls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture<T: DeserializeOwned>(text: &str) -> T {
        decode::<Data<T>>(PROVIDER, text).unwrap().data
    }

    #[test]
    fn the_quote_fixture_parses() {
        let t: GpuTypes = fixture(include_str!("../../fixtures/runpod/gpu_types.json"));
        let g = &t.gpu_types[0];
        assert_eq!(g.id, "NVIDIA A40");
        let lp = g.lowest_price.as_ref().unwrap();
        assert_eq!(lp.uninterruptable_price, Some(0.4));
        assert_eq!(lp.minimum_bid_price, Some(0.2));
        assert_eq!(lp.stock_status.as_deref(), Some("High"));
    }

    #[test]
    fn the_create_fixtures_parse() {
        let d: Deployed = fixture(include_str!(
            "../../fixtures/runpod/pod_find_and_deploy_on_demand.json"
        ));
        assert_eq!(d.pod.unwrap().id, "50qynxzilsxoey");
        let d: Deployed = fixture(include_str!(
            "../../fixtures/runpod/pod_rent_interruptable.json"
        ));
        assert_eq!(d.pod.unwrap().id, "fkjbybgpwuvmhk");
        let t = include_str!("../../fixtures/runpod/pod_terminate.json");
        assert_eq!(graphql_errors(t), None);
    }

    #[test]
    fn the_listing_fixture_maps_every_state() {
        let me: Myself = fixture(include_str!("../../fixtures/runpod/myself_pods.json"));
        let pods: Vec<Instance> = me.myself.pods.into_iter().map(instance).collect();
        let ready = &pods[0];
        assert_eq!(ready.state, InstanceState::Running);
        assert_eq!(
            ready.endpoint,
            Some(Endpoint {
                host: "194.26.196.6".into(),
                port: 43201,
                user: "root".into()
            }),
            "the public port-22 entry, not the private HTTP one"
        );
        assert_eq!(ready.price_per_hour, Some(0.4));
        assert!(!ready.interruptible);
        assert_eq!(ready.name, "ferry-0a1b2c3d-j-0000018bcfe56800-a1");
        assert!(ready.lease().is_some());

        let starting = &pods[1];
        assert_eq!(starting.state, InstanceState::Provisioning);
        assert_eq!(starting.endpoint, None);
        assert!(starting.interruptible);
        assert_eq!(starting.status_text, "RUNNING");

        let exited = &pods[2];
        assert_eq!(exited.state, InstanceState::Stopped);
        assert_eq!(exited.endpoint, None);
        assert_eq!(exited.lease(), None, "a user's own pod");
    }

    fn pod(status: &str, runtime: Value, cost: Value) -> Instance {
        let v = json!({
            "id": "p", "name": "n", "desiredStatus": status, "costPerHr": cost,
            "podType": "RESERVED", "runtime": runtime,
        });
        instance(serde_json::from_value(v).unwrap())
    }

    #[test]
    fn statuses_map_to_states() {
        let public = json!({"ports": [{"ip": "1.2.3.4", "isIpPublic": true, "privatePort": 22, "publicPort": 2022, "type": "tcp"}]});
        let private = json!({"ports": [{"ip": "10.0.0.2", "isIpPublic": false, "privatePort": 22, "publicPort": 22, "type": "tcp"}]});
        let no_ports = json!({"uptimeInSeconds": 3, "ports": null});
        let cases = [
            ("RUNNING", public.clone(), InstanceState::Running),
            ("RUNNING", private, InstanceState::Provisioning),
            ("RUNNING", no_ports, InstanceState::Provisioning),
            ("RUNNING", Value::Null, InstanceState::Provisioning),
            ("EXITED", public.clone(), InstanceState::Stopped),
            ("TERMINATED", Value::Null, InstanceState::Terminated),
            ("CREATED", Value::Null, InstanceState::Provisioning),
        ];
        for (status, runtime, want) in cases {
            let i = pod(status, runtime, json!(0.5));
            assert_eq!(i.state, want, "{status}");
            assert_eq!(i.endpoint.is_some(), want == InstanceState::Running);
            assert_eq!(i.status_text, status);
        }
    }

    #[test]
    fn a_price_may_be_a_number_or_a_string() {
        assert_eq!(
            pod("RUNNING", Value::Null, json!("0.74")).price_per_hour,
            Some(0.74)
        );
        assert_eq!(
            pod("RUNNING", Value::Null, json!(0.69)).price_per_hour,
            Some(0.69)
        );
        assert_eq!(
            pod("RUNNING", Value::Null, Value::Null).price_per_hour,
            None
        );
        let bad = json!({"id": "p", "desiredStatus": "RUNNING", "costPerHr": "cheap"});
        assert!(serde_json::from_value::<Pod>(bad).is_err());
    }

    #[test]
    fn graphql_errors_are_classified_by_their_words() {
        let no_capacity = include_str!("../../fixtures/runpod/error_no_capacity.json");
        let m = graphql_errors(no_capacity).unwrap();
        assert_eq!(classify_messages(&m), ErrorKind::NoCapacity);
        let cases = [
            ("pod not found to terminate", ErrorKind::NotFound),
            (
                "Your balance is too low to start this pod",
                ErrorKind::Quota,
            ),
            ("GPU quota exceeded", ErrorKind::Quota),
            (
                "Field \"gpuTypeId\" of required type \"String!\" was not provided.",
                ErrorKind::Refused,
            ),
        ];
        for (message, want) in cases {
            let body = json!({"errors": [{"message": message}], "data": null}).to_string();
            assert_eq!(
                classify_messages(&graphql_errors(&body).unwrap()),
                want,
                "{message}"
            );
            let refusal = Refusal { status: 400, body };
            assert_eq!(classify(&refusal), Some(want), "{message}");
        }
        assert_eq!(graphql_errors(r#"{"data": {"podTerminate": null}}"#), None);
        assert_eq!(graphql_errors("<html>bad gateway</html>"), None);
        let not_graphql = Refusal {
            status: 404,
            body: "Not Found".into(),
        };
        assert_eq!(
            classify(&not_graphql),
            Some(ErrorKind::Refused),
            "a wrong URL is no gone pod"
        );
    }

    #[test]
    fn tiers_pick_the_cloud() {
        let mut offer = OfferRef {
            instance_type: "NVIDIA A40".into(),
            region: "global".into(),
            gpu_count: 1,
            spot: false,
            expected_price_per_hour: 0.4,
            max_price_per_hour: None,
            tier: None,
            vcpus: None,
        };
        assert_eq!(Cloud::of(&offer).unwrap(), Cloud::All);
        offer.tier = Some("Secure".into());
        assert_eq!(Cloud::of(&offer).unwrap(), Cloud::Secure);
        offer.tier = Some("community".into());
        assert_eq!(Cloud::of(&offer).unwrap(), Cloud::Community);
        offer.tier = Some("gold".into());
        assert_eq!(Cloud::of(&offer).unwrap_err().kind, ErrorKind::Refused);
    }
}

/// RunPod's GPU type id for the catalog's GPU name (the ids are those of RunPod's GPU
/// types list, docs.runpod.io/references/gpu-types); an id already is passed through.
pub fn gpu_type_id(catalog_name: &str) -> String {
    const IDS: &[(&str, &str)] = &[
        ("A100 PCIe", "NVIDIA A100 80GB PCIe"),
        ("A100 SXM", "NVIDIA A100-SXM4-80GB"),
        ("A40", "NVIDIA A40"),
        ("B200", "NVIDIA B200"),
        ("H100 NVL", "NVIDIA H100 NVL"),
        ("H100 PCIe", "NVIDIA H100 PCIe"),
        ("H100 SXM", "NVIDIA H100 80GB HBM3"),
        ("H200 SXM", "NVIDIA H200"),
        ("L4", "NVIDIA L4"),
        ("L40S", "NVIDIA L40S"),
        ("RTX 3090", "NVIDIA GeForce RTX 3090"),
        ("RTX 4090", "NVIDIA GeForce RTX 4090"),
        ("RTX 6000 Ada", "NVIDIA RTX 6000 Ada Generation"),
        ("RTX A6000", "NVIDIA RTX A6000"),
    ];
    IDS.iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(catalog_name.trim()))
        .map_or_else(|| catalog_name.trim().to_string(), |(_, id)| id.to_string())
}

/// The catalog's offering (`Secure Cloud`, `Community Cloud (2025 list)`) as a tier.
pub fn tier(offering: &str) -> Option<String> {
    let o = offering.to_ascii_lowercase();
    if o.starts_with("secure") {
        Some("secure".into())
    } else if o.starts_with("community") {
        Some("community".into())
    } else {
        None
    }
}

#[cfg(test)]
mod catalog_names {
    #[test]
    fn catalog_names_become_runpod_ids_and_tiers() {
        assert_eq!(super::gpu_type_id("H100 SXM"), "NVIDIA H100 80GB HBM3");
        assert_eq!(super::gpu_type_id("NVIDIA A40"), "NVIDIA A40");
        assert_eq!(
            super::tier("Secure Cloud (2025 list)").as_deref(),
            Some("secure")
        );
        assert_eq!(super::tier("Community Cloud").as_deref(), Some("community"));
        assert_eq!(super::tier("Pods (2025 list)"), None);
    }
}
