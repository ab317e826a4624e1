//! Rented machines in the scheduler: a provisioner (a [`Provider`]) to get a machine and
//! give it back, and the SSH executor to run the job on it.
//!
//! Each attempt moves through [`AttemptStep`]s, one pass at a time. Every step is written to
//! the store before the action it names is taken, so a server killed anywhere resumes right:
//! - `quoting`: the offer is re-checked live (price, stock), then the step becomes
//!   `creating` with the time, and only then is the create sent, under the lease name;
//! - `creating` after a restart (or a lost answer): the listing is searched by the lease
//!   name; found, the instance is adopted; not found, the create is sent again;
//! - `provisioning` → `connecting` → `running`: the provider's listing (one call per
//!   provider per pass) says it runs, SSH answers, the job is started under the remote
//!   supervisor (idempotent);
//! - any end (the job's, a cancel, a timeout, a preemption) records its cause and moves to
//!   `terminating`; terminate is sent until a listing no longer shows the machine: a
//!   provider's "terminated" answer is not proof;
//! - `ended`: the charges (the machine's whole life, at the quoted price, rounded as the
//!   provider bills) and the job's next move (finish, restart, fail over) are one transaction.
//!
//! Decisions are pure ([`decide`]); this module carries them out.

pub mod decide;

use crate::payload::JobPayload;
use crate::{Scheduler, SchedulerError, Tick};
use decide::{Action, AttemptOffer, Choice, Seen, Timeouts};
use ferry_backend::ssh::SshBackend;
use ferry_backend::transport::{SshTarget, Transport};
use ferry_backend::{Backend, LaunchSpec, LogChunk, Observed};
use ferry_cloud::{
    CreateRequest, Endpoint, ErrorKind, Guard, Instance, InstanceId, LeaseName, Provider,
};
use ferry_job::{AttemptStep, EndCause, JobId, JobState, Micros, NextMove};
use ferry_store::{Attempt, AttemptPatch, JobMove, JobRecord, NewAttempt};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A provider Ferry rents from, as the scheduler uses it.
pub struct RentedBackend {
    pub provider: Arc<dyn Provider>,
    /// Reach every instance at this address instead of the one the provider gives (a
    /// tunnel, a bastion, or the tests' sshd); the provider's is still recorded.
    pub ssh_override: Option<Endpoint>,
    pub image: Option<String>,
    /// Disk per machine from the provider's config (`disk_gb`); the task's `disk_size`
    /// wins, and [`Rented::disk_gb`] when neither says.
    pub disk_gb: Option<u32>,
}

/// How Ferry logs in to rented machines.
#[derive(Debug, Clone)]
pub struct SshAccess {
    pub private_key: PathBuf,
    pub public_key: String,
    /// Host keys of rented machines, pinned by lease name.
    pub known_hosts: PathBuf,
    pub control_dir: Option<PathBuf>,
}

/// What the scheduler needs to rent machines.
pub struct Rented {
    pub backends: HashMap<String, RentedBackend>,
    pub access: SshAccess,
    pub timeouts: Timeouts,
    /// Where a rented job's output is kept once its machine is gone.
    pub log_dir: PathBuf,
    /// Disk per machine when neither the task nor the provider's config says, GB.
    pub disk_gb: u32,
}

/// How long a provider may stay unreachable (or keep answering 5xx) before an attempt that
/// has no machine yet gives up on it and the next offer is tried.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(5 * 60);

/// Attempts acted on together in one pass (each is a few API calls or an SSH command).
const IN_FLIGHT: usize = 32;

/// One instance the sweep looked at, and what it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepFinding {
    pub provider: String,
    pub instance: String,
    pub name: String,
    pub status: String,
    pub verdict: SweepVerdict,
    /// What happened when it was terminated (an error, if it failed).
    pub outcome: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SweepVerdict {
    /// A live attempt holds it.
    Kept,
    /// Ferry's tag, no live attempt: terminated (or would be, with `--dry-run`).
    Orphan,
    /// Not Ferry's (untagged, or another install's): never touched.
    NotOurs,
}

/// What the provider's listings showed this pass, by provider.
struct Listings {
    by_backend: HashMap<String, Result<Vec<Instance>, String>>,
}

impl Listings {
    fn seen<'a>(&'a self, a: &Attempt) -> Seen<'a> {
        match self.by_backend.get(&a.backend) {
            Some(Ok(list)) => Seen {
                listed: true,
                instance: list.iter().find(|i| match &a.instance_id {
                    Some(id) => &i.id.0 == id,
                    None => i.name == a.lease,
                }),
            },
            _ => Seen {
                listed: false,
                instance: None,
            },
        }
    }
}

impl Scheduler {
    /// Rents machines from these providers.
    pub fn set_rented(&mut self, rented: Rented) {
        self.rented = Some(rented);
    }

