//! Jobs 2.2 reads cut arrays at 100 items; these follow `next_page_token`
//! and merge the pages, as the official SDKs' `get` and `get_run` do.

use crate::service::jobs::{Job, JobsApi, JobsGetRequest, JobsGetRunRequest, Run};
use crate::Result;

impl JobsApi {
    /// `jobs/get` with every page of `tasks`, `job_clusters`, `parameters`
    /// and `environments` merged into one [`Job`].
    pub async fn get(&self, request: &JobsGetRequest) -> Result<Job> {
        let mut job = self.get_page(request).await?;
        while let Some(token) = job.next_page_token.take().filter(|t| !t.is_empty()) {
            let page = self.get_page(&JobsGetRequest { page_token: Some(token), ..request.clone() }).await?;
            if let (Some(settings), Some(more)) = (job.settings.as_mut(), page.settings) {
                settings.tasks.extend(more.tasks);
                settings.job_clusters.extend(more.job_clusters);
                settings.parameters.extend(more.parameters);
                settings.environments.extend(more.environments);
            }
            job.next_page_token = page.next_page_token;
        }
        job.has_more = None;
        Ok(job)
    }

    /// `jobs/runs/get` with every page of `tasks` (or a for-each task's
    /// `iterations`), `job_clusters`, `job_parameters` and `repair_history` merged.
    pub async fn get_run(&self, request: &JobsGetRunRequest) -> Result<Run> {
        let mut run = self.get_run_page(request).await?;
        let paging_iterations = !run.iterations.is_empty();
        while let Some(token) = run.next_page_token.take().filter(|t| !t.is_empty()) {
            let page = self.get_run_page(&JobsGetRunRequest { page_token: Some(token), ..request.clone() }).await?;
            if paging_iterations {
                run.iterations.extend(page.iterations);
            } else {
                run.tasks.extend(page.tasks);
            }
            run.job_clusters.extend(page.job_clusters);
            run.job_parameters.extend(page.job_parameters);
            run.repair_history.extend(page.repair_history);
            run.next_page_token = page.next_page_token;
        }
        run.has_more = None;
        Ok(run)
    }
}
