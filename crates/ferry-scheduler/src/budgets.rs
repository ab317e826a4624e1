//! Budgets in the scheduler: what each cap has used this month, whether a launch fits,
//! and which running jobs to stop before a cap is passed. The rules are pure
//! (`ferry_policy::budget`); this module gathers their numbers from the store.
//!
//! Caps: the install's month (`budget.monthly_usd`), each user's and each project's month
//! (`[budget.users]`, `[budget.projects]`: a job counts against the user who launched it and
//! the project it was launched for), and a task's own `budget` over its whole life. Months
//! are UTC calendar months; owned time counts at its amortised rate, rented time as billed.

use crate::payload::JobPayload;
use crate::{
    BUDGET_MARGIN, Scheduler, SchedulerError, Tick, charge, expected_ms_of, remaining_cost,
};
use ferry_job::{JobId, JobState, Micros};
use ferry_policy::budget::{Cap, Charging, Scope};
use ferry_store::{JobRecord, LedgerFilter, NewJob};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The monthly caps, in exact money.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Budgets {
    /// Everything this install books in a month.
    pub monthly: Option<Micros>,
    pub users: BTreeMap<String, Micros>,
    pub projects: BTreeMap<String, Micros>,
}

impl Budgets {
    /// The monthly caps a job of this user and project counts against.
    fn scopes_for(&self, who: &Who) -> Vec<(Scope, Micros)> {
        let mut out = vec![];
        if let Some(m) = self.monthly {
            out.push((Scope::Monthly, m));
        }
        if let Some((u, m)) = who.user.as_ref().and_then(|u| self.users.get_key_value(u)) {
            out.push((Scope::User(u.clone()), *m));
        }
        if let Some((p, m)) = who
            .project
            .as_ref()
            .and_then(|p| self.projects.get_key_value(p))
        {
            out.push((Scope::Project(p.clone()), *m));
        }
        out
    }

    /// Every monthly cap.
    fn all(&self) -> Vec<(Scope, Micros)> {
        let mut out: Vec<(Scope, Micros)> = self
            .monthly
            .map(|m| (Scope::Monthly, m))
            .into_iter()
            .collect();
        out.extend(self.users.iter().map(|(u, m)| (Scope::User(u.clone()), *m)));
        out.extend(
            self.projects
                .iter()
                .map(|(p, m)| (Scope::Project(p.clone()), *m)),
        );
        out
    }

    fn per_scope(&self) -> bool {
        !(self.users.is_empty() && self.projects.is_empty())
    }
}

/// Whose a job is, for the caps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Who {
    pub user: Option<String>,
    pub project: Option<String>,
}

impl Who {
    pub(crate) fn of(p: &JobPayload) -> Who {
        Who {
            user: p.user.clone(),
            project: p.project.clone(),
        }
    }

    fn counts_for(&self, scope: &Scope) -> bool {
        match scope {
            Scope::Monthly => true,
            Scope::Task => false,
            Scope::User(u) => self.user.as_ref() == Some(u),
            Scope::Project(p) => self.project.as_ref() == Some(p),
        }
    }
}

/// One monthly cap's month so far (`ferry cost`, `/v1/budgets`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetUse {
    #[serde(flatten)]
    pub scope: Scope,
    /// `2026-12`.
    pub month: String,
    pub limit: Micros,
    /// What this month has booked against it.
    pub booked: Micros,
    /// What its unfinished jobs are still expected to cost.
    pub committed: Micros,
}

impl BudgetUse {
    /// The cap less what is booked.
    pub fn left(&self) -> Micros {
        Micros((self.limit.0 - self.booked.0).max(0))
    }
}

/// What the month has booked, by whose it is.
struct MonthBook {
    total: Micros,
    by_job: Vec<(Who, Micros)>,
}

impl MonthBook {
    fn used(&self, scope: &Scope) -> Micros {
        match scope {
            Scope::Monthly => self.total,
            _ => self
                .by_job
                .iter()
                .filter(|(w, _)| w.counts_for(scope))
                .map(|(_, m)| *m)
                .sum(),
        }
    }
}

impl Scheduler {
    /// Caps what is booked per UTC calendar month: a launch whose expected cost would pass
    /// one is refused with the numbers ([`Scheduler::check_budget`]), and running jobs are
    /// stopped before one is passed.
    pub fn set_budgets(&mut self, budgets: Budgets) {
        self.budgets = budgets;
    }

