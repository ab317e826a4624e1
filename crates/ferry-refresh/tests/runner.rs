//! The refresh runner against a real local HTTP server answering with the recorded
//! payloads: caches are written and load back; a malformed answer leaves the cache
//! untouched; a missing key or a failing provider does not block the others.

use ferry_catalog::offer::Origin;
use ferry_catalog::{Catalog, Date};
use ferry_refresh::{Event, Outcome, Provider, Request, refresh};
use std::path::Path;
use std::sync::Mutex;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DAY: Date = Date {
    year: 2026,
    month: 11,
    day: Some(23),
};

fn fixture(p: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/{p}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn json(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "application/json")
        .set_body_string(body)
}

fn request(provider: Provider, server: &MockServer, dir: &Path, key: Option<&str>) -> Request {
    let endpoint = match provider {
        Provider::Vastai => format!("{}/api/v0/bundles/", server.uri()),
        Provider::Runpod => format!("{}/graphql", server.uri()),
        Provider::Lambda => format!("{}/api/v1/instance-types", server.uri()),
        Provider::Aws | Provider::Azure => server.uri(),
    };
    Request {
        provider,
        endpoint,
        api_key: key.map(String::from),
        regions: match provider {
            Provider::Aws => vec!["us-east-1".into()],
            Provider::Azure => vec!["eastus".into()],
            _ => vec![],
        },
        cache_file: dir.join(format!("{}.csv", provider.id())),
        spot: None,
    }
}

async fn mount_good(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/api/v0/bundles/"))
        .respond_with(json(fixture("vastai/good.json")))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(
            "/offers/v1.0/aws/AmazonEC2/current/us-east-1/index.json",
        ))
        .respond_with(json(fixture("aws/good.json")))
        .mount(server)
        .await;
    let page1 = fixture("azure/good_page1.json").replace("{{BASE_URL}}", &server.uri());
    Mock::given(method("GET"))
        .and(path("/api/retail/prices"))
        .and(query_param("$skip", "1000"))
        .respond_with(json(fixture("azure/good_page2.json")))
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/retail/prices"))
        .respond_with(json(page1))
        .with_priority(2)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(header("authorization", "Bearer rp-key"))
        .respond_with(json(fixture("runpod/good.json")))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/instance-types"))
        .and(header("authorization", "Bearer lb-key"))
        .respond_with(json(fixture("lambda/good.json")))
        .mount(server)
        .await;
}

async fn run(requests: Vec<Request>) -> (Vec<Outcome>, Vec<String>) {
    let events = Mutex::new(vec![]);
    let on_event = |e: Event| {
        let tag = match e {
            Event::Started { provider } => format!("start {provider}"),
            Event::Progress { provider, .. } => format!("progress {provider}"),
            Event::Finished { provider, ok, .. } => format!("finish {provider} {ok}"),
        };
        events.lock().unwrap().push(tag);
    };
    let out = refresh(requests, DAY, &on_event).await;
    (out, events.into_inner().unwrap())
}

