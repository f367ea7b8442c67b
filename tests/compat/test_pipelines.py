"""Lakeflow Declarative Pipelines through the official SDK: updates, events, stop, and a job's pipeline task."""

import base64
import time

import pytest
from databricks.sdk.errors import NotFound, PermissionDenied, ResourceConflict
from databricks.sdk.service import jobs, pipelines, workspace

OK = "# Databricks notebook source\nprint('tables')\n"
BAD = "# Databricks notebook source\nraise ValueError(\"bad expectation\")\n"


def notebook(w, path, source):
    w.workspace.mkdirs(path.rsplit("/", 1)[0])
    w.workspace.import_(path=path, content=base64.b64encode(source.encode()).decode(),
                        format=workspace.ImportFormat.SOURCE, language=workspace.Language.PYTHON, overwrite=True)


def library(path):
    return [pipelines.PipelineLibrary(notebook=pipelines.NotebookLibrary(path=path))]


def settled(w, pipeline_id, update_id):
    for _ in range(200):
        state = w.pipelines.get_update(pipeline_id, update_id).update.state
        if state in (pipelines.UpdateInfoState.COMPLETED, pipelines.UpdateInfoState.FAILED,
                     pipelines.UpdateInfoState.CANCELED):
            return state
        time.sleep(0.05)
    raise AssertionError("the update did not end")


def test_a_pipeline_updates_fails_on_a_bad_notebook_stops_and_runs_from_a_job(w, user_w):
    notebook(w, "/Shared/dlt/ok", OK)
    notebook(w, "/Shared/dlt/bad", BAD)
    pid = w.pipelines.create(name="compat-dlt", catalog="main", schema="default",
                             libraries=library("/Shared/dlt/ok")).pipeline_id
    got = w.pipelines.get(pid)
    assert got.state == pipelines.PipelineState.IDLE and got.spec.catalog == "main"
    with pytest.raises(ResourceConflict):
        w.pipelines.create(name="compat-dlt", catalog="main", schema="default")

    first = w.pipelines.start_update(pid).update_id
    assert settled(w, pid, first) == pipelines.UpdateInfoState.COMPLETED
    messages = [e.message for e in w.pipelines.list_pipeline_events(pid)]
    assert any("COMPLETED" in m for m in messages), messages
    assert [s.pipeline_id for s in w.pipelines.list_pipelines(filter="name LIKE '%compat-dlt%'")] == [pid]

    w.pipelines.update(pid, name="compat-dlt", catalog="main", schema="default", libraries=library("/Shared/dlt/bad"))
    failed = w.pipelines.start_update(pid).update_id
    assert settled(w, pid, failed) == pipelines.UpdateInfoState.FAILED
    assert w.pipelines.get(pid).health == pipelines.GetPipelineResponseHealth.UNHEALTHY
    errors = [e for e in w.pipelines.list_pipeline_events(pid) if e.level == pipelines.EventLevel.ERROR]
    assert "bad expectation" in errors[0].message

    w.pipelines.update(pid, name="compat-dlt", catalog="main", schema="default", continuous=True,
                       libraries=library("/Shared/dlt/ok"))
    running = w.pipelines.start_update(pid).update_id
    with pytest.raises(ResourceConflict):
        w.pipelines.start_update(pid)
    assert w.pipelines.stop_and_wait(pid).state == pipelines.PipelineState.IDLE
    assert w.pipelines.get_update(pid, running).update.state == pipelines.UpdateInfoState.CANCELED
    assert len(w.pipelines.list_updates(pid).updates) == 3
    # Paged by the last update shown: one started meanwhile shifts nothing.
    page = w.pipelines.list_updates(pid, max_results=2)
    assert [u.update_id for u in page.updates] == [running, failed] and page.next_page_token
    w.pipelines.start_update(pid)
    w.pipelines.stop_and_wait(pid)
    rest = w.pipelines.list_updates(pid, max_results=2, page_token=page.next_page_token)
    assert [u.update_id for u in rest.updates] == [first] and not rest.next_page_token

    w.pipelines.update(pid, name="compat-dlt", catalog="main", schema="default", libraries=library("/Shared/dlt/ok"))
    job = w.jobs.create(name="runs-dlt", tasks=[jobs.Task(task_key="dlt", pipeline_task=jobs.PipelineTask(pipeline_id=pid))])
    run = w.jobs.run_now(job.job_id).result()
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    assert w.pipelines.list_updates(pid).updates[0].cause == pipelines.UpdateInfoCause.JOB_TASK

    with pytest.raises(PermissionDenied):
        user_w.pipelines.get(pid)
    w.jobs.delete(job.job_id)
    w.pipelines.delete(pid)

    # The name goes with a deleted pipeline, and moves with a renamed one.
    again = w.pipelines.create(name="compat-dlt", catalog="main", schema="default").pipeline_id
    w.pipelines.update(again, name="compat-dlt-renamed", catalog="main", schema="default")
    third = w.pipelines.create(name="compat-dlt", catalog="main", schema="default").pipeline_id
    with pytest.raises(ResourceConflict):
        w.pipelines.create(name="compat-dlt-renamed", catalog="main", schema="default")
    w.pipelines.delete(again)
    w.pipelines.delete(third)
    with pytest.raises(NotFound):
        w.pipelines.get(pid)