    /// Whether jobs placed on `backend` are rented machines.
    pub fn is_rented(&self, backend: &str) -> bool {
        backend
            .parse::<ferry_backend::BackendId>()
            .is_ok_and(|id| id.rented().is_some())
            && self
                .rented
                .as_ref()
                .is_some_and(|r| r.backends.contains_key(backend))
    }

    pub fn rented_backends(&self) -> impl Iterator<Item = (&String, &RentedBackend)> {
        self.rented.iter().flat_map(|r| r.backends.iter())
    }

    /// Starts an attempt for each queued rented job (its next offer), or fails the job when
    /// nothing is left to try.
    pub(crate) async fn place_rented(
        &self,
        queued: &[Arc<JobRecord>],
        report: &mut Tick,
    ) -> Result<(), SchedulerError> {
        let Some(rented) = &self.rented else {
            return Ok(());
        };
        let mark = self.store.install_mark().await?;
        for rec in queued
            .iter()
            .filter(|r| self.is_rented(&r.placement.backend))
        {
            // One job's trouble (cancelled meanwhile, an odd record) holds up no other.
            if let Err(e) = self.place_one(rented, &mark, rec, report).await {
                report.errors.push((rec.id.clone(), e.to_string()));
            }
        }
        Ok(())
    }

    async fn place_one(
        &self,
        rented: &Rented,
        mark: &str,
        rec: &JobRecord,
        report: &mut Tick,
    ) -> Result<(), SchedulerError> {
        {
            let now = self.clock.now_ms();
            let payload = JobPayload::from_value(&rec.task)
                .map_err(|e| SchedulerError::Job(rec.id.clone(), e))?;
            let attempts = self.store.attempts(&rec.id).await?;
            let retry_until = payload
                .retry_until_up_s
                .map(|s| rec.submitted_at_ms + s as i64 * 1000);
            let has = |b: &str| rented.backends.contains_key(b);
            let spot_ok = decide::spot_allowed(
                decide::standing(
                    &payload,
                    rec.submitted_at_ms,
                    &attempts,
                    now,
                    self.remote_poll_ms,
                ),
                &attempts,
            );
            match decide::next_offer(&payload.plan, &attempts, &has, spot_ok, retry_until, now) {
                Choice::Offer { plan_index, round } => {
                    let planned = payload.plan[plan_index].clone();
                    let n = attempts.len() as u32 + 1;
                    let lease = LeaseName::new(mark, &rec.id, n).to_string();
                    let price = Micros::from_usd(planned.offer.expected_price_per_hour)
                        .map_err(|e| SchedulerError::Job(rec.id.clone(), e.to_string()))?;
                    let detail = format!(
                        "attempt {n}: renting {} {} in {} (${:.4}/h planned) as {lease}",
                        planned.backend,
                        planned.offer.instance_type,
                        planned.offer.region,
                        planned.offer.expected_price_per_hour
                    );
                    let offer = AttemptOffer {
                        plan_index,
                        round,
                        planned: planned.clone(),
                    };
                    self.store
                        .start_attempt(
                            &NewAttempt {
                                job_id: rec.id.clone(),
                                attempt: n,
                                backend: planned.backend.clone(),
                                offer: serde_json::to_value(&offer).expect("an offer serialises"),
                                lease,
                                price_per_hour: price,
                            },
                            &detail,
                        )
                        .await?;
                    report.started.push(rec.id.clone());
                }
                Choice::WaitForRound => {}
                Choice::Exhausted(why) => {
                    let patch = ferry_store::JobPatch {
                        finished_at_ms: Some(now),
                        reason: Some(why.clone()),
                        ..Default::default()
                    };
                    self.store
                        .finish(&rec.id, JobState::Failed, &patch, &why, None)
                        .await?;
                    report.finished.push((rec.id.clone(), JobState::Failed));
                }
            }
        }
        Ok(())
    }

    /// Moves every open attempt one step, with one listing per provider.
    pub(crate) async fn follow_rented(&self, report: &mut Tick) -> Result<(), SchedulerError> {
        let Some(rented) = &self.rented else {
            return Ok(());
        };
        let open = self.store.open_attempts().await?;
        if open.is_empty() {
            return Ok(());
        }
        let mut wanted: Vec<&String> = open.iter().map(|a| &a.backend).collect();
        wanted.sort();
        wanted.dedup();
        let lists = futures_util::future::join_all(wanted.iter().map(|b| async move {
            let r = match rented.backends.get(*b) {
                Some(rb) => rb.provider.list().await.map_err(|e| e.to_string()),
                None => Err(format!("{b} is not configured in this server")),
            };
            ((*b).clone(), r)
        }))
        .await;
        let listings = Listings {
            by_backend: lists.into_iter().collect(),
        };
        for a in &open {
            if let Some(Err(e)) = listings.by_backend.get(&a.backend) {
                report.errors.push((a.job_id.clone(), e.clone()));
            }
        }
        for chunk in open.chunks(IN_FLIGHT) {
            let results = futures_util::future::join_all(
                chunk
                    .iter()
                    .map(|a| self.step_attempt(rented, a, &listings)),
            )
            .await;
            for (a, r) in chunk.iter().zip(results) {
                match r {
                    Ok(Some((id, state))) => report.finished.push((id, state)),
                    Ok(None) => {}
                    Err(e) => report.errors.push((a.job_id.clone(), e.to_string())),
                }
            }
        }
        Ok(())
    }

