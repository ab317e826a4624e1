//! Batch scripts. The Alliance clusters want `--gpus-per-node=h100:N`; most other sites
//! take `--gres=gpu:N`. A request over the partition's wall-time cap is refused here, with
//! the reason, before anything is submitted.

use std::fmt::Write;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuFlag {
    /// `--gpus-per-node=<type>:<n>` (the Alliance's preferred form).
    GpusPerNode,
    /// `--gres=gpu[:<type>]:<n>`.
    Gres,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BatchRequest {
    pub job_name: String,
    /// `def-…`, `rrg-…`, `aip-…`, or none where the site needs no account.
    pub account: Option<String>,
    pub partition: Option<String>,
    pub time_limit: Duration,
    pub gpus: u32,
    /// The site's name for the GPU type (`h100`, `a100`); `None` takes any.
    pub gpu_type: Option<String>,
    pub gpu_flag: GpuFlag,
    pub cpus_per_task: Option<u32>,
    pub mem_gb: Option<u32>,
    /// Where `%j`-style paths resolve; the job's output and error files.
    pub output: String,
    pub error: String,
    pub workdir: String,
    /// Ferry's job id, used as the Slurm comment for reconciling.
    pub ferry_job: String,
    /// What the job runs (see [`crate::remote::JobBody`]).
    pub body: String,
}

/// `--time` as Slurm writes it: `D-HH:MM:SS`, rounded up to the minute.
pub fn slurm_time(d: Duration) -> String {
    let mins = d.as_secs().div_ceil(60).max(1);
    format!(
        "{}-{:02}:{:02}:00",
        mins / 1440,
        (mins % 1440) / 60,
        mins % 60
    )
}

/// Refuses a request over the partition's cap, saying both.
pub fn check_walltime(
    requested: Duration,
    cap: Option<Duration>,
    partition: &str,
) -> Result<(), String> {
    match cap {
        Some(c) if requested > c => Err(format!(
            "asks for {} but partition {partition} allows at most {}; shorten it (and checkpoint) or pick a longer partition",
            slurm_time(requested),
            slurm_time(c)
        )),
        _ => Ok(()),
    }
}

pub fn render(r: &BatchRequest) -> String {
    let mut s = String::from("#!/bin/bash\n");
    let mut opt = |line: String| {
        let _ = writeln!(s, "#SBATCH {line}");
    };
    opt(format!("--job-name={}", r.job_name));
    if let Some(a) = &r.account {
        opt(format!("--account={a}"));
    }
    if let Some(p) = &r.partition {
        opt(format!("--partition={p}"));
    }
    opt(format!("--time={}", slurm_time(r.time_limit)));
    if r.gpus > 0 {
        let typed = r
            .gpu_type
            .as_deref()
            .map(|t| format!("{t}:"))
            .unwrap_or_default();
        opt(match r.gpu_flag {
            GpuFlag::GpusPerNode => format!("--gpus-per-node={typed}{}", r.gpus),
            GpuFlag::Gres => format!("--gres=gpu:{typed}{}", r.gpus),
        });
    }
    if let Some(c) = r.cpus_per_task {
        opt(format!("--cpus-per-task={c}"));
    }
    if let Some(m) = r.mem_gb {
        opt(format!("--mem={m}G"));
    }
    opt(format!("--output={}", r.output));
    opt(format!("--error={}", r.error));
    opt(format!("--chdir={}", r.workdir));
    opt(format!("--comment=ferry:{}", r.ferry_job));
    s.push_str(&r.body);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> BatchRequest {
        BatchRequest {
            job_name: "finetune".into(),
            account: Some("def-someprof".into()),
            partition: None,
            time_limit: Duration::from_secs(3 * 3600),
            gpus: 2,
            gpu_type: Some("h100".into()),
            gpu_flag: GpuFlag::GpusPerNode,
            cpus_per_task: Some(8),
            mem_gb: Some(64),
            output: "/scratch/ferry/%j.out".into(),
            error: "/scratch/ferry/%j.err".into(),
            workdir: "/scratch/ferry/work".into(),
            ferry_job: "j-0001m84706hy0000".into(),
            body: "bash -c 'python train.py'\n".into(),
        }
    }

    #[test]
    fn alliance_style_script() {
        let s = render(&req());
        for line in [
            "#SBATCH --account=def-someprof",
            "#SBATCH --time=0-03:00:00",
            "#SBATCH --gpus-per-node=h100:2",
            "#SBATCH --cpus-per-task=8",
            "#SBATCH --mem=64G",
            "#SBATCH --comment=ferry:j-0001m84706hy0000",
            "#SBATCH --chdir=/scratch/ferry/work\n",
        ] {
            assert!(s.contains(line), "missing {line} in\n{s}");
        }
        assert!(
            s.ends_with("ferry:j-0001m84706hy0000\nbash -c 'python train.py'\n"),
            "{s}"
        );
    }

    #[test]
    fn gres_style_and_cpu_only() {
        let mut r = req();
        r.gpu_flag = GpuFlag::Gres;
        r.gpu_type = None;
        assert!(render(&r).contains("#SBATCH --gres=gpu:2\n"));
        r.gpus = 0;
        assert!(!render(&r).contains("gpu"));
    }

    #[test]
    fn wall_time() {
        assert_eq!(slurm_time(Duration::from_secs(90)), "0-00:02:00");
        assert_eq!(slurm_time(Duration::from_secs(7 * 86_400)), "7-00:00:00");
        let day = Some(Duration::from_secs(86_400));
        assert!(check_walltime(Duration::from_secs(86_400), day, "gpu").is_ok());
        let e = check_walltime(Duration::from_secs(86_401), day, "compute_full_node").unwrap_err();
        assert!(
            e.contains("at most 1-00:00:00") && e.contains("compute_full_node"),
            "{e}"
        );
    }
}
