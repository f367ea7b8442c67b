//! Hand-written helpers beside the generated services, as the official SDKs
//! have them (Python `mixins/`, Go `*_ext_api.go`): merged paging of job
//! reads, cluster selection and start-if-needed, workspace upload/download,
//! DBFS streaming, statement execute-and-wait, library installs.

#[cfg(feature = "compute")]
mod compute;
#[cfg(feature = "files")]
mod files;
#[cfg(feature = "iam")]
mod iam;
#[cfg(feature = "jobs")]
mod jobs;
#[cfg(feature = "sql")]
mod sql;
#[cfg(feature = "files")]
mod uploads;
#[cfg(feature = "workspace")]
mod workspace;

#[cfg(feature = "compute")]
pub use compute::{NodeTypeFilter, SparkVersionFilter};
#[cfg(feature = "files")]
pub use uploads::{Progress, Upload, DEFAULT_PARALLELISM, DEFAULT_PART_SIZE};
#[cfg(feature = "workspace")]
pub use workspace::UploadOptions;