    /// Whose a job is (read once per job, then remembered: it never changes).
    async fn who_of(&self, id: &JobId) -> Result<Who, SchedulerError> {
        if let Some(w) = self.owners.lock().expect("owners").get(id) {
            return Ok(w.clone());
        }
        let who = match self.store.get(id).await? {
            Some(rec) => JobPayload::from_value(&rec.task)
                .map(|p| Who::of(&p))
                .unwrap_or_default(),
            None => Who::default(),
        };
        self.owners
            .lock()
            .expect("owners")
            .insert(id.clone(), who.clone());
        Ok(who)
    }

    async fn month_book(&self, now: i64) -> Result<MonthBook, SchedulerError> {
        let since = LedgerFilter {
            since_ms: Some(ferry_catalog::Date::of_epoch_ms(now).month_start_ms()),
            ..LedgerFilter::default()
        };
        if !self.budgets.per_scope() {
            return Ok(MonthBook {
                total: self.store.total(&since).await?,
                by_job: vec![],
            });
        }
        let mut per_job: HashMap<JobId, Micros> = HashMap::new();
        let mut total = Micros::ZERO;
        for e in self.store.ledger(&since).await? {
            *per_job.entry(e.entry.job_id.clone()).or_default() += e.entry.amount;
            total += e.entry.amount;
        }
        let mut by_job = Vec::with_capacity(per_job.len());
        for (id, amount) in per_job {
            by_job.push((self.who_of(&id).await?, amount));
        }
        Ok(MonthBook { total, by_job })
    }

    /// Each monthly cap with what the month has booked against it and what its unfinished
    /// jobs are still expected to cost.
    pub async fn budget_uses(&self) -> Result<Vec<BudgetUse>, SchedulerError> {
        let scopes = self.budgets.all();
        if scopes.is_empty() {
            return Ok(vec![]);
        }
        let now = self.clock.now_ms();
        let book = self.month_book(now).await?;
        let unfinished = self.unfinished_with_owner(now).await?;
        let month = ferry_catalog::Date::of_epoch_ms(now).month_label();
        Ok(scopes
            .into_iter()
            .map(|(scope, limit)| BudgetUse {
                booked: book.used(&scope),
                committed: committed(&unfinished, &scope),
                month: month.clone(),
                scope,
                limit,
            })
            .collect())
    }

    /// Unfinished jobs' owners and what each is still expected to cost.
    async fn unfinished_with_owner(&self, now: i64) -> Result<Vec<(Who, Micros)>, SchedulerError> {
        Ok(self
            .unfinished()
            .await?
            .iter()
            .map(|r| {
                let who = JobPayload::from_value(&r.task)
                    .map(|p| Who::of(&p))
                    .unwrap_or_default();
                (who, remaining_cost(r, now))
            })
            .collect())
    }

    /// Refuses a job whose expected cost would pass a cap it counts against (the month's,
    /// its user's, its project's, its own `budget`), with the numbers; under a cap, a job
    /// whose cost cannot be foreseen (no estimate, no maximum runtime) is refused too,
    /// since nothing could hold it to the cap.
    pub async fn check_budget(&self, job: &NewJob) -> Result<(), SchedulerError> {
        let payload = JobPayload::from_value(&job.task)
            .map_err(|e| SchedulerError::Job(job.id.clone(), e))?;
        let who = Who::of(&payload);
        let scopes = self.budgets.scopes_for(&who);
        if scopes.is_empty() && payload.budget.is_none() {
            return Ok(());
        }
        let Some(ms) = expected_ms_of(job.max_runtime_s, Some(&payload)) else {
            let cap = scopes
                .first()
                .map_or_else(|| Scope::Task.to_string(), |(s, _)| s.to_string());
            return Err(SchedulerError::Job(
                job.id.clone(),
                format!(
                    "{cap} applies and this job's cost cannot be foreseen: give the task estimated_hours, or launch with --max-runtime"
                ),
            ));
        };
        let expected = charge(job.placement.price_per_hour, ms);
        let mut caps = self.caps(&scopes).await?;
        if let Some(b) = payload.budget {
            caps.push(Cap {
                scope: Scope::Task,
                limit: b,
                used: Micros::ZERO,
            });
        }
        ferry_policy::budget::check_launch(&caps, expected)
            .map_err(|r| SchedulerError::Job(job.id.clone(), format!("refused: {r}")))
    }