    async fn step_attempt(
        &self,
        rented: &Rented,
        a: &Attempt,
        listings: &Listings,
    ) -> Result<Option<(JobId, JobState)>, SchedulerError> {
        let Some(rb) = rented.backends.get(&a.backend) else {
            return Ok(None); // a provider no longer configured: left as it is until it is back
        };
        let offer = AttemptOffer::of(a).ok_or_else(|| {
            SchedulerError::Job(
                a.job_id.clone(),
                "its attempt's offer cannot be read".into(),
            )
        })?;
        let now = self.clock.now_ms();
        let action = decide::decide(
            a,
            offer.planned.offer.spot,
            listings.seen(a),
            now,
            &rented.timeouts,
        );
        // A spot job is checked against its deadline when it is due to be asked about.
        let action = match action {
            Action::Follow if offer.planned.offer.spot && !self.poll_due_peek(&a.job_id, now) => {
                Action::Follow
            }
            Action::Follow if offer.planned.offer.spot => self.spot_or_move(rented, a, now).await?,
            other => other,
        };
        let job = &a.job_id;
        let n = a.attempt;
        match action {
            Action::Wait => Ok(None),
            Action::QuoteAndCreate => {
                let quote = match rb.provider.quote(&offer.planned.offer).await {
                    Ok(q) => q,
                    Err(e) if e.kind.is_retryable() => return self.held_up(a, e).await,
                    Err(e) => return self.not_created(a, e).await,
                };
                let price = Micros::from_usd(quote.price_per_hour)
                    .map_err(|e| SchedulerError::Job(job.clone(), e.to_string()))?;
                let a = self
                    .store
                    .update_attempt(
                        job,
                        n,
                        &AttemptPatch {
                            step: Some(AttemptStep::Creating),
                            price_per_hour: Some(price),
                            storage_per_hour: Micros::from_usd(
                                rb.provider
                                    .storage_per_hour(self.disk_for(rented, rb, a).await?),
                            )
                            .ok(),
                            quote: Some(quote.detail.clone()),
                            create_sent_at_ms: Some(self.clock.now_ms()),
                            ..Default::default()
                        },
                        &format!(
                            "creating at ${:.4}/h (live: {}){}",
                            quote.price_per_hour,
                            quote.detail,
                            // Said when it happens, not only in the bill.
                            if quote.price_per_hour
                                > offer.planned.offer.expected_price_per_hour * 1.01
                            {
                                format!(
                                    "; the plan expected ${:.4}/h",
                                    offer.planned.offer.expected_price_per_hour
                                )
                            } else {
                                String::new()
                            }
                        ),
                    )
                    .await?;
                self.create(rented, rb, &a, &offer, quote).await
            }
            Action::Create => {
                let quote = ferry_cloud::Quote {
                    price_per_hour: a.price_per_hour.as_usd(),
                    ask: None,
                    detail: a.quote.clone().unwrap_or_default(),
                };
                // The quote's ask (a marketplace offer) is not stored: ask again.
                let quote = match rb.provider.quote(&offer.planned.offer).await {
                    Ok(q) => ferry_cloud::Quote {
                        price_per_hour: quote.price_per_hour,
                        ..q
                    },
                    Err(e) if e.kind.is_retryable() => return self.held_up(a, e).await,
                    Err(e) => return self.not_created(a, e).await,
                };
                self.create(rented, rb, a, &offer, quote).await
            }
            Action::Adopt { id } => {
                self.store
                    .update_attempt(
                        job,
                        n,
                        &AttemptPatch {
                            step: Some(AttemptStep::Provisioning),
                            instance_id: Some(id.clone()),
                            ..Default::default()
                        },
                        &format!("found instance {id} by its name {}", a.lease),
                    )
                    .await?;
                Ok(None)
            }
            Action::Ready { endpoint } => {
                let used = rb.ssh_override.clone().unwrap_or_else(|| endpoint.clone());
                self.store
                    .update_attempt(
                        job,
                        n,
                        &AttemptPatch {
                            step: Some(AttemptStep::Connecting),
                            endpoint: Some(serde_json::json!({
                                "provider": endpoint,
                                "ssh": used,
                            })),
                            ready_at_ms: Some(self.clock.now_ms()),
                            ..Default::default()
                        },
                        &format!(
                            "running at {}@{}:{}; waiting for SSH",
                            endpoint.user, endpoint.host, endpoint.port
                        ),
                    )
                    .await?;
                Ok(None)
            }
            Action::Connect => self.connect(rented, rb, a).await,
            // The provider's listing (one call per pass) already says whether the machine
            // lives; the job itself is asked over SSH at the remote poll's pace.
            Action::Follow if self.asked_recently(&a.job_id, now) => Ok(None),
            Action::Follow => self.follow(rented, rb, a).await,
            Action::Lost { cause } => {
                let why = format!(
                    "{}: the provider's listing no longer shows it",
                    cause.describe()
                );
                self.settle(rb, a, cause, Some(why), now).await
            }
            Action::Stop { cause, why } => {
                if a.step == AttemptStep::Running {
                    self.keep_log(rented, a).await;
                }
                self.stop(rb, a, cause, &why).await?;
                Ok(None)
            }
            Action::Terminate { id } => {
                if a.instance_id.is_none() {
                    // Ended before its create's answer came: found by name, adopted to be billed.
                    self.store
                        .update_attempt(
                            job,
                            n,
                            &AttemptPatch {
                                instance_id: Some(id.clone()),
                                ..Default::default()
                            },
                            &format!("found instance {id} by its name {}", a.lease),
                        )
                        .await?;
                }
                rb.provider
                    .terminate(&InstanceId(id))
                    .await
                    .map_err(|e| cloud(job, e))?;
                Ok(None)
            }
            Action::Gone => {
                let cause = a.cause.clone().unwrap_or(EndCause::NodeLost);
                self.settle(rb, a, cause, None, now).await
            }
        }
    }

