//! Prints the advice for a profile: `cargo run -p ferry-tco --example advise -- PROFILE.toml
//! [--json]`. The library does no I/O; this example reads the file.

use ferry_catalog::Catalog;
use ferry_tco::{Profile, advise, comparison_table};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: advise PROFILE.toml [--json]");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(1)
    });
    let profile = Profile::from_toml(&text).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(1)
    });
    let advice = advise(&profile, &Catalog::embedded()).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(1)
    });
    if args.iter().any(|a| a == "--json") {
        println!(
            "{}",
            serde_json::to_string_pretty(&advice).expect("advice serialises")
        );
        return;
    }
    let table = comparison_table(&advice);
    println!("{:<22} {}", "", table.columns.join(" | "));
    for row in &table.rows {
        println!("{:<22} {}", row.criterion, row.cells.join(" | "));
    }
    println!();
    for e in &advice.estimates {
        println!("== {} ({})", e.approach, e.pricing);
        for l in &e.line_items {
            println!("   {:<28} {:>14.2}  {}", l.name, l.total, l.explanation);
        }
        for w in &e.warnings {
            println!("   ! {w}");
        }
    }
    println!();
    if let Some(r) = &advice.recommendation {
        for reason in &r.reasons {
            println!("- {reason}");
        }
    }
    println!("currency: {}", advice.currency.rate_note);
}
