//! The command line's shape. Each command's long help teaches its use with examples.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version,
    about = "Where should this GPU work run, and what will it really cost?",
    long_about = "Ferry compares every way of getting a GPU — your own hardware, academic clusters, \
GPU clouds, hyperscalers and decentralized markets — with numbers for your workload, every price \
with its source and date.\n\nStart with `ferry offers --gpu h100 --count 8`.",
    after_help = "Files: config ~/.config/ferry/config.toml (FERRY_CONFIG), price caches ~/.cache/ferry (FERRY_CACHE_DIR)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The GPU spec table: memory, bandwidth, dense BF16 and FP32 TFLOPS, power, price, sources.
    #[command(
        after_help = "Examples:\n  ferry gpus\n  ferry gpus a100            # all four A100 variants\n  ferry gpus 'NVIDIA H100 80GB HBM3' --wide\n  ferry gpus --json"
    )]
    Gpus(Box<GpusArgs>),
    /// GPU offers from every category, filtered and ranked, each price with its source and date.
    #[command(
        after_help = "Examples:\n  ferry offers --gpu h100 --count 8\n  ferry offers --gpu a100,h100 --vram 80GB.. --max-price-per-gpu 2.5 --sort price-per-gpu\n  ferry offers --category gpu-cloud,decentralized --spot --sort per-pflop\n  ferry offers --provider aws --region 'us-*' --csv > aws.csv\n\nOffers with no cash price (academic allocations, volunteer computing) pass price filters and are listed last."
    )]
    Offers(Box<OffersArgs>),
    /// Buy, rent, apply for an allocation, or mix? Every option's cost for your workload, ranked, with the reasons.
    #[command(
        after_help = "Examples:\n  ferry advise --gpu h100 --gpus 8 --hours-per-month 400 --months 36 --chart cost.svg\n  ferry advise --profile examples/profiles/phd-student.toml\n  ferry advise --gpu 4090 --utilization 40 --site office --currency CAD --json\n  ferry advise --gpu h100 --gpus 64 --demand 21504,0,0,21504,0,0 --months 6 --interruptible\n\nProfiles (TOML) hold everything the flags do and more; flags override the file. Every default and its source: docs/cost-model.md."
    )]
    Advise(Box<AdviseArgs>),
    /// Replay a job trace or a spot availability trace through Ferry's policies: cost, waits, deadlines, and how many GPUs to buy.
    #[command(
        after_help = "Examples:\n  ferry simulate --trace cluster04.csv --owned-gpus 256 --cloud-price 3 --policy owned-first --json\n  ferry simulate --trace cluster04.csv --owned-gpus 256 --cloud-price 3 --policy cheapest   # owned-only FIFO\n  ferry simulate --trace jobs.csv --cloud-price 3 --sweep-owned 0:512:64 --chart curve.svg\n  ferry simulate --spot-trace us-west-2a.json --job-hours 48 --deadline-hours 60 --changeover-hours 0.2 --policy deadline-spot --starts 300 --json\n\nJob traces: the ElasticFlow/ITP CSV as published (job_id, submission_time, num_iteration, model_name, deadline, batch_size, num_gpu, duration) or Ferry's CSV (id, submit_s, gpus, duration_s and optionally estimate_s, deadline_s, max_wait_s, budget_usd). Spot traces: {\"metadata\": {\"gap_seconds\": 600}, \"data\": [1, 0, ...]} (1 = a spot machine was available). The replay decides with the same policy code the server runs; the same inputs and --seed give the same report. See docs/simulate.md."
    )]
    Simulate(Box<SimulateArgs>),
    /// Run a task: rank every placement that fits by expected cost, then run it on the best configured one.
    #[command(
        after_help = "Examples:\n  ferry launch task.yaml --dry-run\n  ferry launch task.yaml --dry-run --json\n  ferry launch task.yaml --detach --max-runtime 12h\n  ferry launch spot-task.yaml --retry-until-up 2h\n\nTask files are a subset of SkyPilot's task YAML (name, resources with accelerators: A100:8, cpus, memory, cloud/infra, region, use_spot, disk_size, any_of, job_recovery; num_nodes, envs, workdir, file_mounts, setup, run) plus Ferry's keys: estimated_hours, max_price, deadline, categories, budget, policy (cheapest, owned-first or deadline-spot; the config's [scheduler] policy by default) and max_wait (owned-first: how long to wait for owned GPUs before renting, e.g. 2h), inputs_gb and outputs_gb (the data the job reads in and sends out: outputs_gb is priced at each provider's egress rate in the plan, and booked as its own `egress` line in the ledger).\n\nFerry runs the chosen placement on this host, on [[owned]] machines with a host (over SSH), on [[academic]] clusters with a host (Slurm; `categories: [academic]` sends a task there), and on machines it rents from RunPod, Lambda, Vast.ai and Paperspace ([providers.NAME] launch = true and an API key), AWS EC2 (the SDK's credentials chain), Google Cloud (a service-account key file) and Azure (a service principal). A hyperscaler placement over the account's GPU or vCPU quota is refused before launch, naming the quota and its value. A rented machine is created for the job, named after it, and terminated (verified) when the job ends; a create refused for no capacity, quota or price moves to the next offer of the plan, and `ferry status JOB` lists every offer tried. A preempted spot job goes back to the queue (job_recovery.max_restarts, 3 by default) and sees FERRY_ATTEMPT."
    )]
    Launch(Box<LaunchArgs>),
    /// Jobs: what is queued, running and finished; with a job id, that job in detail.
    #[command(
        after_help = "Examples:\n  ferry status\n  ferry status j-01jd5k2m9q8r0000      # one job: its attempts, their costs, its events\n  ferry status j-01jd5k2m9q8r0000 --json\n\nA job on a rented machine may run more than once: a create refused for no capacity, quota or price moves to the next offer of the plan, and a preempted spot machine puts the job back in the queue. The detail view lists every attempt (the offer, its quoted price, how it ended, what it cost) and says so when the job ended up on a pricier offer than the plan's first."
    )]
    Status {
        /// Show this job in detail: its attempts and its event log.
        job: Option<String>,
        /// Show at most this many jobs (most recent first).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// A job's output (stdout and stderr, interleaved).
    Logs {
        job: String,
        /// Keep printing until the job ends.
        #[arg(long, short)]
        follow: bool,
    },
    /// Stop a job and everything it started; a queued job is removed from the queue.
    Cancel { job: String },
    /// What the work cost, from the ledger (exact to the micro-dollar).
    #[command(
        after_help = "Examples:\n  ferry cost\n  ferry cost --by kind\n  ferry cost --by day --json\n\nRUN is the job's compute time; OVERHEAD is a rented machine's life outside the run (provisioning before it, teardown after it), which the provider bills all the same."
    )]
    Cost {
        /// Group by job, backend, day or kind (compute, overhead, ...).
        #[arg(long, value_enum, default_value_t = CostGrouping::Job)]
        by: CostGrouping,
        #[arg(long)]
        json: bool,
    },
    /// Every place Ferry can run work, asked what it has now: this host, owned machines over SSH, Slurm clusters; and the providers it rents from.
    #[command(
        after_help = "Exits 1 when a backend cannot be reached. Owned machines are probed with nvidia-smi over SSH (none found without the NVIDIA driver); Slurm clusters with sinfo. Rented providers ([providers.NAME] launch = true) are not probed: their machines are rented on demand, and the row says whether one can end itself if Ferry loses track of it."
    )]
    Backends {
        #[arg(long)]
        json: bool,
    },
    /// Find rented machines Ferry left behind (orphans) and terminate them.
    #[command(
        after_help = "Every instance each rented provider ([providers.NAME] launch = true and an API key) lists is judged:\n  kept      Ferry's, and a live attempt of one of its jobs holds it: left running\n  orphan    Ferry's, and no live attempt holds it: terminated (with --dry-run, only listed)\n  not ours  anything else: never touched\n\nAn instance is Ferry's only when its name is ferry-<install>-<job>-a<attempt> and <install> is the install id of this data folder (FERRY_DATA_DIR). Untagged instances (your own machines, other tools') and those of another Ferry install sharing the account are never touched.\n\nThe server also sweeps by itself, at start and every 5 minutes; this command runs a sweep now and shows what it found. Exits 1 when a terminate failed.\n\nExamples:\n  ferry sweep --dry-run\n  ferry sweep\n  ferry sweep --json"
    )]
    Sweep {
        /// List what would be terminated; terminate nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// What is left of each academic allocation, after the GPU-hours Ferry's jobs used there.
    #[command(
        after_help = "Usage is counted from Ferry's own jobs (GPUs x hours run), in GPU-hours and in the Alliance's reference GPU units (RGU: A100-40GB = 4.0, H100 = 12.2 per GPU-hour). Work submitted outside Ferry is not seen: `sshare -U` on the cluster shows the whole account."
    )]
    Allocation {
        #[arg(long)]
        json: bool,
    },
    /// The Ferry server: runs the jobs and keeps the ledger; started on demand.
    Server {
        #[command(subcommand)]
        command: ServerCommand,
    },
    /// Runs one job's supervisor (started by the server; not for direct use).
    #[command(name = "__supervise", hide = true)]
    Supervise { dir: PathBuf },
    /// The price catalog: where each provider's prices come from, refreshing them, checking a file.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// Ferry's configuration file.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Machine-readable JSON on stdout.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV on stdout (for offers: the catalog's own columns, so it can be edited and loaded back).
    #[arg(long)]
    pub csv: bool,
}

