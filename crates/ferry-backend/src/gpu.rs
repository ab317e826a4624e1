//! Finding this host's GPUs: NVML when a driver is there, the config's declaration when
//! testing scheduling on a machine without GPUs, otherwise none (a CPU-only job still runs).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuDevice {
    pub index: u32,
    /// As the driver names it (`NVIDIA H100 80GB HBM3`); `ferry gpus` resolves it.
    pub name: String,
    pub memory_gb: f64,
    pub uuid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuDetection {
    pub devices: Vec<GpuDevice>,
    /// `nvml`, `declared`, or `none`.
    pub source: &'static str,
    /// Why NVML found nothing, or the driver version when it did.
    pub detail: String,
}

/// Asks NVML. Never fails: a host without the NVIDIA driver has no GPUs.
pub fn detect_nvml() -> GpuDetection {
    let nvml = match nvml_wrapper::Nvml::init() {
        Ok(n) => n,
        Err(e) => {
            return GpuDetection {
                devices: vec![],
                source: "none",
                detail: format!("NVML unavailable ({e}); running without GPUs"),
            };
        }
    };
    let driver = nvml
        .sys_driver_version()
        .unwrap_or_else(|_| "unknown".into());
    let count = match nvml.device_count() {
        Ok(c) => c,
        Err(e) => {
            return GpuDetection {
                devices: vec![],
                source: "none",
                detail: format!("NVML could not count devices ({e})"),
            };
        }
    };
    let devices = (0..count)
        .filter_map(|i| {
            let d = nvml.device_by_index(i).ok()?;
            Some(GpuDevice {
                index: i,
                name: d.name().unwrap_or_else(|_| "unknown NVIDIA GPU".into()),
                memory_gb: d.memory_info().map(|m| m.total as f64 / 1e9).unwrap_or(0.0),
                uuid: d.uuid().ok(),
            })
        })
        .collect();
    GpuDetection {
        devices,
        source: "nvml",
        detail: format!("NVIDIA driver {driver}"),
    }
}

/// Devices declared in the config instead of detected: for testing queueing on a host
/// without GPUs, as Slurm sites declare fake GRES. Jobs see the indices in
/// `CUDA_VISIBLE_DEVICES` but no real device backs them.
pub fn declared(count: u32, name: &str, memory_gb: f64) -> GpuDetection {
    GpuDetection {
        devices: (0..count)
            .map(|index| GpuDevice {
                index,
                name: name.to_string(),
                memory_gb,
                uuid: None,
            })
            .collect(),
        source: "declared",
        detail: format!("{count} GPUs declared in the config (not detected)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_driver_there_are_no_gpus_and_it_says_why() {
        let d = detect_nvml();
        if d.source == "none" {
            assert!(d.devices.is_empty());
            assert!(d.detail.contains("NVML"), "{}", d.detail);
        } else {
            // On a GPU host: every device has a name and memory.
            assert!(
                d.devices
                    .iter()
                    .all(|g| !g.name.is_empty() && g.memory_gb > 0.0)
            );
        }
    }

    #[test]
    fn declared_devices() {
        let d = declared(2, "RTX 4090", 24.0);
        assert_eq!(
            d.devices.iter().map(|g| g.index).collect::<Vec<_>>(),
            [0, 1]
        );
        assert_eq!(d.source, "declared");
    }
}