    /// A running spot attempt goes on (`Follow`), unless its job is `deadline-spot` and
    /// has fallen so far behind that only on-demand can still meet the deadline: then it is
    /// stopped, to go on with the plan's on-demand offers.
    async fn spot_or_move(
        &self,
        rented: &Rented,
        a: &Attempt,
        now: i64,
    ) -> Result<Action, SchedulerError> {
        let Some(rec) = self.store.get(&a.job_id).await? else {
            return Ok(Action::Follow);
        };
        let Ok(payload) = JobPayload::from_value(&rec.task) else {
            return Ok(Action::Follow);
        };
        if payload.policy != ferry_policy::PolicyKind::DeadlineSpot {
            return Ok(Action::Follow);
        }
        let attempts = self.store.attempts(&a.job_id).await?;
        let mut standing = decide::standing(
            &payload,
            rec.submitted_at_ms,
            &attempts,
            now,
            self.remote_poll_ms,
        );
        // The task's own word on its progress, where it writes one, wins over run time.
        if let Some(s) = standing.as_mut()
            && let Ok(Some(f)) = self.executor(rented, a)?.progress(&a.job_id).await
        {
            s.done_s = (f * s.work_s as f64) as i64;
        }
        if !decide::leave_spot(standing) {
            return Ok(Action::Follow);
        }
        let s = standing.expect("leave_spot needs a standing");
        let h = |sec: i64| sec as f64 / 3600.0;
        Ok(Action::Stop {
            cause: EndCause::MovedToOnDemand,
            why: format!(
                "deadline-spot: {:.2} h of {:.2} h done with {:.2} h to the deadline; only on-demand can still finish in time",
                h(s.done_s),
                h(s.work_s),
                h(s.deadline_s - s.now_s)
            ),
        })
    }

    /// The disk a machine gets: the task's `disk_size`, else the provider's `disk_gb`,
    /// else the default.
    async fn disk_for(
        &self,
        rented: &Rented,
        rb: &RentedBackend,
        a: &Attempt,
    ) -> Result<u32, SchedulerError> {
        let task_disk = match self.store.get(&a.job_id).await? {
            Some(rec) => {
                JobPayload::from_value(&rec.task)
                    .map_err(|e| SchedulerError::Job(a.job_id.clone(), e))?
                    .disk_gb
            }
            None => None,
        };
        Ok(task_disk.or(rb.disk_gb).unwrap_or(rented.disk_gb))
    }

    async fn create(
        &self,
        rented: &Rented,
        rb: &RentedBackend,
        a: &Attempt,
        offer: &AttemptOffer,
        quote: ferry_cloud::Quote,
    ) -> Result<Option<(JobId, JobState)>, SchedulerError> {
        let job = &a.job_id;
        let lease = LeaseName::parse(&a.lease).ok_or_else(|| {
            SchedulerError::Job(job.clone(), format!("'{}' is not a lease name", a.lease))
        })?;
        let req = CreateRequest {
            name: lease,
            offer: offer.planned.offer.clone(),
            quote,
            public_key: rented.access.public_key.clone(),
            image: rb
                .image
                .clone()
                .unwrap_or_else(|| rb.provider.kind().default_image().to_string()),
            disk_gb: self.disk_for(rented, rb, a).await?,
            onstart: None,
        };
        match rb.provider.create(&req).await {
            Ok(id) => {
                crash_point("after-create");
                self.store
                    .update_attempt(
                        job,
                        a.attempt,
                        &AttemptPatch {
                            step: Some(AttemptStep::Provisioning),
                            instance_id: Some(id.0.clone()),
                            ..Default::default()
                        },
                        &format!("created instance {id}"),
                    )
                    .await?;
                Ok(None)
            }
            // A lost or garbled answer (5xx, a dropped connection, a body without the
            // documented shape): the instance may exist; the next pass looks for it by name
            // before creating again.
            Err(e) if e.kind.is_retryable() || e.kind == ErrorKind::Malformed => {
                self.held_up(a, e).await
            }
            Err(e) => self.not_created(a, e).await,
        }
    }

