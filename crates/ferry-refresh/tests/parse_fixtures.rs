//! Every fixture through its source's parser: the good answers give exactly the offers
//! the documented shape implies; each malformed answer is an error naming the provider
//! and the field. Fixture expectations are listed in tests/fixtures/README.md.

use ferry_catalog::Date;
use ferry_refresh::sources::{aws, azure, lambda, runpod, vastai};
use ferry_refresh::{CacheRow, Fetched, RefreshError};

const DAY: Date = Date {
    year: 2026,
    month: 11,
    day: Some(23),
};

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn find<'a>(f: &'a Fetched, gpu: &str, count: u32) -> Vec<&'a CacheRow> {
    f.rows
        .iter()
        .filter(|r| r.gpu == gpu && r.gpu_count == count)
        .collect()
}

fn assert_rejects(result: Result<Fetched, RefreshError>, provider: &str, field: &str) {
    let err = result
        .err()
        .unwrap_or_else(|| panic!("expected an error naming {field}"));
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("{provider}: ")), "{msg}");
    assert!(msg.contains(field), "error should name '{field}': {msg}");
}

#[test]
fn vastai_good() {
    let f = vastai::parse(&fixture("vastai/good.json"), "http://x", DAY).unwrap();
    assert_eq!(f.rows.len(), 6, "{:#?}", f.rows);
    assert_eq!(f.skipped, 3);
    let h = find(&f, "H100-SXM", 1)[0];
    assert_eq!((h.price_hour, h.spot_price_hour), (Some(1.867), Some(1.12)));
    assert_eq!(h.region, "US");
    assert_eq!(
        find(&f, "A100-80GB-SXM", 8).len(),
        1,
        "gpu_ram picks the 80 GB A100"
    );
    assert_eq!(find(&f, "RTX-4090", 2)[0].price_hour, Some(0.70));
    assert_eq!(find(&f, "T4", 1).len(), 1);
    assert!(
        f.rows
            .iter()
            .all(|r| r.as_of == DAY && r.category == "decentralized")
    );
}

#[test]
fn vastai_bad() {
    let p = |f: &str| vastai::parse(&fixture(f), "http://x", DAY);
    assert_rejects(
        p("vastai/bad_missing_price.json"),
        "vastai",
        "offers[1].dph_base",
    );
    assert_rejects(
        p("vastai/bad_wrong_type.json"),
        "vastai",
        "offers[0].dph_base",
    );
    assert_rejects(
        p("vastai/bad_negative_price.json"),
        "vastai",
        "offers[1].dph_base",
    );
    assert_rejects(
        p("vastai/bad_gpu_ram_string.json"),
        "vastai",
        "offers[0].gpu_ram",
    );
    assert_rejects(p("vastai/bad_offers_not_array.json"), "vastai", "offers");
    assert_rejects(p("vastai/bad_error.json"), "vastai", "error");
    assert_rejects(p("vastai/bad_truncated.json"), "vastai", "not valid JSON");
}

#[test]
fn aws_good() {
    let f = aws::parse(&fixture("aws/good.json"), "http://x/index.json", DAY).unwrap();
    let got: Vec<(&str, &str, u32, f64)> = f
        .rows
        .iter()
        .map(|r| {
            (
                r.instance_type.as_str(),
                r.gpu.as_str(),
                r.gpu_count,
                r.price_hour.unwrap(),
            )
        })
        .collect();
    assert_eq!(got.len(), 5, "{got:?}");
    for want in [
        ("p5.48xlarge", "H100-SXM", 8, 55.04),
        ("p4d.24xlarge", "A100-40GB-SXM", 8, 21.957642),
        ("g5.xlarge", "A10G", 1, 1.006),
        ("g6.xlarge", "L4", 1, 0.8048),
        ("g4dn.xlarge", "T4", 1, 0.526),
    ] {
        assert!(got.contains(&want), "missing {want:?} in {got:?}");
    }
    assert!(
        f.rows
            .iter()
            .all(|r| r.region == "us-east-1" && r.spot_price_hour.is_none())
    );
}

#[test]
fn aws_bad() {
    let p = |f: &str| aws::parse(&fixture(f), "http://x", DAY);
    assert_rejects(p("aws/bad_missing_price.json"), "aws", "pricePerUnit");
    assert_rejects(p("aws/bad_wrong_type.json"), "aws", "pricePerUnit.USD");
    assert_rejects(p("aws/bad_negative_price.json"), "aws", "pricePerUnit.USD");
    assert_rejects(
        p("aws/bad_unparseable_price.json"),
        "aws",
        "pricePerUnit.USD",
    );
    assert_rejects(p("aws/bad_missing_products.json"), "aws", "products");
    assert_rejects(p("aws/bad_truncated.json"), "aws", "not valid JSON");
}

fn azure_pages(files: &[&str]) -> Result<Fetched, RefreshError> {
    let mut items = vec![];
    for f in files {
        let (page, _) = azure::parse_page(&fixture(f), items.len())?;
        items.extend(page);
    }
    azure::to_rows(&items, "http://x", DAY)
}