#[tokio::test]
async fn all_five_sources_write_caches_that_load_back() {
    let server = MockServer::start().await;
    mount_good(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let keys = |p: Provider| match p {
        Provider::Runpod => Some("rp-key"),
        Provider::Lambda => Some("lb-key"),
        _ => None,
    };
    let requests = Provider::ALL
        .iter()
        .map(|p| request(*p, &server, dir.path(), keys(*p)))
        .collect();
    let (outcomes, events) = run(requests).await;
    let counts: Vec<(&str, usize)> = outcomes
        .iter()
        .map(|o| {
            (
                o.provider.id(),
                o.result.as_ref().unwrap_or_else(|e| panic!("{e}")).offers,
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("vastai", 6),
            ("aws", 5),
            ("azure", 4),
            ("runpod", 9),
            ("lambda", 9)
        ]
    );
    assert!(events.contains(&"finish azure true".to_string()));
    assert!(events.iter().any(|e| e == "progress azure"), "{events:?}");

    // The caches replace the embedded rows of their provider when the catalog loads.
    let mut catalog = Catalog::embedded();
    for p in Provider::ALL {
        let path = dir.path().join(format!("{}.csv", p.id()));
        let text = std::fs::read_to_string(&path).unwrap();
        let n = catalog.override_provider(p.id(), &text, Origin::File(path.display().to_string()));
        assert!(n > 0, "{p}");
    }
    assert!(catalog.rejected.is_empty(), "{:?}", catalog.rejected);
    let vast: Vec<_> = catalog
        .offers
        .iter()
        .filter(|o| o.provider == "vastai")
        .collect();
    assert_eq!(vast.len(), 6);
    assert!(vast.iter().all(|o| o.as_of == DAY));
}

#[tokio::test]
async fn a_malformed_answer_leaves_the_cache_untouched_and_others_proceed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v0/bundles/"))
        .respond_with(json(fixture("vastai/bad_missing_price.json")))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(json(fixture("runpod/bad_graphql_errors.json")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(
            "/offers/v1.0/aws/AmazonEC2/current/us-east-1/index.json",
        ))
        .respond_with(json(fixture("aws/good.json")))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let vast_cache = dir.path().join("vastai.csv");
    std::fs::write(&vast_cache, "previous cache\n").unwrap();

    let (outcomes, _) = run(vec![
        request(Provider::Vastai, &server, dir.path(), None),
        request(Provider::Runpod, &server, dir.path(), Some("rp-key")),
        request(Provider::Lambda, &server, dir.path(), None),
        request(Provider::Aws, &server, dir.path(), None),
    ])
    .await;
    let err = |i: usize| {
        outcomes[i]
            .result
            .as_ref()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    assert!(
        err(0).contains("vastai: offers[1].dph_base: missing"),
        "{}",
        err(0)
    );
    assert!(
        err(1).starts_with("runpod:") && err(1).contains("errors"),
        "{}",
        err(1)
    );
    assert!(
        err(2).contains("no API key") && err(2).contains("LAMBDA_API_KEY"),
        "{}",
        err(2)
    );
    assert!(outcomes[2].result.as_ref().err().unwrap().is_missing_key());
    assert_eq!(
        outcomes[3].result.as_ref().unwrap().offers,
        5,
        "aws is not blocked by the others"
    );

    assert_eq!(
        std::fs::read_to_string(&vast_cache).unwrap(),
        "previous cache\n"
    );
    assert!(!dir.path().join("runpod.csv").exists());
    assert!(!dir.path().join("lambda.csv").exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary files left behind");
}

#[tokio::test]
async fn http_errors_and_provider_error_bodies_are_named() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/instance-types"))
        .respond_with(ResponseTemplate::new(401).set_body_string(fixture("lambda/bad_error.json")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(
            "/offers/v1.0/aws/AmazonEC2/current/us-east-1/index.json",
        ))
        .respond_with(ResponseTemplate::new(503).set_body_string("<Error>Slow Down</Error>"))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let (outcomes, _) = run(vec![
        request(Provider::Lambda, &server, dir.path(), Some("bad-key")),
        request(Provider::Aws, &server, dir.path(), None),
    ])
    .await;
    let lambda = outcomes[0].result.as_ref().err().unwrap().to_string();
    assert!(
        lambda.contains("lambda") && lambda.contains("global/invalid-api-key"),
        "{lambda}"
    );
    let aws = outcomes[1].result.as_ref().err().unwrap().to_string();
    assert!(
        aws.starts_with("aws: HTTP 503") && aws.contains("Slow Down"),
        "{aws}"
    );
}

#[tokio::test]
async fn an_unreachable_provider_is_a_transport_error() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: bind, note the port, drop the listener.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (outcomes, _) = run(vec![Request {
        provider: Provider::Vastai,
        endpoint: format!("http://127.0.0.1:{port}/api/v0/bundles/"),
        api_key: None,
        regions: vec![],
        cache_file: dir.path().join("vastai.csv"),
        spot: None,
    }])
    .await;
    let e = outcomes[0].result.as_ref().err().unwrap().to_string();
    assert!(
        e.starts_with("vastai: cannot reach http://127.0.0.1:"),
        "{e}"
    );
}
