use ferry_catalog::{Category, GpuTable};
use ferry_task::{Deadline, Task};

const FULL: &str = r#"
name: finetune-7b
resources:
  accelerators: A100-80GB:8
  cpus: 32+
  memory: 256
  cloud: aws
  region: us-east-1
  use_spot: true
  disk_size: 512
num_nodes: 1
envs:
  MODEL: llama-7b
  EPOCHS: 3
workdir: .
file_mounts:
  /data: .
setup: |
  pip install -r requirements.txt
run: |
  python train.py --epochs $EPOCHS
estimated_hours: 12
max_price: 30
deadline: 48h
categories: [gpu-cloud, hyperscaler]
budget: 400
"#;

#[test]
fn a_full_skypilot_style_file() {
    let t = Task::parse(FULL, "task.yaml").unwrap();
    assert_eq!(t.name, "finetune-7b");
    let r = &t.resources[0];
    assert_eq!(r.accelerators[0].count, 8);
    let ids: Vec<&str> = r.accelerators[0]
        .models
        .iter()
        .map(|id| GpuTable::embedded().get(*id).id.as_str())
        .collect();
    assert_eq!(ids, ["A100-80GB-SXM", "A100-80GB-PCIe"]);
    assert_eq!(
        (r.cpus, r.memory_gb, r.disk_size_gb),
        (Some(32.0), Some(256.0), Some(512.0))
    );
    assert_eq!(
        (r.cloud.as_deref(), r.region.as_deref(), r.use_spot),
        (Some("aws"), Some("us-east-1"), true)
    );
    assert_eq!(t.envs["EPOCHS"], "3");
    assert_eq!(t.deadline, Some(Deadline::Within { hours: 48.0 }));
    assert_eq!(t.categories, [Category::GpuCloud, Category::Hyperscaler]);
    assert_eq!(
        (t.estimated_hours, t.max_price, t.budget),
        (Some(12.0), Some(30.0), Some(400.0))
    );
    assert!(t.setup.as_deref().unwrap().contains("pip install"));
    assert_eq!(t.max_gpus(), 8);
}

#[test]
fn accelerator_spellings_and_any_of() {
    let t = Task::parse("resources:\n  accelerators: {H100: 4}\nrun: x\n", "a.yaml").unwrap();
    assert_eq!(t.resources[0].accelerators[0].count, 4);
    assert_eq!(t.name, "a", "the file name when the task has none");
    let t = Task::parse(
        "resources:\n  accelerators: [A100:8, H100:8]\nrun: x\n",
        "t",
    )
    .unwrap();
    assert_eq!(t.resources[0].accelerators.len(), 2);
    let t = Task::parse("resources:\n  accelerators: T4\nrun: x\n", "t").unwrap();
    assert_eq!(t.resources[0].accelerators[0].count, 1);
    let t = Task::parse(
        "resources:\n  use_spot: true\n  any_of:\n    - accelerators: H100:8\n      infra: aws/us-west-2\n    - accelerators: A100:8\nrun: x\n",
        "t",
    )
    .unwrap();
    assert_eq!(t.resources.len(), 2);
    assert!(
        t.resources.iter().all(|r| r.use_spot),
        "options inherit the top level"
    );
    assert_eq!(
        (
            t.resources[0].cloud.as_deref(),
            t.resources[0].region.as_deref()
        ),
        (Some("aws"), Some("us-west-2"))
    );
    let cpu_only = Task::parse("run: echo hi\n", "t").unwrap();
    assert!(cpu_only.resources[0].accelerators.is_empty());
    assert_eq!(cpu_only.max_gpus(), 0);
}

fn err(text: &str) -> String {
    Task::parse(text, "task.yaml").unwrap_err().to_string()
}

#[test]
fn an_unknown_key_names_key_line_column_and_suggests() {
    let e = err("name: x\nresources:\n  acelerators: A100:8\nrun: echo\n");
    assert!(
        e.starts_with("task.yaml:3:3: acelerators: unknown key; did you mean `accelerators`?"),
        "{e}"
    );
    let e = err("name: x\nrun: echo\nestimated_hour: 3\n");
    assert!(
        e.starts_with("task.yaml:3:1: estimated_hour:")
            && e.contains("did you mean `estimated_hours`"),
        "{e}"
    );
}

#[test]
fn a_wrong_type_names_line_and_column() {
    let e = err("run: x\nnum_nodes: many\n");
    assert!(e.starts_with("task.yaml:2:12:"), "{e}");
    let e = err("run: x\nresources:\n  use_spot: sometimes\n");
    assert!(e.starts_with("task.yaml:3:13:"), "{e}");
}

#[test]
fn malformed_yaml_is_placed() {
    let e = err("name: [\nrun: x\n");
    assert!(e.starts_with("task.yaml:"), "{e}");
    assert!(Task::parse("name: [\n", "t").unwrap_err().line.is_some());
}