#[test]
fn azure_good_across_pages() {
    let (_, next) = azure::parse_page(&fixture("azure/good_page1.json"), 0).unwrap();
    assert!(next.unwrap().contains("{{BASE_URL}}"));
    let f = azure_pages(&["azure/good_page1.json", "azure/good_page2.json"]).unwrap();
    let got: Vec<(&str, Option<f64>, Option<f64>)> = f
        .rows
        .iter()
        .map(|r| (r.instance_type.as_str(), r.price_hour, r.spot_price_hour))
        .collect();
    assert_eq!(got.len(), 4, "{got:?}");
    for want in [
        ("Standard_NC24ads_A100_v4", Some(3.673), Some(1.4692)),
        ("Standard_NC4as_T4_v3", Some(0.526), None),
        ("Standard_ND96isr_H100_v5", Some(98.32), Some(29.496)),
        ("Standard_NC40ads_H100_v5", Some(6.98), None),
    ] {
        assert!(got.contains(&want), "missing {want:?} in {got:?}");
    }
    let h = f
        .rows
        .iter()
        .find(|r| r.instance_type == "Standard_ND96isr_H100_v5")
        .unwrap();
    assert_eq!((h.gpu.as_str(), h.gpu_count), ("H100-SXM", 8));
}

#[test]
fn azure_bad() {
    assert_rejects(
        azure_pages(&["azure/bad_missing_price.json"]),
        "azure",
        "Items[1].retailPrice",
    );
    assert_rejects(
        azure_pages(&["azure/bad_wrong_type.json"]),
        "azure",
        "Items[0].retailPrice",
    );
    assert_rejects(
        azure_pages(&["azure/bad_negative_price.json"]),
        "azure",
        "Items[1].retailPrice",
    );
    assert_rejects(
        azure_pages(&["azure/bad_price_as_string.json"]),
        "azure",
        "Items[0].retailPrice",
    );
    assert_rejects(
        azure_pages(&["azure/bad_missing_items.json"]),
        "azure",
        "Items",
    );
    assert_rejects(
        azure_pages(&["azure/bad_truncated.json"]),
        "azure",
        "not valid JSON",
    );
}

#[test]
fn runpod_good() {
    let f = runpod::parse(&fixture("runpod/good.json"), "http://x", DAY).unwrap();
    assert_eq!(f.rows.len(), 9, "{:#?}", f.rows);
    let h100: Vec<(&str, Option<f64>, Option<f64>)> = find(&f, "H100-SXM", 1)
        .iter()
        .map(|r| (r.region.as_str(), r.price_hour, r.spot_price_hour))
        .collect();
    assert_eq!(
        h100,
        [
            ("secure", Some(3.99), Some(1.75)),
            ("community", Some(2.69), Some(1.35))
        ]
    );
    let l4 = find(&f, "L4", 1);
    assert_eq!(l4.len(), 1, "L4 is not in community cloud");
    assert_eq!(l4[0].region, "secure");
    assert!(
        f.rows
            .iter()
            .all(|r| r.gpu_count == 1 && r.egress_per_gb == Some(0.0))
    );
}

#[test]
fn runpod_bad() {
    let p = |f: &str| runpod::parse(&fixture(f), "http://x", DAY);
    assert_rejects(
        p("runpod/bad_missing_price.json"),
        "runpod",
        "gpuTypes[1].securePrice",
    );
    assert_rejects(
        p("runpod/bad_wrong_type.json"),
        "runpod",
        "gpuTypes[0].communityPrice",
    );
    assert_rejects(
        p("runpod/bad_negative_price.json"),
        "runpod",
        "gpuTypes[1].communityPrice",
    );
    assert_rejects(p("runpod/bad_graphql_errors.json"), "runpod", "errors");
    let partial = p("runpod/bad_partial_errors.json")
        .err()
        .unwrap()
        .to_string();
    assert!(
        partial.contains("errors") && partial.contains("gpuTypes"),
        "{partial}"
    );
    assert_rejects(p("runpod/bad_gputypes_null.json"), "runpod", "gpuTypes");
    assert_rejects(p("runpod/bad_truncated.json"), "runpod", "not valid JSON");
}

#[test]
fn lambda_good() {
    let f = lambda::parse(&fixture("lambda/good.json"), "http://x", DAY).unwrap();
    assert_eq!(f.rows.len(), 9, "{:#?}", f.rows);
    let h: Vec<&str> = find(&f, "H100-SXM", 1)
        .iter()
        .map(|r| r.region.as_str())
        .collect();
    assert_eq!(h.len(), 2);
    assert!(h.contains(&"us-east-1") && h.contains(&"us-west-1"));
    assert_eq!(find(&f, "H100-SXM", 8)[0].price_hour, Some(31.92));
    assert_eq!(find(&f, "A100-40GB-SXM", 1)[0].price_hour, Some(1.99));
    assert_eq!(find(&f, "A100-80GB-SXM", 8)[0].price_hour, Some(22.32));
    assert_eq!(find(&f, "A10", 1).len(), 2);
    let b200 = find(&f, "B200", 8);
    assert_eq!(
        (b200.len(), b200[0].region.as_str()),
        (1, ""),
        "no capacity: one offer, no region"
    );
}

#[test]
fn lambda_bad() {
    let p = |f: &str| lambda::parse(&fixture(f), "http://x", DAY);
    assert_rejects(
        p("lambda/bad_missing_price.json"),
        "lambda",
        "price_cents_per_hour",
    );
    assert_rejects(
        p("lambda/bad_wrong_type.json"),
        "lambda",
        "price_cents_per_hour",
    );
    assert_rejects(
        p("lambda/bad_negative_price.json"),
        "lambda",
        "price_cents_per_hour",
    );
    assert_rejects(p("lambda/bad_missing_specs.json"), "lambda", "specs");
    let e = p("lambda/bad_error.json").err().unwrap().to_string();
    assert!(
        e.contains("error.code") && e.contains("global/invalid-api-key"),
        "{e}"
    );
    assert_rejects(p("lambda/bad_truncated.json"), "lambda", "not valid JSON");
}
