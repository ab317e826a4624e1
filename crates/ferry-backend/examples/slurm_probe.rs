//! Drives the Slurm backend against the Slurm this host runs (SLURM_CONF set):
//! `cargo run -p ferry-backend --example slurm_probe -- ROOT`.

use ferry_backend::slurm::backend::{Site, SlurmBackend};
use ferry_backend::slurm::script::GpuFlag;
use ferry_backend::transport::Transport;
use ferry_backend::{Backend, LaunchSpec, Observed};
use ferry_job::JobId;
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let root = std::env::args().nth(1).expect("usage: slurm_probe ROOT");
    let b = SlurmBackend::new(Site {
        id: "slurm:local".into(),
        transport: Transport::Local,
        root,
        account: None,
        partition: None,
        partition_caps: Default::default(),
        gpu_flag: GpuFlag::Gres,
        gpu_type: None,
        default_time: Duration::from_secs(300),
    });
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    for (i, run, gpus, cancel) in [
        (0u32, "echo gpus=$CUDA_VISIBLE_DEVICES; exit 0", 2, false),
        (1, "echo failing; exit 3", 0, false),
        (2, "sleep 120", 1, true),
    ] {
        let spec = LaunchSpec {
            job: JobId::new(base, i),
            name: format!("probe{i}"),
            workdir: None,
            envs: Default::default(),
            setup: None,
            run: run.into(),
            gpus: (0..gpus).collect(),
            max_runtime: None,
        };
        println!("estimate: {:?}", b.estimate_start(&spec));
        let h = b.launch(&spec).await.unwrap();
        let h2 = b.launch(&spec).await.unwrap();
        println!("job {i}: slurm id {} (again: {})", h.0, h2.0);
        if cancel {
            tokio::time::sleep(Duration::from_secs(2)).await;
            println!("  before cancel: {:?}", b.status(&spec.job).await.unwrap());
            b.cancel(&spec.job).await.unwrap();
        }
        for _ in 0..100 {
            let s = b.status(&spec.job).await.unwrap();
            if matches!(s, Observed::Exited { .. } | Observed::Unknown) {
                println!("  end: {s:?}");
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        println!("  logs: {:?}", b.logs(&spec.job, 0).await.unwrap().data);
    }
    println!("owned: {:?}", b.list_owned().await.unwrap().len());
}