#[test]
fn semantic_errors_name_the_key_and_line() {
    let e = err("resources:\n  accelerators: H1000:8\nrun: x\n");
    assert!(
        e.starts_with("task.yaml:2:3: resources.accelerators:")
            && e.contains("unknown GPU 'H1000'"),
        "{e}"
    );
    let e = err("resources:\n  accelerators: A100:0\nrun: x\n");
    assert!(e.contains("at least 1 GPU"), "{e}");
    let e = err("resources:\n  accelerators: A100:eight\nrun: x\n");
    assert!(e.contains("whole number"), "{e}");
    let e = err("run: x\nmax_price: -2\n");
    assert!(e.starts_with("task.yaml:2:1: max_price:"), "{e}");
    let e = err("run: x\ncategories: [hybrid]\n");
    assert!(
        e.contains("categories") && e.contains("unknown category"),
        "{e}"
    );
    let e = err("run: x\ndeadline: soon\n");
    assert!(e.contains("deadline") && e.contains("48h"), "{e}");
    let e = err("run: x\nnum_nodes: 0\n");
    assert!(e.contains("num_nodes: must be >= 1"), "{e}");
    let e = err("resources:\n  cpus: lots\nrun: x\n");
    assert!(e.contains("resources.cpus"), "{e}");
    let e = err("resources:\n  cloud: aws\n  infra: gcp\nrun: x\n");
    assert!(e.contains("not both"), "{e}");
}

#[test]
fn a_policy_and_a_longest_wait() {
    let t = Task::parse("run: x\npolicy: owned-first\nmax_wait: 90m\n", "t").unwrap();
    assert_eq!(t.policy, Some(ferry_policy::PolicyKind::OwnedFirst));
    assert_eq!(t.max_wait_s, Some(5400));
    assert_eq!(
        Task::parse("run: x\nmax_wait: 0m\n", "t")
            .unwrap()
            .max_wait_s,
        Some(0)
    );
    assert_eq!(
        Task::parse("run: x\nmax_wait: 1.5d\n", "t")
            .unwrap()
            .max_wait_s,
        Some(129_600)
    );
    let none = Task::parse("run: x\n", "t").unwrap();
    assert_eq!((none.policy, none.max_wait_s), (None, None));
    let e = err("run: x\npolicy: fifo\n");
    assert!(
        e.starts_with("task.yaml:2:1: policy:") && e.contains("owned-first"),
        "{e}"
    );
    for bad in ["soon", "-2h", "5y", "h"] {
        let e = err(&format!("run: x\nmax_wait: {bad}\n"));
        assert!(
            e.starts_with("task.yaml:2:1: max_wait:") && e.contains("90m"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn run_is_required() {
    let e = err("name: x\nsetup: echo\n");
    assert!(e.contains("run: is missing"), "{e}");
    assert!(err("run: '   '\n").contains("run: is missing"));
}

#[test]
fn deadlines() {
    let t = Task::parse("run: x\ndeadline: 2026-12-01T18:30:00Z\n", "t").unwrap();
    // 2026-12-01 is day 20788 since the epoch.
    assert_eq!(
        t.deadline,
        Some(Deadline::At {
            unix_seconds: 20_788 * 86_400 + 18 * 3600 + 30 * 60
        })
    );
    let t = Task::parse("run: x\ndeadline: 3d\n", "t").unwrap();
    assert_eq!(t.deadline, Some(Deadline::Within { hours: 72.0 }));
    assert!(Task::parse("run: x\ndeadline: 2026-13-01\n", "t").is_err());
}

#[test]
fn paths_are_checked_against_the_task_folder() {
    let dir = std::env::temp_dir().join(format!("ferry-task-test-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let t = Task::parse("workdir: src\nrun: x\n", "t").unwrap();
    assert_eq!(t.check_paths(&dir, "t").unwrap(), Some(dir.join("src")));
    let t = Task::parse("workdir: nope\nrun: x\n", "t").unwrap();
    let e = t.check_paths(&dir, "t.yaml").unwrap_err().to_string();
    assert!(
        e.starts_with("t.yaml: workdir:") && e.contains("does not exist"),
        "{e}"
    );
    let t = Task::parse("file_mounts:\n  /data: missing-dir\nrun: x\n", "t").unwrap();
    assert!(
        t.check_paths(&dir, "t")
            .unwrap_err()
            .to_string()
            .contains("file_mounts./data")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

proptest::proptest! {
    #[test]
    fn never_panics_on_any_text(s in "\\PC{0,200}") {
        let _ = Task::parse(&s, "fuzz.yaml");
    }

    #[test]
    fn never_panics_on_yamlish_text(lines in proptest::collection::vec("[a-z_]{1,12}: ?[A-Za-z0-9:+\\-\\[\\], ]{0,12}", 0..8)) {
        let _ = Task::parse(&lines.join("\n"), "fuzz.yaml");
    }
}
