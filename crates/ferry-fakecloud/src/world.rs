//! The fake's state: its instances, the faults it is told to inject, the calls it answered,
//! and what it bills. Provider modules render this state in their own API's shapes.

use ferry_cloud::Billing;
use ferry_job::Micros;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// Where every fake instance is reached over SSH (the tests' sshd).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
}

/// Faults to inject, each counted down as it fires.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Machine types (or GPU names) with no capacity: a create for them is refused the
    /// provider's way, and a live quote says none is left. `*` means every type.
    pub no_capacity: Vec<String>,
    /// The next N creates make the instance, then answer 502 as if the answer was lost.
    pub lose_create_responses: u32,
    /// After a terminate that answers "ok", the instance keeps running (and billing) for
    /// this many more listings before it is really gone.
    pub linger_polls: u32,
    /// The next N provider requests answer 503.
    pub server_errors: u32,
    /// The next N provider requests answer 429 with `Retry-After: retry_after_s`.
    pub rate_limits: u32,
    pub retry_after_s: u32,
    /// The next N listings answer JSON that lacks a documented field.
    pub malformed_lists: u32,
    /// Live prices are the expected price times this (1 when unset): above `max_price`,
    /// the quote is refused.
    pub live_price_factor: Option<f64>,
    /// The account's GPU quota per region and GPU family, where the provider has quotas
    /// (Google Cloud, Azure; AWS's comes from moto or the test): the quota endpoints report
    /// it as the limit, with the GPUs of live instances as the usage, and a create that
    /// would pass it is refused the provider's way. Unset: plenty.
    pub gpu_quota: Option<u32>,
    /// Azure's regional vCPU quota per VM family (Azure counts vCPUs, not GPUs): the usages
    /// endpoint reports it as each family's limit, and the spot (`lowPriorityCores`) limit,
    /// with the vCPUs of live instances as the usage. Unset: plenty.
    pub vcpu_quota: Option<u32>,
    /// AWS Service Quotas values by quota code (`L-DB2E81BA` → 64.0 vCPUs): `/aws-quotas`
    /// answers `GetServiceQuota` with them, and a code not set with
    /// `NoSuchResourceException`, as AWS does for a quota it does not know.
    pub aws_quotas: BTreeMap<String, f64>,
}

/// Where a fake instance is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Provisioning,
    Running,
    /// Stopped by the provider (an outbid or interrupted instance): exists, still bills.
    Stopped,
    Terminated,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FakeInstance {
    pub provider: String,
    pub id: String,
    pub name: String,
    pub instance_type: String,
    pub region: String,
    pub gpu_count: u32,
    pub price_per_hour: f64,
    pub spot: bool,
    pub created_ms: i64,
    pub ready_ms: i64,
    pub terminate_requested_ms: Option<i64>,
    /// Listings left before a terminated-but-lingering instance is gone.
    pub linger_left: u32,
    pub gone_ms: Option<i64>,
    pub stopped_ms: Option<i64>,
    pub billing: Billing,
    /// What its disk costs per hour, on top of compute, while it exists.
    #[serde(default)]
    pub storage_per_hour: f64,
    /// Environment the create asked for (RunPod's `env`), as the instance would see it.
    pub env: BTreeMap<String, String>,
}

impl FakeInstance {
    pub fn phase(&self, now: i64) -> Phase {
        if self.gone_ms.is_some() {
            Phase::Terminated
        } else if self.stopped_ms.is_some() {
            Phase::Stopped
        } else if now < self.ready_ms {
            Phase::Provisioning
        } else {
            Phase::Running
        }
    }

    /// What the provider bills for this instance's life so far (until gone, or now).
    pub fn billed(&self, now: i64) -> Micros {
        let end = self.gone_ms.unwrap_or(now);
        let price = Micros::from_usd(self.price_per_hour).unwrap_or(Micros::ZERO);
        let disk = Micros::from_usd(self.storage_per_hour).unwrap_or(Micros::ZERO);
        self.billing.charge(price, end - self.created_ms)
            + self.billing.charge(disk, end - self.created_ms)
    }
}

/// Why the gate refused a request, for the provider to render in its own error shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Unauthorized,
    ServerError,
    RateLimited { retry_after_s: u32 },
}

