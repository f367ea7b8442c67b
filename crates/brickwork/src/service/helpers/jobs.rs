//! Jobs 2.2 reads cut arrays at 100 items; these follow `next_page_token`
//! and merge the pages, as the official SDKs' `get`, `get_run`, `list` and
//! `list_runs` do.

use futures::StreamExt;

use crate::service::jobs::{
    BaseJob, BaseRun, Job, JobsApi, JobsGetRequest, JobsGetRunRequest, JobsListRequest, JobsListRunsRequest, Run,
};
use crate::service::Paginator;
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

    /// `jobs/list`; with `expand_tasks`, a job whose arrays were cut at 100
    /// is completed with a `get`, so every item carries all its tasks.
    pub fn list(&self, request: JobsListRequest) -> Paginator<BaseJob> {
        let expand = request.expand_tasks == Some(true);
        let raw = self.list_raw(request);
        if !expand {
            return raw;
        }
        let jobs = self.clone();
        Paginator::from_stream(raw.then(move |item| {
            let jobs = jobs.clone();
            async move { jobs.complete_job(item?).await }
        }))
    }

    async fn complete_job(&self, mut job: BaseJob) -> Result<BaseJob> {
        if job.has_more == Some(true) {
            let full = self.get(&JobsGetRequest { job_id: job.job_id, ..Default::default() }).await?;
            if let (Some(settings), Some(complete)) = (job.settings.as_mut(), full.settings) {
                settings.tasks = complete.tasks;
                settings.job_clusters = complete.job_clusters;
                settings.parameters = complete.parameters;
                settings.environments = complete.environments;
            }
        }
        job.has_more = None;
        Ok(job)
    }

    /// `jobs/runs/list`; with `expand_tasks`, truncated runs are completed with `get_run`.
    pub fn list_runs(&self, request: JobsListRunsRequest) -> Paginator<BaseRun> {
        let expand = request.expand_tasks == Some(true);
        let raw = self.list_runs_raw(request);
        if !expand {
            return raw;
        }
        let jobs = self.clone();
        Paginator::from_stream(raw.then(move |item| {
            let jobs = jobs.clone();
            async move { jobs.complete_run(item?).await }
        }))
    }

    async fn complete_run(&self, mut run: BaseRun) -> Result<BaseRun> {
        if run.has_more == Some(true) {
            let full = self.get_run(&JobsGetRunRequest { run_id: run.run_id, ..Default::default() }).await?;
            run.tasks = full.tasks;
            run.job_clusters = full.job_clusters;
            run.job_parameters = full.job_parameters;
            run.repair_history = full.repair_history;
        }
        run.has_more = None;
        Ok(run)
    }
}
