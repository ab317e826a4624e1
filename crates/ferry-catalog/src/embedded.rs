//! The snapshot compiled into the binary: GPU specs, offers (one file per provider) and
//! currency rates. Edit the files under `data/`; every row carries its source and date.

pub const GPUS_CSV: &str = include_str!("../data/gpus.csv");
pub const FX_CSV: &str = include_str!("../data/offers/fx.csv");
/// The day the snapshot was assembled (each row has its own `as_of`).
pub const SNAPSHOT_DATE: &str = include_str!("../data/SNAPSHOT_DATE");

/// (provider, CSV text), in the order `ferry offers` lists providers.
pub const OFFER_FILES: &[(&str, &str)] = &[
    ("aws", include_str!("../data/offers/aws.csv")),
    ("gcp", include_str!("../data/offers/gcp.csv")),
    ("azure", include_str!("../data/offers/azure.csv")),
    ("lambda", include_str!("../data/offers/lambda.csv")),
    ("runpod", include_str!("../data/offers/runpod.csv")),
    ("paperspace", include_str!("../data/offers/paperspace.csv")),
    ("vastai", include_str!("../data/offers/vastai.csv")),
    ("golem", include_str!("../data/offers/golem.csv")),
    ("boinc", include_str!("../data/offers/boinc.csv")),
    ("alliance", include_str!("../data/offers/alliance.csv")),
];