    /// A provider that cannot be reached (or answers 5xx, 429, garbage) before a machine is
    /// known: the error is recorded on the attempt for `ferry status`, and the call is made
    /// again next pass; after [`GIVE_UP_AFTER`] the attempt ends and the next offer is tried
    /// (a machine the lost calls made, if any, is found by the sweep).
    async fn held_up(
        &self,
        a: &Attempt,
        e: ferry_cloud::CloudError,
    ) -> Result<Option<(JobId, JobState)>, SchedulerError> {
        let now = self.clock.now_ms();
        if now - a.created_at_ms > GIVE_UP_AFTER.as_millis() as i64 {
            return self.not_created(a, e).await;
        }
        let words = format!("{e} ({}; trying again)", e.kind);
        if a.error.as_deref() != Some(words.as_str()) {
            self.store
                .update_attempt(
                    &a.job_id,
                    a.attempt,
                    &AttemptPatch {
                        error: Some(words),
                        ..Default::default()
                    },
                    "",
                )
                .await?;
        }
        Err(cloud(&a.job_id, e))
    }

    /// The provider refused to give a machine: the attempt ends with nothing to charge.
    async fn not_created(
        &self,
        a: &Attempt,
        e: ferry_cloud::CloudError,
    ) -> Result<Option<(JobId, JobState)>, SchedulerError> {
        let cause = EndCause::NotCreated {
            kind: e.kind.as_str().to_string(),
        };
        let mut a = a.clone();
        a.error = Some(format!("{} ({})", e, e.kind));
        self.end(
            &a,
            cause,
            Some(a.error.clone().unwrap_or_default()),
            self.clock.now_ms(),
            vec![],
        )
        .await
    }

    async fn connect(
        &self,
        rented: &Rented,
        rb: &RentedBackend,
        a: &Attempt,
    ) -> Result<Option<(JobId, JobState)>, SchedulerError> {
        crash_point("waiting-ssh");
        let exec = self.executor(rented, a)?;
        // The first round trip makes the job folder: it answers whether SSH works too.
        if let Err(e) = exec.ready().await {
            return Err(SchedulerError::Job(
                a.job_id.clone(),
                format!("waiting for SSH: {e}"),
            ));
        }
        // Written before the job is started: a crash in between finds it `Absent` and
        // starts it then (the start is idempotent).
        self.store
            .update_attempt(
                &a.job_id,
                a.attempt,
                &AttemptPatch {
                    step: Some(AttemptStep::Running),
                    ..Default::default()
                },
                "SSH answers; starting the job",
            )
            .await?;
        if let Err(e) = self.launch_on(rented, rb, a, &exec).await {
            let why = format!("could not start the job: {e}");
            self.stop(rb, a, EndCause::LaunchFailed, &why).await?;
        }
        Ok(None)
    }

    async fn launch_on(
        &self,
        _rented: &Rented,
        rb: &RentedBackend,
        a: &Attempt,
        exec: &SshBackend,
    ) -> Result<(), SchedulerError> {
        let rec = self
            .store
            .get(&a.job_id)
            .await?
            .ok_or_else(|| SchedulerError::Job(a.job_id.clone(), "no such job".into()))?;
        let p = JobPayload::from_value(&rec.task)
            .map_err(|e| SchedulerError::Job(rec.id.clone(), e))?;
        let mut envs = p.envs.clone();
        // Tasks resume from their checkpoints on a later attempt.
        envs.insert("FERRY_ATTEMPT".into(), a.attempt.to_string());
        let spec = LaunchSpec {
            job: rec.id.clone(),
            name: rec.name.clone(),
            workdir: p.workdir.clone(),
            envs,
            setup: p.setup.clone(),
            run: p.run.clone(),
            // The whole machine is the job's.
            gpus: (0..p.gpus).collect(),
            gpu_count: p.gpus,
            max_runtime: rec
                .max_runtime_s
                .map(|s| Duration::from_secs(s.max(0) as u64)),
            guard: match rb.provider.guard() {
                Guard::SelfTerminate(cmd) => Some(cmd),
                Guard::None(_) => None,
            },
        };
        exec.launch(&spec).await?;
        Ok(())
    }