/// What a create needs, whatever the provider's request looked like.
#[derive(Debug, Clone, PartialEq)]
pub struct NewInstance {
    pub provider: &'static str,
    pub name: String,
    pub instance_type: String,
    pub region: String,
    pub gpu_count: u32,
    pub price_per_hour: f64,
    pub spot: bool,
    pub billing: Billing,
    /// Disk price per hour, on top of compute (0 where the price includes it).
    pub storage_per_hour: f64,
    pub public_key: Option<String>,
    pub env: BTreeMap<String, String>,
}

/// A create the fake refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateRefusal {
    NoCapacity,
    /// The instance was made, but the answer is "lost" (a 502 goes back).
    AnswerLost,
}

/// One line of the fake's billing record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillLine {
    pub provider: String,
    pub id: String,
    pub name: String,
    pub amount_micros: Micros,
    pub still_billing: bool,
}

pub struct World {
    /// The key every provider route expects (as a bearer token, or `?api_key=`).
    pub api_key: String,
    pub ssh: SshTarget,
    /// The sshd's `authorized_keys`: keys handed over at create are appended here.
    pub authorized_keys: Option<PathBuf>,
    /// How long an instance provisions before it runs.
    pub provisioning_ms: i64,
    pub faults: Faults,
    pub instances: Vec<FakeInstance>,
    /// Requests answered, by provider.
    pub calls: BTreeMap<String, u64>,
    /// Access tokens the fake's OAuth token endpoints issued (Google's, Entra ID's): the
    /// gate accepts these as well as `api_key`.
    pub issued_tokens: std::collections::BTreeSet<String>,
    next_id: u64,
}

/// The keys a boot script (Vast.ai's onstart, a Paperspace startup script) writes, as the
/// machine running it would install them: on each line, from `ssh-ed25519 ` to the closing
/// quote.
pub fn keys_in_script(script: &str) -> impl Iterator<Item = String> + '_ {
    script.lines().filter_map(|line| {
        let start = line.find("ssh-ed25519 ")?;
        let rest = &line[start..];
        let end = rest.find(['\'', '"']).unwrap_or(rest.len());
        Some(rest[..end].trim().to_string())
    })
}

