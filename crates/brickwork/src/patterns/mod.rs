//! The production patterns teams keep writing around the official SDKs,
//! built in: a client registry for many tenants, cluster guards that always
//! clean up, a validated job builder with upsert, and bulk helpers.

mod bulk;
mod guards;
mod job_builder;
mod registry;

pub use crate::cleanup::{pending_background_cleanups, wait_for_background_cleanups};
pub use bulk::{delete_jobs_where, for_each_concurrent, BulkReport};
pub use guards::{
    ephemeral_cluster, managed_cluster, EphemeralOptions, ManagedOptions, DEFAULT_AUTOTERMINATION_MINUTES,
    EPHEMERAL_TAG,
};
pub use job_builder::{JobBuilder, JobSpec, JobSpecError, TaskProgress, TaskSpec, Upserted};
pub use registry::{env_prefix, ClientRegistry, ClientRegistryBuilder, DEFAULT_CAPACITY};
