//! Rented machines: getting a GPU machine from a GPU cloud or a marketplace, and giving it
//! back. Running a job on the machine is not this crate's business: a ready instance is an
//! SSH endpoint, and `ferry-backend`'s SSH executor runs the job there.
//!
//! Each provider is one module under [`providers`] implementing [`Provider`]: create an
//! instance named after Ferry's lease, list every instance the account has (so that a lost
//! create answer is found again by name, and orphans are found at all), terminate one. The
//! lifecycle that strings these calls together, durably, lives in the scheduler; this crate
//! has no store and no clock.
//!
//! Errors are typed ([`ErrorKind`]) so that the scheduler can decide: a create refused for
//! no capacity moves on to the next offer, a 429 is retried after its `Retry-After`, a wrong
//! key is reported once and never retried in a loop. API keys are held in [`ApiKey`], which
//! never prints itself.
//!
//! The hyperscalers authenticate with short-lived OAuth tokens instead of a key: Google
//! Cloud's from a service account's signed JWT, Azure's from a service principal's secret.
//! [`oauth`] asks for and caches them; [`http::Api`] asks its [`http::TokenSource`] before
//! every request. AWS is not here: its SDK is heavy, and lives in `ferry-cloud-aws`.

pub mod billing;
pub mod error;
pub mod http;
pub mod keys;
pub mod names;
pub mod oauth;
pub mod provider;
pub mod providers;

pub use billing::Billing;
pub use error::{CloudError, ErrorKind};
pub use http::ApiKey;
pub use names::LeaseName;
pub use provider::{
    CreateRequest, Endpoint, Guard, Instance, InstanceId, InstanceState, OfferRef, Provider, Quote,
    ZonePrice,
};
pub use providers::{Account, ProviderKind};