/// Epoch milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl World {
    pub fn new(api_key: &str, ssh: SshTarget) -> World {
        World {
            api_key: api_key.to_string(),
            ssh,
            authorized_keys: None,
            provisioning_ms: 300,
            faults: Faults::default(),
            instances: vec![],
            calls: BTreeMap::new(),
            issued_tokens: Default::default(),
            next_id: 1,
        }
    }

    /// Every provider request passes here first: it is counted, its key checked, and the
    /// 5xx and 429 faults fire.
    pub fn gate(&mut self, provider: &str, key: Option<&str>) -> Result<(), Gate> {
        *self.calls.entry(provider.to_string()).or_default() += 1;
        if self.faults.server_errors > 0 {
            self.faults.server_errors -= 1;
            return Err(Gate::ServerError);
        }
        if self.faults.rate_limits > 0 {
            self.faults.rate_limits -= 1;
            return Err(Gate::RateLimited {
                retry_after_s: self.faults.retry_after_s,
            });
        }
        match key {
            Some(k) if k == self.api_key || self.issued_tokens.contains(k) => Ok(()),
            _ => Err(Gate::Unauthorized),
        }
    }

    /// A new access token, accepted by the gate from now on (a token endpoint's answer).
    pub fn issue_token(&mut self, provider: &str) -> String {
        let token = format!(
            "{provider}-token-{}-{}",
            now_ms(),
            self.issued_tokens.len() + 1
        );
        self.issued_tokens.insert(token.clone());
        token
    }

    /// GPUs of `provider`'s live instances in `region` whose type `family` says is of the
    /// family (a quota's usage).
    pub fn gpus_in_use(&self, provider: &str, region: &str, family: impl Fn(&str) -> bool) -> u32 {
        let now = now_ms();
        self.instances
            .iter()
            .filter(|i| i.provider == provider && i.region == region && family(&i.instance_type))
            .filter(|i| i.phase(now) != Phase::Terminated)
            .map(|i| i.gpu_count)
            .sum()
    }

    /// Whether `instance_type` has capacity now.
    pub fn has_capacity(&self, instance_type: &str) -> bool {
        !self
            .faults
            .no_capacity
            .iter()
            .any(|t| t == "*" || t.eq_ignore_ascii_case(instance_type))
    }

    /// The live price for something expected at `price`.
    pub fn live_price(&self, price: f64) -> f64 {
        price * self.faults.live_price_factor.unwrap_or(1.0)
    }

    /// Makes an instance (or refuses for no capacity). With a lost-answer fault the
    /// instance exists all the same and `AnswerLost` comes back.
    pub fn create(&mut self, new: NewInstance) -> Result<FakeInstance, CreateRefusal> {
        if !self.has_capacity(&new.instance_type) {
            return Err(CreateRefusal::NoCapacity);
        }
        let now = now_ms();
        let id = self.new_id(new.provider);
        if let Some(k) = &new.public_key {
            self.install_key(k);
        }
        let inst = FakeInstance {
            provider: new.provider.to_string(),
            id,
            name: new.name,
            instance_type: new.instance_type,
            region: new.region,
            gpu_count: new.gpu_count,
            price_per_hour: new.price_per_hour,
            spot: new.spot,
            created_ms: now,
            ready_ms: now + self.provisioning_ms,
            terminate_requested_ms: None,
            linger_left: 0,
            gone_ms: None,
            stopped_ms: None,
            billing: new.billing,
            storage_per_hour: new.storage_per_hour,
            env: new.env,
        };
        self.instances.push(inst.clone());
        if self.faults.lose_create_responses > 0 {
            self.faults.lose_create_responses -= 1;
            return Err(CreateRefusal::AnswerLost);
        }
        Ok(inst)
    }

    fn new_id(&mut self, provider: &str) -> String {
        let n = self.next_id;
        self.next_id += 1;
        match provider {
            // Vast.ai's contracts and Lambda's ids have their own looks; any unique string works.
            "vastai" => format!("{}", 7_000_000 + n),
            "lambda" => format!("{:032x}", 0x0920_bd7c_u64 * 1_000_003 + n),
            "paperspace" => format!("ps{n:06}"),
            _ => format!("fake{n:010}"),
        }
    }

    /// Appends a public key to the sshd's `authorized_keys` (once).
    pub fn install_key(&mut self, key: &str) {
        let Some(path) = &self.authorized_keys else {
            return;
        };
        let key = key.trim();
        let present = std::fs::read_to_string(path)
            .map(|t| t.lines().any(|l| l.trim() == key))
            .unwrap_or(false);
        if !present && let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(path) {
            let _ = writeln!(f, "{key}");
        }
    }

    /// The provider's instance `id`, unless it is gone. Unlike `observe`, this uses up none
    /// of a lingering instance's listings.
    pub fn live(&self, provider: &str, id: &str) -> Option<&FakeInstance> {
        self.instances
            .iter()
            .find(|i| i.provider == provider && i.id == id && i.gone_ms.is_none())
    }

    /// The provider's instances as a listing shows them now. A lingering terminated
    /// instance uses up one of its listings; once none is left it is gone.
    pub fn observe(&mut self, provider: &str) -> Vec<(FakeInstance, Phase)> {
        let now = now_ms();
        for i in self.instances.iter_mut().filter(|i| i.provider == provider) {
            if i.terminate_requested_ms.is_some() && i.gone_ms.is_none() {
                if i.linger_left == 0 {
                    i.gone_ms = Some(now);
                } else {
                    i.linger_left -= 1;
                }
            }
        }
        self.instances
            .iter()
            .filter(|i| i.provider == provider && i.gone_ms.is_none())
            .map(|i| (i.clone(), i.phase(now)))
            .collect()
    }

    /// One instance, as `observe` would show it; `None` once it is gone.
    pub fn observe_one(&mut self, provider: &str, id: &str) -> Option<(FakeInstance, Phase)> {
        self.observe(provider).into_iter().find(|(i, _)| i.id == id)
    }

    /// A terminate: "ok" for a known instance (which may linger, per the fault), `false`
    /// for one the provider does not know (or that is gone already).
    pub fn terminate(&mut self, provider: &str, id: &str) -> bool {
        let now = now_ms();
        let linger = self.faults.linger_polls;
        let Some(i) = self
            .instances
            .iter_mut()
            .find(|i| i.provider == provider && i.id == id && i.gone_ms.is_none())
        else {
            return false;
        };
        if i.terminate_requested_ms.is_none() {
            i.terminate_requested_ms = Some(now);
            i.linger_left = linger;
            if linger == 0 {
                i.gone_ms = Some(now);
            }
        }
        true
    }

    /// Takes one malformed-listing fault, if any is left.
    pub fn take_malformed(&mut self) -> bool {
        if self.faults.malformed_lists > 0 {
            self.faults.malformed_lists -= 1;
            true
        } else {
            false
        }
    }

    /// The instance vanishes (preempted and reclaimed) or, with `stop`, is stopped by the
    /// provider (an outbid bid, an interrupted spot pod). `false` if there is no such one.
    pub fn preempt(&mut self, id: &str, stop: bool) -> bool {
        let now = now_ms();
        match self
            .instances
            .iter_mut()
            .find(|i| i.id == id && i.gone_ms.is_none())
        {
            Some(i) if stop => {
                i.stopped_ms = Some(now);
                true
            }
            Some(i) => {
                i.gone_ms = Some(now);
                true
            }
            None => false,
        }
    }

    pub fn bill(&self) -> Vec<BillLine> {
        let now = now_ms();
        self.instances
            .iter()
            .map(|i| BillLine {
                provider: i.provider.clone(),
                id: i.id.clone(),
                name: i.name.clone(),
                amount_micros: i.billed(now),
                still_billing: i.gone_ms.is_none(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> World {
        World::new(
            "k",
            SshTarget {
                host: "127.0.0.1".into(),
                port: 2222,
                user: "root".into(),
            },
        )
    }

    fn new(name: &str) -> NewInstance {
        NewInstance {
            provider: "runpod",
            name: name.into(),
            instance_type: "NVIDIA A40".into(),
            region: "global".into(),
            gpu_count: 1,
            price_per_hour: 0.4,
            spot: false,
            billing: Billing::PER_SECOND,
            storage_per_hour: 0.0,
            public_key: None,
            env: BTreeMap::new(),
        }
    }

    #[test]
    fn a_lingering_instance_is_gone_after_its_listings() {
        let mut w = world();
        w.faults.linger_polls = 2;
        let i = w.create(new("a")).unwrap();
        assert!(w.terminate("runpod", &i.id));
        assert_eq!(w.observe("runpod").len(), 1);
        assert_eq!(w.observe("runpod").len(), 1);
        assert_eq!(w.observe("runpod").len(), 0);
        assert!(!w.terminate("runpod", &i.id));
        assert!(!w.bill()[0].still_billing);
    }

    #[test]
    fn faults_fire_once_each() {
        let mut w = world();
        w.faults.server_errors = 1;
        w.faults.lose_create_responses = 1;
        w.faults.no_capacity = vec!["NVIDIA H100".into()];
        assert_eq!(w.gate("runpod", Some("k")), Err(Gate::ServerError));
        assert_eq!(w.gate("runpod", Some("x")), Err(Gate::Unauthorized));
        assert_eq!(w.gate("runpod", Some("k")), Ok(()));
        let mut h = new("h");
        h.instance_type = "NVIDIA H100".into();
        assert_eq!(w.create(h), Err(CreateRefusal::NoCapacity));
        assert_eq!(w.create(new("b")), Err(CreateRefusal::AnswerLost));
        assert_eq!(w.observe("runpod").len(), 1, "the lost create made it");
        assert!(w.create(new("c")).is_ok());
        assert_eq!(w.calls["runpod"], 3);
    }

    #[test]
    fn keys_are_found_in_scripts() {
        let onstart = "mkdir -p ~/.ssh && echo 'ssh-ed25519 AAAAC3Nz ferry@host' >> ~/.ssh/authorized_keys\necho hi\n";
        assert_eq!(
            keys_in_script(onstart).collect::<Vec<_>>(),
            vec!["ssh-ed25519 AAAAC3Nz ferry@host"]
        );
        let startup = "#!/bin/bash\ngrep -qxF 'ssh-ed25519 AAAA ferry' f || echo 'ssh-ed25519 AAAA ferry' >> f\n";
        assert_eq!(
            keys_in_script(startup).next().as_deref(),
            Some("ssh-ed25519 AAAA ferry")
        );
        assert_eq!(keys_in_script("echo hi").next(), None);
    }
}