impl OutputArgs {
    pub fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else if self.csv {
            Format::Csv
        } else {
            Format::Table
        }
    }
}

#[derive(Debug, Args)]
pub struct GpusArgs {
    /// Only these models (any name: `a100`, `A100-80GB`, `NVIDIA A100-SXM4-80GB`).
    pub names: Vec<String>,
    /// Also show the sources of each number.
    #[arg(long)]
    pub wide: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct OffersArgs {
    /// GPU models, comma-separated or repeated; an ambiguous name (`a100`) keeps all its variants.
    #[arg(long, value_delimiter = ',')]
    pub gpu: Vec<String>,
    /// Per-GPU memory range: `24GB..80GB`, `40GB..`, `..48GB`, `80GB`.
    #[arg(long, value_name = "RANGE")]
    pub vram: Option<String>,
    /// GPUs per instance: `8`, `1..8`, `4..`.
    #[arg(long, value_name = "RANGE")]
    pub count: Option<String>,
    /// owned, academic, gpu-cloud, hyperscaler, decentralized (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub category: Vec<String>,
    /// Provider ids (aws, gcp, azure, lambda, runpod, paperspace, vastai, golem, boinc, alliance, owned).
    #[arg(long, value_delimiter = ',')]
    pub provider: Vec<String>,
    /// Region globs, case-insensitive: `us-*`, `*europe*`, `narval`.
    #[arg(long, value_delimiter = ',')]
    pub region: Vec<String>,
    /// Only offers with a spot / interruptible price, ranked by it.
    #[arg(long, conflicts_with = "on_demand")]
    pub spot: bool,
    /// Only offers with an on-demand price, ranked by it.
    #[arg(long)]
    pub on_demand: bool,
    /// Most per hour for the whole instance, USD.
    #[arg(long, value_name = "USD")]
    pub max_price: Option<f64>,
    /// Most per GPU-hour, USD.
    #[arg(long, value_name = "USD")]
    pub max_price_per_gpu: Option<f64>,
    /// Least availability (0..1); offers with no published figure are left out.
    #[arg(long, value_name = "FRACTION")]
    pub min_reliability: Option<f64>,
    /// Rank by: price (per hour), price-per-gpu, per-pflop (per dense-BF16 PFLOP-hour), per-gb-vram.
    #[arg(long, default_value = "price")]
    pub sort: String,
    /// Rows to show in the table (0 = all). JSON and CSV always give all.
    #[arg(long, default_value_t = 30)]
    pub limit: usize,
    /// Also show vCPUs, RAM, egress, billing, reliability and source.
    #[arg(long)]
    pub wide: bool,
    /// Also list older prices that a newer row of the same offer supersedes.
    #[arg(long)]
    pub history: bool,
    /// Warn about prices older than this many days (default: config catalog.max_age_days, else 90).
    #[arg(long, value_name = "DAYS")]
    pub max_age_days: Option<u32>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct LaunchArgs {
    /// The task file (YAML).
    pub task: PathBuf,
    /// Print the ranked plan and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Submit and return at once instead of following the job's output.
    #[arg(long)]
    pub detach: bool,
    /// Stop the job after this long: `90m`, `12h` (default: config local.max_runtime_hours).
    #[arg(long, value_name = "DURATION")]
    pub max_runtime: Option<String>,
    /// For rented work: when every offer of the plan is refused (no capacity), keep trying
    /// the plan again until this long after submission: `30m`, `6h`.
    #[arg(long, value_name = "DURATION")]
    pub retry_until_up: Option<String>,
    /// The project the job's cost counts against (a `[budget.projects]` cap applies to it).
    #[arg(long, value_name = "NAME")]
    pub project: Option<String>,
    /// Placements to show (0 = all).
    #[arg(long, default_value_t = 15)]
    pub limit: usize,
    /// The plan as JSON.
    #[arg(long)]
    pub json: bool,
}

/// How `ferry cost` groups the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CostGrouping {
    /// One row per job.
    Job,
    /// One row per backend (a rented job's charges go to the backend of each attempt).
    Backend,
    /// One row per UTC day.
    Day,
    /// One row per kind of charge (compute, overhead, storage, egress).
    Kind,
}

impl CostGrouping {
    pub fn name(self) -> &'static str {
        match self {
            CostGrouping::Job => "job",
            CostGrouping::Backend => "backend",
            CostGrouping::Day => "day",
            CostGrouping::Kind => "kind",
        }
    }
}

