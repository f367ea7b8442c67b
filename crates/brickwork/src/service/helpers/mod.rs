//! Hand-written helpers beside the generated services, as the official SDKs
//! have them (Python `mixins/`, Go `*_ext_api.go`): merged paging of job
//! reads, cluster selection and start-if-needed, workspace upload/download,
//! Files API transfers (multipart uploads; resumed, parallel downloads),
//! DBFS streaming, statement execute-and-wait, library installs.

/// `.await` on a transfer builder runs its `async fn run(self)`.
#[cfg(any(feature = "files", feature = "workspace"))]
macro_rules! run_on_await {
    ($builder:ty => $output:ty) => {
        impl ::std::future::IntoFuture for $builder {
            type Output = $crate::Result<$output>;
            type IntoFuture = $crate::service::runtime::BoxFuture<$crate::Result<$output>>;

            fn into_future(self) -> Self::IntoFuture {
                Box::pin(self.run())
            }
        }
    };
}

#[cfg(feature = "compute")]
mod compute;
#[cfg(feature = "files")]
mod copy;
#[cfg(feature = "files")]
mod dbfs;
#[cfg(feature = "files")]
mod downloads;
#[cfg(feature = "iam")]
mod iam;
#[cfg(feature = "jobs")]
mod jobs;
#[cfg(any(feature = "files", feature = "workspace"))]
mod local;
#[cfg(any(feature = "files", feature = "workspace"))]
mod progress;
#[cfg(feature = "sql")]
mod sql;
#[cfg(feature = "files")]
mod uploads;
#[cfg(feature = "workspace")]
mod workspace;

#[cfg(feature = "compute")]
pub use compute::{NodeTypeFilter, SparkVersionFilter};
#[cfg(feature = "files")]
pub use copy::{Copied, Copy, Location};
#[cfg(feature = "files")]
pub use dbfs::{DbfsDownload, DbfsUpload};
#[cfg(feature = "files")]
pub use downloads::{Download, DownloadStream, DEFAULT_RANGE_SIZE};
#[cfg(any(feature = "files", feature = "workspace"))]
pub use progress::Progress;
#[cfg(feature = "files")]
pub use uploads::{Upload, DEFAULT_PARALLELISM, DEFAULT_PART_SIZE};
#[cfg(feature = "workspace")]
pub use workspace::{ObjectDownload, ObjectExport, ObjectUpload, UploadOptions};