    async fn follow(
        &self,
        rented: &Rented,
        rb: &RentedBackend,
        a: &Attempt,
    ) -> Result<Option<(JobId, JobState)>, SchedulerError> {
        let exec = self.executor(rented, a)?;
        match exec.status(&a.job_id).await? {
            Observed::Pending => {}
            Observed::Running { since_ms } => {
                self.mark_running(a, since_ms as i64).await?;
                crash_point("running");
            }
            Observed::Exited {
                code,
                signal,
                timed_out,
                cancelled,
                started_ms,
                finished_ms,
                ..
            } => {
                self.mark_running(a, started_ms as i64).await?;
                let cause = EndCause::from_exit(cancelled, timed_out, code, signal);
                self.keep_log(rented, a).await;
                self.store
                    .update_attempt(
                        &a.job_id,
                        a.attempt,
                        &AttemptPatch {
                            job_started_at_ms: Some(started_ms as i64),
                            job_ended_at_ms: Some(finished_ms as i64),
                            ..Default::default()
                        },
                        "",
                    )
                    .await?;
                let why = format!("the job ended: {}", cause.describe());
                self.stop(rb, a, cause, &why).await?;
            }
            Observed::Absent => {
                // Decided, never started (a crash came between): start it now.
                if let Err(e) = self.launch_on(rented, rb, a, &exec).await {
                    let why = format!("could not start the job: {e}");
                    self.stop(rb, a, EndCause::LaunchFailed, &why).await?;
                }
            }
            Observed::Unknown => {
                self.keep_log(rented, a).await;
                let why = "the job's supervisor vanished without recording an end";
                self.stop(rb, a, EndCause::NodeLost, why).await?;
            }
        }
        Ok(None)
    }

    async fn mark_running(&self, a: &Attempt, since_ms: i64) -> Result<(), SchedulerError> {
        if a.job_started_at_ms.is_none() {
            self.store
                .update_attempt(
                    &a.job_id,
                    a.attempt,
                    &AttemptPatch {
                        job_started_at_ms: Some(since_ms),
                        ..Default::default()
                    },
                    "the job started",
                )
                .await?;
        }
        let rec = self.store.get(&a.job_id).await?;
        if rec.is_some_and(|r| r.state == JobState::Starting) {
            let patch = ferry_store::JobPatch {
                started_at_ms: Some(since_ms),
                ..Default::default()
            };
            self.store
                .transition(&a.job_id, JobState::Running, &patch, "the job started")
                .await?;
        }
        Ok(())
    }

    /// Records why the attempt ends, then asks for its machine to be terminated (asked
    /// again each pass until a listing shows it gone).
    async fn stop(
        &self,
        rb: &RentedBackend,
        a: &Attempt,
        cause: EndCause,
        why: &str,
    ) -> Result<(), SchedulerError> {
        let now = self.clock.now_ms();
        self.store
            .update_attempt(
                &a.job_id,
                a.attempt,
                &AttemptPatch {
                    step: Some(AttemptStep::Terminating),
                    job_ended_at_ms: (a.step == AttemptStep::Running
                        && a.job_started_at_ms.is_some())
                    .then_some(now),
                    terminate_sent_at_ms: Some(now),
                    cause: Some(cause),
                    error: (!why.is_empty()).then(|| why.to_string()),
                    ..Default::default()
                },
                &format!("{why}; terminating the machine"),
            )
            .await?;
        if let Some(id) = &a.instance_id {
            rb.provider
                .terminate(&InstanceId(id.clone()))
                .await
                .map_err(|e| cloud(&a.job_id, e))?;
            crash_point("terminating");
        }
        Ok(())
    }

    /// The machine is gone (verified): charge its life and move the job on.
    async fn settle(
        &self,
        rb: &RentedBackend,
        a: &Attempt,
        cause: EndCause,
        why: Option<String>,
        gone_at: i64,
    ) -> Result<Option<(JobId, JobState)>, SchedulerError> {
        let mut a = a.clone();
        a.gone_at_ms = a.gone_at_ms.or(Some(gone_at));
        // A machine lost under a running job: the job ran until the machine was gone.
        if a.job_started_at_ms.is_some() && a.job_ended_at_ms.is_none() {
            a.job_ended_at_ms = Some(gone_at);
        }
        let charges = decide::charges(&a, gone_at, rb.provider.billing());
        // Where the provider reports what it charged, it is recorded beside Ferry's figure.
        if let Some(id) = &a.instance_id
            && let Ok(Some(usd)) = rb.provider.charged(&InstanceId(id.clone())).await
        {
            a.provider_charge = Micros::from_usd(usd).ok();
        }
        self.end(&a, cause, why, gone_at, charges).await
    }

