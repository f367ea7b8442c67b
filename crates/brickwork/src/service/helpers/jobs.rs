//! Jobs 2.2 reads cut arrays at 100 items; these follow `next_page_token`
//! and merge the pages, as the official SDKs' `get`, `get_run`, `list` and
//! `list_runs` do. Each is the generated call with a completing step, so
//! its setters work as on any call.

use crate::service::jobs::{
    BaseJob, BaseRun, Job, JobsApi, JobsGetRequest, JobsGetRunRequest, JobsListRequest, JobsListRunsRequest, Run,
};
use crate::service::runtime::BoxFuture;
use crate::service::{Call, Paginator};
use crate::{Client, Result};

impl JobsApi {
    /// `jobs/get` with every page of `tasks`, `job_clusters`, `parameters`
    /// and `environments` merged into one [`Job`] (one page: `get_page`).
    pub fn get(&self, job_id: i64) -> Call<JobsGetRequest, Job> {
        self.get_page(job_id).then(merge_job_pages)
    }

    /// `jobs/runs/get` with every page of `tasks` (or a for-each task's
    /// `iterations`), `job_clusters`, `job_parameters` and `repair_history`
    /// merged (one page: `get_run_page`).
    pub fn get_run(&self, run_id: i64) -> Call<JobsGetRunRequest, Run> {
        self.get_run_page(run_id).then(merge_run_pages)
    }

    /// `jobs/list`; with `expand_tasks`, a job whose arrays were cut at 100
    /// is completed with a `get`, so every item carries all its tasks.
    pub fn list(&self) -> Paginator<JobsListRequest, BaseJob> {
        self.list_raw().each(complete_job)
    }

    /// `jobs/runs/list`; with `expand_tasks`, truncated runs are completed with `get_run`.
    pub fn list_runs(&self) -> Paginator<JobsListRunsRequest, BaseRun> {
        self.list_runs_raw().each(complete_run)
    }
}

fn merge_job_pages(client: Client, request: JobsGetRequest, mut job: Job) -> BoxFuture<Result<Job>> {
    Box::pin(async move {
        let jobs = JobsApi::new(client);
        while let Some(token) = job.next_page_token.take().filter(|t| !t.is_empty()) {
            let page = jobs.get_page(request.job_id).with_request(request.clone()).page_token(token).await?;
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
    })
}

fn merge_run_pages(client: Client, request: JobsGetRunRequest, mut run: Run) -> BoxFuture<Result<Run>> {
    Box::pin(async move {
        let jobs = JobsApi::new(client);
        let paging_iterations = !run.iterations.is_empty();
        while let Some(token) = run.next_page_token.take().filter(|t| !t.is_empty()) {
            let page = jobs.get_run_page(request.run_id).with_request(request.clone()).page_token(token).await?;
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
    })
}

fn complete_job(client: Client, mut job: BaseJob) -> BoxFuture<Result<BaseJob>> {
    Box::pin(async move {
        if job.has_more == Some(true) {
            if let Some(job_id) = job.job_id {
                let full = JobsApi::new(client).get(job_id).await?;
                if let (Some(settings), Some(complete)) = (job.settings.as_mut(), full.settings) {
                    settings.tasks = complete.tasks;
                    settings.job_clusters = complete.job_clusters;
                    settings.parameters = complete.parameters;
                    settings.environments = complete.environments;
                }
            }
        }
        job.has_more = None;
        Ok(job)
    })
}

fn complete_run(client: Client, mut run: BaseRun) -> BoxFuture<Result<BaseRun>> {
    Box::pin(async move {
        if run.has_more == Some(true) {
            if let Some(run_id) = run.run_id {
                let full = JobsApi::new(client).get_run(run_id).await?;
                run.tasks = full.tasks;
                run.job_clusters = full.job_clusters;
                run.job_parameters = full.job_parameters;
                run.repair_history = full.repair_history;
            }
        }
        run.has_more = None;
        Ok(run)
    })
}
