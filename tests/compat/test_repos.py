"""Git folders and Git credentials through the official SDK, including a job run from a Git folder."""

import base64

import pytest
from databricks.sdk.errors import NotFound, PermissionDenied
from databricks.sdk.service import compute, jobs, workspace

from conftest import USER_NAME


def test_git_credentials_belong_to_their_owner_and_never_show_the_token(w, user_w):
    cred = w.git_credentials.create(git_provider="gitHub", git_username="octo", personal_access_token="ghp_secret")
    assert cred.git_provider == "gitHub" and cred.git_username == "octo"
    got = w.git_credentials.get(cred.credential_id)
    assert got.git_username == "octo" and "ghp_secret" not in repr(got)
    assert [c.credential_id for c in w.git_credentials.list()] == [cred.credential_id]
    assert list(user_w.git_credentials.list()) == []
    with pytest.raises(NotFound):
        user_w.git_credentials.get(cred.credential_id)
    w.git_credentials.update(cred.credential_id, git_provider="gitHub", git_username="octocat")
    assert w.git_credentials.get(cred.credential_id).git_username == "octocat"
    w.git_credentials.delete(cred.credential_id)
    with pytest.raises(NotFound):
        w.git_credentials.get(cred.credential_id)


def test_a_git_folder_moved_to_a_branch_runs_a_job_from_its_notebook(w, user_w):
    repo = w.repos.create(url="https://github.com/acme/etl.git", provider="gitHub")
    assert repo.path == "/Repos/admin@example.com/etl" and repo.branch == "main"
    assert w.workspace.get_status(repo.path).object_type == workspace.ObjectType.REPO
    source = "# Databricks notebook source\ndbutils.notebook.exit('from git')\n"
    w.workspace.import_(path=f"{repo.path}/nb", content=base64.b64encode(source.encode()).decode(),
                        format=workspace.ImportFormat.SOURCE, language=workspace.Language.PYTHON)
    w.repos.update(repo.id, branch="release")
    moved = w.repos.get(repo.id)
    assert moved.branch == "release" and moved.head_commit_id != repo.head_commit_id
    assert repo.id in [r.id for r in w.repos.list(path_prefix="/Repos/admin@example.com")]
    assert list(w.repos.list(path_prefix="/Repos/nobody")) == []

    cluster = compute.ClusterSpec(spark_version="15.4.x-scala2.12", node_type_id="i3.xlarge", num_workers=1)
    job = w.jobs.create(name="from-git", tasks=[jobs.Task(task_key="t", new_cluster=cluster,
                                                          notebook_task=jobs.NotebookTask(notebook_path=f"{repo.path}/nb"))])
    run = w.jobs.run_now(job.job_id).result()
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    assert w.jobs.get_run_output(run.tasks[0].run_id).notebook_output.result == "from git"

    with pytest.raises(PermissionDenied):
        user_w.repos.get(repo.id)
    mine = user_w.repos.create(url="https://github.com/acme/mine.git", provider="gitHub")
    assert mine.path == f"/Repos/{USER_NAME}/mine"
    user_w.repos.delete(mine.id)

    w.jobs.delete(job.job_id)
    w.repos.delete(repo.id)
    with pytest.raises(NotFound):
        w.repos.get(repo.id)
    with pytest.raises(NotFound):
        w.workspace.get_status(f"{repo.path}/nb")