    /// The caps of these scopes, each used by what is booked and what unfinished jobs
    /// under it are still expected to cost.
    pub(crate) async fn caps(
        &self,
        scopes: &[(Scope, Micros)],
    ) -> Result<Vec<Cap>, SchedulerError> {
        if scopes.is_empty() {
            return Ok(vec![]);
        }
        let now = self.clock.now_ms();
        let book = self.month_book(now).await?;
        let unfinished = self.unfinished_with_owner(now).await?;
        Ok(scopes
            .iter()
            .map(|(scope, limit)| Cap {
                scope: scope.clone(),
                limit: *limit,
                used: book.used(scope) + committed(&unfinished, scope),
            })
            .collect())
    }

    /// Stops running jobs before a cap is passed: under each monthly cap the newest first,
    /// once what the month has booked plus what they have accrued would reach it within
    /// [`BUDGET_MARGIN`]; a job with its own `budget` once its cost would. Why is written
    /// on the job before the stop is sent.
    pub(crate) async fn enforce_budgets(
        &self,
        unfinished: &[std::sync::Arc<JobRecord>],
        report: &mut Tick,
    ) -> Result<(), SchedulerError> {
        let now = self.clock.now_ms();
        let running: Vec<(&JobRecord, JobPayload)> = {
            let stopped = self.budget_stopped.lock().expect("budget stops");
            unfinished
                .iter()
                .filter(|r| r.state == JobState::Running && !stopped.contains(&r.id))
                .filter_map(|r| Some((&**r, JobPayload::from_value(&r.task).ok()?)))
                .collect()
        };
        if running.is_empty() {
            return Ok(());
        }
        let margin = BUDGET_MARGIN.as_millis() as i64;
        let accrued = |r: &JobRecord| Charging {
            accrued: charge(
                r.placement.price_per_hour,
                now - r.started_at_ms.unwrap_or(now),
            ),
            per_hour: r.placement.price_per_hour,
        };
        let mut stops: Vec<(&JobRecord, String)> = vec![];
        let scopes = self.budgets.all();
        if !scopes.is_empty() {
            let book = self.month_book(now).await?;
            for (scope, limit) in scopes {
                let mut under: Vec<&JobRecord> = running
                    .iter()
                    .filter(|(_, p)| Who::of(p).counts_for(&scope))
                    .map(|(r, _)| *r)
                    .collect();
                under.sort_by_key(|r| (r.started_at_ms, r.id.clone()));
                let charging: Vec<Charging> = under.iter().map(|r| accrued(r)).collect();
                let (stop, _) =
                    ferry_policy::budget::enforce(limit, book.used(&scope), &charging, margin);
                for i in stop {
                    stops.push((
                        under[i],
                        format!("stopped before {scope} of {limit} was passed"),
                    ));
                }
            }
        }
        for (r, p) in &running {
            let Some(limit) = p.budget else { continue };
            // Earlier attempts of a restarted job are booked already.
            let spent = self.store.total(&LedgerFilter::job(&r.id)).await?;
            let (stop, _) = ferry_policy::budget::enforce(limit, spent, &[accrued(r)], margin);
            if !stop.is_empty() {
                stops.push((
                    r,
                    format!("stopped before the task's budget of {limit} was passed"),
                ));
            }
        }
        for (r, reason) in stops {
            if !self
                .budget_stopped
                .lock()
                .expect("budget stops")
                .insert(r.id.clone())
            {
                continue; // stopped for another cap already
            }
            // Written first: the job's end says why, even across a restart.
            if let Err(e) = self.store.note_stop(&r.id, &reason).await {
                report.errors.push((r.id.clone(), e.to_string()));
                continue;
            }
            match self.cancel(&r.id).await {
                Ok(_) => report.budget_stopped.push(r.id.clone()),
                Err(e) => report.errors.push((r.id.clone(), e.to_string())),
            }
        }
        Ok(())
    }
}

/// What the unfinished jobs under `scope` are still expected to cost.
fn committed(unfinished: &[(Who, Micros)], scope: &Scope) -> Micros {
    unfinished
        .iter()
        .filter(|(w, _)| w.counts_for(scope))
        .map(|(_, m)| *m)
        .sum()
}