    async fn end(
        &self,
        a: &Attempt,
        cause: EndCause,
        why: Option<String>,
        gone_at: i64,
        charges: Vec<ferry_store::LedgerEntry>,
    ) -> Result<Option<(JobId, JobState)>, SchedulerError> {
        let job = &a.job_id;
        let rec = self
            .store
            .get(job)
            .await?
            .ok_or_else(|| SchedulerError::Job(job.clone(), "no such job".into()))?;
        let payload =
            JobPayload::from_value(&rec.task).map_err(|e| SchedulerError::Job(job.clone(), e))?;
        let earlier = self.store.attempts(job).await?;
        let restarts_used = earlier
            .iter()
            .filter(|x| x.attempt < a.attempt)
            .filter(|x| {
                x.cause
                    .as_ref()
                    .is_some_and(|c| c.next_move() == NextMove::Restart)
            })
            .count() as u32;
        let mut then = decide::job_move(
            a,
            &cause,
            restarts_used,
            payload.max_restarts,
            payload.plan.first(),
            gone_at,
        );
        let total: i64 = charges.iter().map(|c| c.amount.0).sum();
        let mut note = String::new();
        if let Some(p) = a.provider_charge
            && (p.0 - total).abs() * 100 > total.max(1)
        {
            note = format!(
                "; the provider reports {p} charged, Ferry's figure is {} (over 1% apart)",
                Micros(total)
            );
        }
        if let JobMove::Finish { detail, patch, .. } = &mut then {
            // A stop decided by a budget was written on the job before it was sent.
            if let (EndCause::Cancelled, Some(why)) = (&cause, &rec.reason) {
                patch.reason = Some(why.clone());
                detail.clone_from(why);
            }
            detail.push_str(&note);
        }
        let finished = match &then {
            JobMove::Finish { state, .. } => Some((job.clone(), *state)),
            _ => None,
        };
        self.store
            .end_attempt(
                job,
                a.attempt,
                &AttemptPatch {
                    gone_at_ms: Some(gone_at),
                    job_ended_at_ms: a.job_ended_at_ms,
                    cause: Some(cause),
                    error: why.or_else(|| a.error.clone()),
                    provider_charge: a.provider_charge,
                    ..Default::default()
                },
                &charges,
                &then,
            )
            .await?;
        self.executors.lock().expect("executors").remove(&a.lease);
        Ok(finished)
    }

    /// The job's SSH executor on the attempt's machine (its own folder per lease, so two
    /// attempts never share one even on the same host).
    fn executor(&self, rented: &Rented, a: &Attempt) -> Result<Arc<SshBackend>, SchedulerError> {
        if let Some(e) = self.executors.lock().expect("executors").get(&a.lease) {
            return Ok(e.clone());
        }
        let ep: Endpoint = a
            .endpoint
            .as_ref()
            .and_then(|e| serde_json::from_value(e["ssh"].clone()).ok())
            .ok_or_else(|| {
                SchedulerError::Job(a.job_id.clone(), "its machine has no SSH endpoint".into())
            })?;
        let target = SshTarget {
            name: a.lease.clone(),
            destination: ep.host.clone(),
            port: Some(ep.port),
            user: Some(ep.user.clone()),
            identity_file: Some(rented.access.private_key.clone()),
            known_hosts_file: Some(rented.access.known_hosts.clone()),
            control_dir: rented.access.control_dir.clone(),
            host_key_alias: Some(a.lease.clone()),
            accept_new_host_key: true,
            ..SshTarget::default()
        };
        let exec = Arc::new(SshBackend::new(
            a.backend.clone(),
            Transport::Ssh(Box::new(target)),
            format!(".ferry/{}", a.lease),
        ));
        self.executors
            .lock()
            .expect("executors")
            .insert(a.lease.clone(), exec.clone());
        Ok(exec)
    }

    fn log_path(rented: &Rented, job: &JobId, attempt: u32) -> PathBuf {
        rented
            .log_dir
            .join(job.as_str())
            .join(format!("attempt-{attempt}.log"))
    }

    /// Copies the job's output off the machine before it is terminated.
    async fn keep_log(&self, rented: &Rented, a: &Attempt) {
        let Ok(exec) = self.executor(rented, a) else {
            return;
        };
        let mut data = Vec::new();
        let mut offset = 0;
        for _ in 0..1024 {
            match exec.logs(&a.job_id, offset).await {
                Ok(c) if !c.data.is_empty() => {
                    offset = c.next_offset;
                    data.extend_from_slice(c.data.as_bytes());
                }
                _ => break,
            }
        }
        let path = Self::log_path(rented, &a.job_id, a.attempt);
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let tmp = path.with_extension("tmp");
        if std::fs::write(&tmp, &data).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }

    /// A rented job's output: every earlier attempt's kept log, then the live one.
    pub async fn rented_logs(&self, job: &JobId, offset: u64) -> Result<LogChunk, SchedulerError> {
        let rented = self
            .rented
            .as_ref()
            .ok_or_else(|| SchedulerError::Job(job.clone(), "no rented backends".into()))?;
        let attempts = self.store.attempts(job).await?;
        let mut all: Vec<u8> = vec![];
        let mut live: Option<&Attempt> = None;
        for a in &attempts {
            match std::fs::read(Self::log_path(rented, job, a.attempt)) {
                Ok(b) => all.extend(b),
                Err(_) if a.step == AttemptStep::Running => live = Some(a),
                Err(_) => {}
            }
        }
        let kept = all.len() as u64;
        if let Some(a) = live
            && offset >= kept
        {
            let exec = self.executor(rented, a)?;
            let c = exec.logs(job, offset - kept).await?;
            return Ok(LogChunk {
                data: c.data,
                next_offset: kept + c.next_offset,
                complete: false,
            });
        }
        let from = (offset as usize).min(all.len());
        let data = String::from_utf8_lossy(&all[from..]).to_string();
        let done = attempts.iter().all(|a| a.step == AttemptStep::Ended);
        Ok(LogChunk {
            next_offset: all.len() as u64,
            complete: live.is_none() && done,
            data,
        })
    }

    /// Cancels a rented job in whatever step its attempt is.
    pub(crate) async fn cancel_rented(&self, rec: &JobRecord) -> Result<(), SchedulerError> {
        let Some(rented) = &self.rented else {
            return Ok(());
        };
        let attempts = self.store.attempts(&rec.id).await?;
        let Some(a) = attempts.iter().rev().find(|a| a.step != AttemptStep::Ended) else {
            return Ok(());
        };
        let Some(rb) = rented.backends.get(&a.backend) else {
            return Ok(());
        };
        match a.step {
            AttemptStep::Running => {
                let exec = self.executor(rented, a)?;
                exec.cancel(&rec.id).await?;
            }
            AttemptStep::Quoting => {
                self.end(a, EndCause::Cancelled, None, self.clock.now_ms(), vec![])
                    .await?;
            }
            AttemptStep::Terminating | AttemptStep::Ended => {}
            _ => {
                self.stop(rb, a, EndCause::Cancelled, "cancelled").await?;
            }
        }
        Ok(())
    }

    /// Every provider's instances that carry this install's tag but belong to no live
    /// attempt are terminated (`dry_run`: only listed). Untagged instances, and other
    /// installs', are never touched.
    pub async fn sweep(&self, dry_run: bool) -> Result<Vec<SweepFinding>, SchedulerError> {
        let Some(rented) = &self.rented else {
            return Ok(vec![]);
        };
        let mark = self.store.install_mark().await?;
        let mut found = vec![];
        let mut ids: Vec<&String> = rented.backends.keys().collect();
        ids.sort();
        for id in ids {
            let rb = &rented.backends[id];
            // One provider that cannot be listed holds up no other's sweep.
            let list = match rb.provider.list().await {
                Ok(l) => l,
                Err(e) => {
                    found.push(SweepFinding {
                        provider: id.clone(),
                        instance: String::new(),
                        name: String::new(),
                        status: String::new(),
                        verdict: SweepVerdict::NotOurs,
                        outcome: Some(format!("could not list: {e}")),
                    });
                    continue;
                }
            };
            for inst in list.iter().filter(|i| i.state.may_bill()) {
                let verdict = match inst.lease() {
                    Some(l) if l.install == mark => {
                        let attempts = self.store.attempts(&l.job).await.unwrap_or_default();
                        let live = attempts.iter().any(|a| {
                            a.attempt == l.attempt
                                && a.step != AttemptStep::Ended
                                && a.instance_id.as_ref().is_none_or(|x| x == &inst.id.0)
                        });
                        if live {
                            SweepVerdict::Kept
                        } else {
                            SweepVerdict::Orphan
                        }
                    }
                    _ => SweepVerdict::NotOurs,
                };
                let outcome = if verdict == SweepVerdict::Orphan && !dry_run {
                    Some(match rb.provider.terminate(&inst.id).await {
                        Ok(()) => "terminate sent".to_string(),
                        Err(e) => format!("terminate failed: {e}"),
                    })
                } else {
                    None
                };
                found.push(SweepFinding {
                    provider: id.clone(),
                    instance: inst.id.0.clone(),
                    name: inst.name.clone(),
                    status: inst.status_text.clone(),
                    verdict,
                    outcome,
                });
            }
        }
        Ok(found)
    }
}

/// For the crash tests: with `FERRY_CRASH_AT=<point>` in its environment, the server dies
/// on the spot at that point of the rented lifecycle, as `kill -9` would leave it (no
/// cleanup, no flush beyond what the store committed). Points: `after-create` (the
/// provider made the instance, Ferry has not recorded its id), `waiting-ssh`, `running`,
/// `terminating` (terminate sent, the end not recorded).
fn crash_point(point: &str) {
    if std::env::var("FERRY_CRASH_AT").is_ok_and(|p| p == point) {
        eprintln!("ferry: FERRY_CRASH_AT={point}: dying here");
        std::process::abort();
    }
}

fn cloud(job: &JobId, e: ferry_cloud::CloudError) -> SchedulerError {
    let kind = e.kind;
    let mut msg = e.to_string();
    if kind == ErrorKind::RateLimited {
        msg.push_str(" (asking again on a later pass)");
    }
    SchedulerError::Job(job.clone(), msg)
}