/// A scheduling policy (`ferry simulate --policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyChoice {
    /// Each job where it is cheapest, waiting there in submission order (with owned GPUs cheaper than the cloud: owned-only FIFO).
    Cheapest,
    /// Owned and academic GPUs first; rent only when waiting would miss the deadline or pass max_wait, within budget.
    OwnedFirst,
    /// Spot while progress keeps up with a uniform line to the deadline, on-demand when behind (Can't Be Late, NSDI '24).
    DeadlineSpot,
}

impl From<PolicyChoice> for ferry_policy::PolicyKind {
    fn from(p: PolicyChoice) -> ferry_policy::PolicyKind {
        match p {
            PolicyChoice::Cheapest => ferry_policy::PolicyKind::Cheapest,
            PolicyChoice::OwnedFirst => ferry_policy::PolicyKind::OwnedFirst,
            PolicyChoice::DeadlineSpot => ferry_policy::PolicyKind::DeadlineSpot,
        }
    }
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// A job trace (CSV) to replay through a cluster of owned, academic and rented GPUs.
    #[arg(long, value_name = "FILE", required_unless_present = "spot_trace")]
    pub trace: Option<PathBuf>,
    /// A spot availability trace (JSON). Alone: one deadline job replayed on it from many
    /// start points. With --trace and --policy deadline-spot: the cluster's spot capacity
    /// (rented jobs with a deadline run on spot while it has some), priced by --spot-price
    /// per GPU-hour.
    #[arg(long, value_name = "FILE")]
    pub spot_trace: Option<PathBuf>,
    /// The policy [default: owned-first for --trace, deadline-spot for --spot-trace].
    #[arg(long, value_enum)]
    pub policy: Option<PolicyChoice>,
    /// Owned GPUs in the pool (--trace).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub owned_gpus: u32,
    /// An owned GPU-hour's amortised cost, USD (0: marginal cost only, as the reference LP bound assumes).
    #[arg(long, value_name = "USD", default_value_t = 0.0)]
    pub owned_rate: f64,
    /// Rented on-demand capacity's price per GPU-hour, USD [default: the catalog's cheapest on-demand rental of --gpu].
    #[arg(long, value_name = "USD")]
    pub cloud_price: Option<f64>,
    /// The GPU model whose catalog prices are used where a price is not given.
    #[arg(long)]
    pub gpu: Option<String>,
    /// From the decision to rent to the job running, minutes.
    #[arg(long, value_name = "MINUTES", default_value_t = 0.0)]
    pub provision_minutes: f64,
    /// An academic allocation's GPUs (a second pool, free of charge, after a queue wait).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub academic_gpus: u32,
    /// The academic queue's wait before a job may start there, hours.
    #[arg(long, value_name = "HOURS", default_value_t = 0.0)]
    pub academic_wait_hours: f64,
    /// A hard cap on rented spend per 30-day month, USD.
    #[arg(long, value_name = "USD")]
    pub monthly_budget: Option<f64>,
    /// Replay once per owned-pool size FROM:TO:STEP and print the cost curve: how many GPUs to buy.
    #[arg(long, value_name = "FROM:TO:STEP")]
    pub sweep_owned: Option<String>,
    /// The deadline job's compute, hours (--spot-trace).
    #[arg(long, value_name = "HOURS")]
    pub job_hours: Option<f64>,
    /// Its deadline from its start, hours (--spot-trace).
    #[arg(long, value_name = "HOURS")]
    pub deadline_hours: Option<f64>,
    /// What each move onto a fresh machine costs in lost time, hours (--spot-trace).
    #[arg(long, value_name = "HOURS", default_value_t = 0.2)]
    pub changeover_hours: f64,
    /// Random start points in the spot trace.
    #[arg(long, default_value_t = 300)]
    pub starts: u32,
    /// Seed of the start points: the same seed, the same report.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// An on-demand machine's price per hour, USD [default: the catalog's cheapest 1-GPU spot-capable offer of --gpu].
    #[arg(long, value_name = "USD")]
    pub on_demand_price: Option<f64>,
    /// A spot machine's price per hour, USD [default: that offer's spot price]; with --trace, per GPU-hour (required there).
    #[arg(long, value_name = "USD")]
    pub spot_price: Option<f64>,
    /// Draw cost over time and owned-pool utilisation (or, with --sweep-owned, the cost curve) as .svg or .png.
    #[arg(long, value_name = "FILE")]
    pub chart: Option<PathBuf>,
    /// The report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AdviseArgs {
    /// A workload profile (TOML, see examples/profiles/); flags below override its values.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// The GPU model (any name `ferry gpus` knows).
    #[arg(long)]
    pub gpu: Option<String>,
    /// GPUs each job runs on side by side.
    #[arg(long)]
    pub gpus: Option<u32>,
    /// Usage as GPU-hours a month.
    #[arg(long, value_name = "GPU-HOURS", conflicts_with_all = ["utilization", "demand", "trace"])]
    pub hours_per_month: Option<f64>,
    /// Usage from your own history: a job trace (as `ferry simulate --trace` reads), priced
    /// month by month (30-day months from its first job), repeated over the horizon.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["utilization", "demand"])]
    pub trace: Option<PathBuf>,
    /// Usage as a share of the GPUs' time, percent.
    #[arg(long, value_name = "PERCENT", conflicts_with = "demand")]
    pub utilization: Option<f64>,
    /// Usage month by month (GPU-hours, comma-separated; one per month of the horizon).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub demand: Vec<f64>,
    /// Horizon in months.
    #[arg(long)]
    pub months: Option<u32>,
    /// USD or CAD (converted at the catalog's stated rate).
    #[arg(long)]
    pub currency: Option<String>,
    /// Data into the GPUs each month, GB.
    #[arg(long, value_name = "GB")]
    pub data_in: Option<f64>,
    /// Data out of the GPUs each month (egress), GB.
    #[arg(long, value_name = "GB")]
    pub data_out: Option<f64>,
    /// The work checkpoints and tolerates interruption (spot, interruptible hosts).
    #[arg(long)]
    pub interruptible: bool,
    /// Longest acceptable wait before a job starts, hours.
    #[arg(long, value_name = "HOURS")]
    pub max_wait_hours: Option<f64>,
    /// Eligible for the Alliance / Calcul Québec (a Canadian academic PI or sponsored).
    #[arg(long)]
    pub academic_eligible: bool,
    /// Academic allocation, GPU-years per year.
    #[arg(long, value_name = "GPU-YEARS")]
    pub allocation_gpu_years: Option<f64>,
    /// Electricity price for owned hardware, per kWh.
    #[arg(long, value_name = "PRICE")]
    pub electricity: Option<f64>,
    /// Power usage effectiveness of where owned hardware lives.
    #[arg(long)]
    pub pue: Option<f64>,
    /// Where owned hardware lives: office or datacenter.
    #[arg(long)]
    pub site: Option<String>,
    /// Write the cumulative cost per option over the horizon (.svg or .png).
    #[arg(long, value_name = "FILE")]
    pub chart: Option<PathBuf>,
    /// Everything as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Table width in characters (default: the terminal's, else 200).
    #[arg(long)]
    pub width: Option<u16>,
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Where each provider's prices come from (embedded, refreshed cache, your files) and how old they are.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Fetch current prices from the providers' public APIs into the local cache.
    #[command(
        after_help = "Sources: Vast.ai offer search, AWS EC2 price list and Azure Retail Prices need no \
account; RunPod and Lambda need an API key (config [providers.runpod] api_key, or RUNPOD_API_KEY / \
LAMBDA_API_KEY). A provider that fails or has no key is reported and does not block the others; a \
malformed answer leaves that provider's cache untouched.\n\nExamples:\n  ferry catalog refresh\n  ferry catalog refresh --provider vastai --provider aws"
    )]
    Refresh {
        /// Only these providers (repeatable or comma-separated).
        #[arg(long, value_delimiter = ',')]
        provider: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Validate an offer file (the catalog's CSV columns); every bad row is named by line.
    Check { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Run the server in the foreground.
    Run {
        /// Address to listen on (default 127.0.0.1 on a free port; keep it on loopback unless a proxy guards it).
        #[arg(long, default_value = "127.0.0.1:0")]
        bind: String,
    },
    /// Start it in the background (if it is not running).
    Start,
    /// Stop it; running jobs carry on under their supervisors and are picked up at the next start.
    Stop,
    /// Whether it runs, where, and with which GPUs.
    Status {
        /// As JSON (also when no server runs: `running` is false).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print where the config file is (and whether it exists).
    Path,
    /// Print the configuration in effect, secrets masked.
    Show {
        #[arg(long)]
        json: bool,
    },
}
