//! The permission model a non-admin meets: owners, access control lists
//! set through the Permissions API, and the checks clusters, jobs,
//! notebooks and warehouses make with them.

mod common;

use brickwork::ErrorKind;
use common::*;
use serde_json::{json, Value};

const USER: &str = "ann@example.com";

async fn started() -> (brickwork_emulator::EmulatorHandle, brickwork::Client, brickwork::Client) {
    let (emulator, admin) = start_with(fast().user(USER, "dapi-ann")).await;
    let user = client(&emulator, "dapi-ann").await;
    (emulator, admin, user)
}

async fn denied(c: &brickwork::Client, path: &str, body: Value) -> brickwork::Error {
    c.api().post::<Value>(path, &body).await.expect_err("denied")
}

async fn patch_acl(c: &brickwork::Client, object: &str, acl: Value) -> brickwork::Result<Value> {
    let path = format!("/api/2.0/permissions/{object}");
    c.api()
        .request(brickwork::transport::Method::PATCH, path.as_str())
        .json(&json!({"access_control_list": acl}))
        .send()
        .await?
        .json()
}

#[tokio::test]
async fn a_cluster_acts_for_a_user_only_at_the_level_granted() {
    let (_emulator, admin, user) = started().await;
    let id =
        post(&admin, "/api/2.1/clusters/create", cluster_spec()).await["cluster_id"].as_str().expect("id").to_string();
    cluster_state(&admin, &id, "RUNNING").await;
    let err = denied(&user, "/api/2.1/clusters/restart", json!({"cluster_id": id})).await;
    assert!(err.is(ErrorKind::PermissionDenied), "{err}");
    assert!(err.message().contains(USER) && err.message().contains("CAN_RESTART"), "{err}");
    // Seeing the cluster needs no grant.
    assert_eq!(get(&user, "/api/2.1/clusters/get", json!({"cluster_id": id})).await["cluster_id"], id.as_str());

    let acl =
        patch_acl(&admin, &format!("clusters/{id}"), json!([{"user_name": USER, "permission_level": "CAN_RESTART"}]))
            .await
            .expect("granted");
    assert_eq!(acl["object_id"], format!("/clusters/{id}"));
    assert_eq!(acl["object_type"], "cluster");
    let entries = acl["access_control_list"].as_array().expect("list");
    let ann = entries.iter().find(|e| e["user_name"] == USER).expect("ann's entry");
    assert_eq!(ann["all_permissions"][0]["permission_level"], "CAN_RESTART");
    let admins = entries.iter().find(|e| e["group_name"] == "admins").expect("admins");
    assert_eq!(admins["all_permissions"][0]["inherited"], true);
    let creator = entries.iter().find(|e| e["user_name"] == "admin@example.com").expect("the creator");
    assert_eq!(creator["all_permissions"][0]["permission_level"], "CAN_MANAGE");

    post(&user, "/api/2.1/clusters/restart", json!({"cluster_id": id})).await;
    let err = denied(
        &user,
        "/api/2.1/clusters/edit",
        json!({"cluster_id": id, "spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 2}),
    )
    .await;
    assert!(err.is(ErrorKind::PermissionDenied), "{err}");
    // Reading or changing the list takes CAN_MANAGE.
    let err = user.api().get::<Value>(&format!("/api/2.0/permissions/clusters/{id}"), &()).await.expect_err("manage");
    assert!(err.is(ErrorKind::PermissionDenied), "{err}");
    let levels = get(&user, &format!("/api/2.0/permissions/clusters/{id}/permissionLevels"), json!({})).await;
    assert_eq!(levels["permission_levels"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn jobs_are_seen_and_run_by_level_and_keep_exactly_one_owner() {
    let (_emulator, admin, user) = started().await;
    let job_id = post(&admin, "/api/2.2/jobs/create", json!({"name": "private"})).await["job_id"].clone();
    let err = user.api().get::<Value>("/api/2.2/jobs/get", &json!({"job_id": job_id})).await.expect_err("hidden");
    assert!(err.is(ErrorKind::PermissionDenied), "{err}");
    assert_eq!(
        err.message(),
        format!("User {USER} does not have View or Admin or Manage Run or Owner permissions on job {job_id}")
    );
    let listed = get(&user, "/api/2.2/jobs/list", json!({})).await;
    assert!(listed.get("jobs").is_none(), "not listed: {listed}");

    patch_acl(&admin, &format!("jobs/{job_id}"), json!([{"user_name": USER, "permission_level": "CAN_VIEW"}]))
        .await
        .expect("view");
    assert_eq!(get(&user, "/api/2.2/jobs/get", json!({"job_id": job_id})).await["job_id"], job_id);
    assert_eq!(get(&user, "/api/2.2/jobs/list", json!({})).await["jobs"].as_array().map(Vec::len), Some(1));
    let err = denied(&user, "/api/2.2/jobs/run-now", json!({"job_id": job_id})).await;
    assert!(err.is(ErrorKind::PermissionDenied), "{err}");
    patch_acl(&admin, &format!("jobs/{job_id}"), json!([{"user_name": USER, "permission_level": "CAN_MANAGE_RUN"}]))
        .await
        .expect("run");
    post(&user, "/api/2.2/jobs/run-now", json!({"job_id": job_id})).await;
    let err = denied(&user, "/api/2.2/jobs/delete", json!({"job_id": job_id})).await;
    assert!(err.is(ErrorKind::PermissionDenied), "{err}");

    // A PUT must leave exactly one owner.
    let none = json!({"access_control_list": [{"user_name": USER, "permission_level": "CAN_MANAGE"}]});
    let err = admin
        .api()
        .request(brickwork::transport::Method::PUT, format!("/api/2.0/permissions/jobs/{job_id}").as_str())
        .json(&none)
        .send()
        .await
        .expect_err("no owner");
    assert_eq!(err.message(), "The job must have exactly one owner.");
    // A user's own job is theirs to manage.
    let own = post(&user, "/api/2.2/jobs/create", json!({"name": "mine"})).await["job_id"].clone();
    post(&user, "/api/2.2/jobs/delete", json!({"job_id": own})).await;
}

#[tokio::test]
async fn the_access_control_list_sent_with_a_create_or_submit_is_the_objects_list() {
    let (emulator, admin, user) = started().await;
    let me = emulator.settings().user_name.clone();
    let count = || async { get(&admin, "/api/2.2/jobs/list", json!({})).await["jobs"].as_array().map_or(0, Vec::len) };

    // A bad entry creates nothing.
    for bad in [
        json!([{"user_name": USER, "permission_level": "CAN_READ"}]),
        json!([{"user_name": "nobody@example.com", "permission_level": "CAN_VIEW"}]),
        json!([{"user_name": USER, "permission_level": "IS_OWNER"}, {"group_name": "users", "permission_level": "IS_OWNER"}]),
    ] {
        let err = admin
            .api()
            .post::<Value>("/api/2.2/jobs/create", &json!({"name": "bad", "access_control_list": bad}))
            .await
            .expect_err("refused");
        assert!(err.is(ErrorKind::InvalidParameterValue), "{err}");
    }
    assert_eq!(count().await, 0);

    // The list is the job's: the user may view it, and another owner leaves the creator managing.
    let acl = json!([{"user_name": USER, "permission_level": "CAN_VIEW"}]);
    let job_id = post(&admin, "/api/2.2/jobs/create", json!({"name": "shared", "access_control_list": acl})).await
        ["job_id"]
        .clone();
    assert_eq!(get(&user, "/api/2.2/jobs/get", json!({"job_id": job_id})).await["job_id"], job_id);
    let err = denied(&user, "/api/2.2/jobs/run-now", json!({"job_id": job_id})).await;
    assert!(err.is(ErrorKind::PermissionDenied), "{err}");
    let settings = get(&admin, "/api/2.2/jobs/get", json!({"job_id": job_id})).await["settings"].clone();
    assert!(settings.get("access_control_list").is_none(), "not a setting: {settings}");

    let acl = json!([{"user_name": USER, "permission_level": "IS_OWNER"}]);
    let owned = post(&admin, "/api/2.2/jobs/create", json!({"name": "theirs", "access_control_list": acl})).await
        ["job_id"]
        .clone();
    let list = get(&admin, &format!("/api/2.0/permissions/jobs/{owned}"), json!({})).await;
    let level_of = |who: &str| {
        list["access_control_list"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["user_name"] == who)
            .map(|e| e["all_permissions"][0]["permission_level"].clone())
    };
    assert_eq!(level_of(USER), Some(json!("IS_OWNER")), "{list}");
    assert_eq!(level_of(&me), Some(json!("CAN_MANAGE")), "{list}");
    post(&user, "/api/2.2/jobs/delete", json!({"job_id": owned})).await;

    // A one-time run is seen by whoever its list names, and by no one else.
    let task = json!({"task_key": "t", "existing_cluster_id": "none", "notebook_task": {"notebook_path": "/x"}});
    let submit = |acl: Value| json!({"run_name": "once", "tasks": [task.clone()], "access_control_list": acl});
    let private = post(&admin, "/api/2.2/jobs/runs/submit", submit(json!([]))).await["run_id"].clone();
    let shared =
        post(&admin, "/api/2.2/jobs/runs/submit", submit(json!([{"user_name": USER, "permission_level": "CAN_VIEW"}])))
            .await["run_id"]
            .clone();
    assert_eq!(get(&user, "/api/2.2/jobs/runs/get", json!({"run_id": shared})).await["run_id"], shared);
    let err = user.api().get::<Value>("/api/2.2/jobs/runs/get", &json!({"run_id": private})).await.expect_err("hidden");
    assert!(err.is(ErrorKind::PermissionDenied), "{err}");
    let err = denied(&user, "/api/2.2/jobs/runs/cancel", json!({"run_id": shared})).await;
    assert!(err.is(ErrorKind::PermissionDenied), "{err}");
}

#[tokio::test]
async fn notebooks_follow_their_folders_and_homes_and_shared_are_open() {
    let (_emulator, admin, user) = started().await;
    upload(&admin, "/Users/admin@example.com/team/nb", "print(1)").await;
    let read = |c: &brickwork::Client| {
        let c = c.clone();
        async move {
            c.api()
                .get::<Value>("/api/2.0/workspace/export", &json!({"path": "/Users/admin@example.com/team/nb"}))
                .await
        }
    };
    let err = read(&user).await.expect_err("not shared");
    assert!(err.is(ErrorKind::PermissionDenied), "{err}");
    upload(&user, &format!("/Users/{USER}/mine"), "print(2)").await;
    upload(&user, "/Shared/open/nb", "print(3)").await;
    let err = user
        .api()
        .post::<Value>("/api/2.0/workspace/mkdirs", &json!({"path": "/Users/admin@example.com/team/sub"}))
        .await
        .expect_err("not theirs");
    assert!(err.is(ErrorKind::PermissionDenied), "{err}");

    // Read on the folder is read on what it holds.
    let folder = get(&admin, "/api/2.0/workspace/get-status", json!({"path": "/Users/admin@example.com/team"})).await;
    let folder_id = folder["object_id"].as_i64().expect("id");
    patch_acl(
        &admin,
        &format!("directories/{folder_id}"),
        json!([{"user_name": USER, "permission_level": "CAN_READ"}]),
    )
    .await
    .expect("granted");
    read(&user).await.expect("readable now");
    let nb = get(&admin, "/api/2.0/workspace/get-status", json!({"path": "/Users/admin@example.com/team/nb"})).await;
    let acl = get(&admin, &format!("/api/2.0/permissions/notebooks/{}", nb["object_id"]), json!({})).await;
    let inherited =
        acl["access_control_list"].as_array().expect("list").iter().find(|e| e["user_name"] == USER).cloned();
    let inherited = inherited.expect("inherited entry");
    assert_eq!(inherited["all_permissions"][0]["inherited_from_object"][0], format!("/directories/{folder_id}"));
    let err = denied(&user, "/api/2.0/workspace/delete", json!({"path": "/Users/admin@example.com/team/nb"})).await;
    assert!(err.is(ErrorKind::PermissionDenied), "{err}");
    // Deleting the folder drops its list: nothing is left pointing at it.
    post(&admin, "/api/2.0/workspace/delete", json!({"path": "/Users/admin@example.com/team", "recursive": true}))
        .await;
    let gone = admin.api().get::<Value>(&format!("/api/2.0/permissions/directories/{folder_id}"), &()).await;
    assert!(gone.expect_err("gone").is(ErrorKind::ResourceDoesNotExist));
}

#[tokio::test]
async fn warehouses_are_listed_and_used_only_by_those_granted() {
    let (_emulator, admin, user) = started().await;
    let id = post(&admin, "/api/2.0/sql/warehouses", json!({"name": "bi", "cluster_size": "2X-Small"})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert!(get(&user, "/api/2.0/sql/warehouses", json!({})).await.get("warehouses").is_none());
    let statement = json!({"statement": "SELECT 1", "warehouse_id": id, "wait_timeout": "5s"});
    let err = denied(&user, "/api/2.0/sql/statements", statement.clone()).await;
    assert!(err.is(ErrorKind::PermissionDenied), "{err}");
    patch_acl(&admin, &format!("warehouses/{id}"), json!([{"user_name": USER, "permission_level": "CAN_USE"}]))
        .await
        .expect("use");
    assert_eq!(get(&user, "/api/2.0/sql/warehouses", json!({})).await["warehouses"].as_array().map(Vec::len), Some(1));
    let answer = post(&user, "/api/2.0/sql/statements", statement).await;
    assert_eq!(answer["status"]["state"], "SUCCEEDED");
    let err = user.api().delete::<Value>(&format!("/api/2.0/sql/warehouses/{id}"), &()).await.expect_err("manage");
    assert!(err.is(ErrorKind::PermissionDenied), "{err}");

    // A statement is its submitter's: others need CAN_MONITOR to read it and CAN_MANAGE to cancel it.
    let theirs = post(&admin, "/api/2.0/sql/statements", json!({"statement": "SELECT 2", "warehouse_id": id})).await
        ["statement_id"]
        .as_str()
        .expect("statement id")
        .to_string();
    let mine = answer["statement_id"].as_str().expect("statement id");
    assert_eq!(get(&user, &format!("/api/2.0/sql/statements/{mine}"), json!({})).await["status"]["state"], "SUCCEEDED");
    for path in
        [format!("/api/2.0/sql/statements/{theirs}"), format!("/api/2.0/sql/statements/{theirs}/result/chunks/0")]
    {
        let err = user.api().get::<Value>(&path, &()).await.expect_err("not theirs");
        assert!(err.is(ErrorKind::PermissionDenied), "{path}: {err}");
    }
    let err = denied(&user, &format!("/api/2.0/sql/statements/{theirs}/cancel"), json!({})).await;
    assert!(err.is(ErrorKind::PermissionDenied), "{err}");
    patch_acl(&admin, &format!("warehouses/{id}"), json!([{"user_name": USER, "permission_level": "CAN_MONITOR"}]))
        .await
        .expect("monitor");
    let seen = get(&user, &format!("/api/2.0/sql/statements/{theirs}"), json!({})).await;
    assert_eq!(seen["statement_id"], theirs.as_str());
}

#[tokio::test]
async fn bad_requests_to_the_permissions_api_get_the_real_errors() {
    let (_emulator, admin, _user) = started().await;
    let missing = admin.api().get::<Value>("/api/2.0/permissions/clusters/0000-000000-nothere", &()).await;
    assert!(missing.expect_err("missing").is(ErrorKind::ResourceDoesNotExist));
    let unknown = admin.api().get::<Value>("/api/2.0/permissions/gizmos/1", &()).await;
    assert_eq!(unknown.expect_err("unknown").status(), Some(400));
    let job = post(&admin, "/api/2.2/jobs/create", json!({"name": "j"})).await["job_id"].clone();
    let bad_level =
        patch_acl(&admin, &format!("jobs/{job}"), json!([{"user_name": USER, "permission_level": "CAN_RESTART"}]))
            .await;
    assert!(bad_level.expect_err("level").message().contains("CAN_RESTART"));
    let nobody = patch_acl(
        &admin,
        &format!("jobs/{job}"),
        json!([{"user_name": "nobody@example.com", "permission_level": "CAN_VIEW"}]),
    )
    .await;
    assert!(nobody.expect_err("principal").message().contains("nobody@example.com"));
    let tokens = get(&admin, "/api/2.0/permissions/authorization/tokens", json!({})).await;
    assert_eq!(tokens["object_type"], "tokens");
}

#[tokio::test]
async fn a_git_folders_list_covers_the_notebooks_it_holds() {
    let (_emulator, admin, user) = started().await;
    let repo =
        post(&admin, "/api/2.0/repos", json!({"url": "https://github.com/acme/etl.git", "provider": "gitHub"})).await;
    let (repo_id, path) = (repo["id"].clone(), repo["path"].as_str().expect("path").to_string());
    upload(&admin, &format!("{path}/nb"), "print(1)").await;
    let export = |c: &brickwork::Client| {
        let c = c.clone();
        let nb = format!("{path}/nb");
        async move { c.api().get::<Value>("/api/2.0/workspace/export", &json!({"path": nb})).await }
    };
    let err = export(&user).await.expect_err("not granted");
    assert!(err.is(ErrorKind::PermissionDenied), "{err}");
    patch_acl(&admin, &format!("repos/{repo_id}"), json!([{"user_name": USER, "permission_level": "CAN_READ"}]))
        .await
        .expect("grant on the Git folder");
    assert!(export(&user).await.expect("inherited")["content"].is_string());
}

/// `clusters/update` and `clusters/resize` once skipped the cluster's
/// policy: an owner could reach any size or setting the policy forbids.
#[tokio::test]
async fn a_cluster_update_or_resize_answers_to_its_policy() {
    let (_emulator, admin, _user) = started().await;
    let definition = json!({"num_workers": {"type": "range", "maxValue": 2},
                            "autotermination_minutes": {"type": "range", "maxValue": 60, "defaultValue": 30}});
    let policy = post(
        &admin,
        "/api/2.0/policies/clusters/create",
        json!({"name": "small", "definition": definition.to_string()}),
    )
    .await["policy_id"]
        .clone();
    let mut spec = cluster_spec();
    spec["policy_id"] = policy;
    let id = post(&admin, "/api/2.1/clusters/create", spec).await["cluster_id"].as_str().expect("id").to_string();
    cluster_state(&admin, &id, "RUNNING").await;
    let err = denied(&admin, "/api/2.1/clusters/resize", json!({"cluster_id": id, "num_workers": 8})).await;
    assert_eq!(err.kind(), ErrorKind::InvalidParameterValue, "{err}");
    let update = json!({"cluster_id": id, "update_mask": "autotermination_minutes", "cluster": {"autotermination_minutes": 600}});
    let err = denied(&admin, "/api/2.1/clusters/update", update).await;
    assert_eq!(err.kind(), ErrorKind::InvalidParameterValue, "{err}");
    post(&admin, "/api/2.1/clusters/resize", json!({"cluster_id": id, "num_workers": 2})).await;
    let got = cluster_state(&admin, &id, "RUNNING").await;
    assert_eq!((got["num_workers"].clone(), got["autotermination_minutes"].clone()), (json!(2), json!(30)));
}

/// A command's status (its output) and cancelling it take the cluster
/// permission that running it takes.
#[tokio::test]
async fn reading_or_cancelling_a_command_needs_the_cluster_grant() {
    let (_emulator, admin, user) = started().await;
    let id =
        post(&admin, "/api/2.1/clusters/create", cluster_spec()).await["cluster_id"].as_str().expect("id").to_string();
    cluster_state(&admin, &id, "RUNNING").await;
    let context =
        post(&admin, "/api/1.2/contexts/create", json!({"clusterId": id, "language": "python"})).await["id"].clone();
    let command = post(
        &admin,
        "/api/1.2/commands/execute",
        json!({"clusterId": id, "contextId": context, "language": "python", "command": "print('secret')"}),
    )
    .await["id"]
        .clone();
    let ids = json!({"clusterId": id, "contextId": context, "commandId": command});
    let err = user.api().get::<Value>("/api/1.2/commands/status", &ids).await.expect_err("no grant");
    assert!(err.is(ErrorKind::PermissionDenied), "{err}");
    assert!(denied(&user, "/api/1.2/commands/cancel", ids.clone()).await.is(ErrorKind::PermissionDenied));
    let context_ids = json!({"clusterId": id, "contextId": context});
    assert!(user.api().get::<Value>("/api/1.2/contexts/status", &context_ids).await.is_err());
    assert!(denied(&user, "/api/1.2/contexts/destroy", context_ids.clone()).await.is(ErrorKind::PermissionDenied));
    patch_acl(&admin, &format!("clusters/{id}"), json!([{"user_name": USER, "permission_level": "CAN_ATTACH_TO"}]))
        .await
        .expect("granted");
    get(&user, "/api/1.2/commands/status", ids).await;
}

/// A job's runs act as its owner: handing `IS_OWNER` to another user
/// through the Permissions API changes whom they run as (they once stayed
/// with the creator).
#[tokio::test]
async fn a_jobs_runs_act_as_its_current_owner() {
    let (_emulator, admin, _user) = started().await;
    upload(&admin, "/Users/admin@example.com/private", "dbutils.notebook.exit('ok')").await;
    let task = json!({"task_key": "t", "new_cluster": cluster_spec(),
                      "notebook_task": {"notebook_path": "/Users/admin@example.com/private"}});
    let job_id =
        post(&admin, "/api/2.2/jobs/create", json!({"name": "handed-over", "tasks": [task]})).await["job_id"].clone();
    assert_eq!(
        get(&admin, "/api/2.2/jobs/get", json!({"job_id": job_id})).await["run_as_user_name"],
        "admin@example.com"
    );
    let handed_over = json!({"access_control_list": [{"user_name": USER, "permission_level": "IS_OWNER"}]});
    admin
        .api()
        .request(brickwork::transport::Method::PUT, format!("/api/2.0/permissions/jobs/{job_id}").as_str())
        .json(&handed_over)
        .send()
        .await
        .expect("new owner");
    assert_eq!(get(&admin, "/api/2.2/jobs/get", json!({"job_id": job_id})).await["run_as_user_name"], USER);
    let run = post(&admin, "/api/2.2/jobs/run-now", json!({"job_id": job_id})).await;
    let run = finished_run(&admin, &run["run_id"]).await;
    assert_eq!(run["state"]["result_state"], "FAILED", "{}", run["state"]);
    let message = run["tasks"][0]["state"]["state_message"].as_str().unwrap_or_default();
    assert!(message.contains(USER) && message.contains("/Users/admin@example.com/private"), "{message}");
}

/// A non-admin's `jobs/list` holds the jobs whose lists name them or a
/// group of theirs, in id order page by page, and follows the lists as they
/// change: a grant replaced or a job deleted leaves it.
#[tokio::test]
async fn a_users_job_list_follows_their_grants_and_groups() {
    let (_emulator, admin, user) = started().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(post(&admin, "/api/2.2/jobs/create", json!({"name": format!("j{i}")})).await["job_id"].clone());
    }
    let view = json!([{"user_name": USER, "permission_level": "CAN_VIEW"}]);
    for id in [&ids[0], &ids[2]] {
        patch_acl(&admin, &format!("jobs/{id}"), view.clone()).await.expect("direct grant");
    }
    let users =
        get(&admin, "/api/2.0/preview/scim/v2/Users", json!({"filter": format!("userName eq \"{USER}\"")})).await;
    let ann = users["Resources"][0]["id"].clone();
    post(&admin, "/api/2.0/preview/scim/v2/Groups", json!({"displayName": "analysts", "members": [{"value": ann}]}))
        .await;
    let group_view = json!([{"group_name": "analysts", "permission_level": "CAN_VIEW"}]);
    patch_acl(&admin, &format!("jobs/{}", ids[4]), group_view).await.expect("group grant");

    let listed = |c: brickwork::Client| async move {
        all_pages(&c, "/api/2.2/jobs/list", json!({"limit": 1}), "jobs", "job_id").await
    };
    assert_eq!(listed(user.clone()).await, [ids[0].clone(), ids[2].clone(), ids[4].clone()]);

    let admin_only =
        json!({"access_control_list": [{"user_name": "admin@example.com", "permission_level": "IS_OWNER"}]});
    let put = admin
        .api()
        .request(brickwork::transport::Method::PUT, format!("/api/2.0/permissions/jobs/{}", ids[2]).as_str());
    put.json(&admin_only).send().await.expect("replace the list");
    post(&admin, "/api/2.2/jobs/delete", json!({"job_id": ids[0]})).await;
    let own = post(&user, "/api/2.2/jobs/create", json!({"name": "mine"})).await["job_id"].clone();
    assert_eq!(listed(user.clone()).await, [ids[4].clone(), own]);
    assert_eq!(listed(admin.clone()).await.len(), 5, "the admin sees every job");

    // Pipelines the same way: granted, or their own.
    let mut pipelines = Vec::new();
    for i in 0..3 {
        let made = post(&admin, "/api/2.0/pipelines", json!({"name": format!("p{i}")})).await;
        pipelines.push(made["pipeline_id"].as_str().expect("id").to_string());
    }
    patch_acl(&admin, &format!("pipelines/{}", pipelines[1]), view.clone()).await.expect("pipeline grant");
    let own = post(&user, "/api/2.0/pipelines", json!({"name": "mine"})).await["pipeline_id"].clone();
    let statuses = get(&user, "/api/2.0/pipelines", json!({"max_results": 1})).await;
    let mut seen: Vec<Value> = statuses["statuses"].as_array().cloned().unwrap_or_default();
    let token = statuses["next_page_token"].as_str().expect("a second page").to_string();
    let rest = get(&user, "/api/2.0/pipelines", json!({"max_results": 1, "page_token": token})).await;
    seen.extend(rest["statuses"].as_array().cloned().unwrap_or_default());
    assert!(rest.get("next_page_token").is_none(), "{rest}");
    let mut ids: Vec<Value> = seen.iter().map(|p| p["pipeline_id"].clone()).collect();
    ids.sort_by_key(|id| id.as_str().map(str::to_string));
    let mut want = vec![json!(pipelines[1]), own];
    want.sort_by_key(|id| id.as_str().map(str::to_string));
    assert_eq!(ids, want);
}

/// A non-admin's `runs/list` holds, newest first and page by page, the runs
/// of the jobs granted to them or their groups, the runs they started (a
/// deleted job's included) and the one-time runs shared with them; no other.
#[tokio::test]
async fn a_users_run_list_holds_the_runs_they_may_see_newest_first() {
    let (_emulator, admin, user) = started().await;
    let task = json!({"task_key": "t", "existing_cluster_id": "none", "notebook_task": {"notebook_path": "/x"}});
    let job = |name: &str, acl: Value| json!({"name": name, "tasks": [task.clone()], "access_control_list": acl});
    let users =
        get(&admin, "/api/2.0/preview/scim/v2/Users", json!({"filter": format!("userName eq \"{USER}\"")})).await;
    let ann = users["Resources"][0]["id"].clone();
    post(&admin, "/api/2.0/preview/scim/v2/Groups", json!({"displayName": "analysts", "members": [{"value": ann}]}))
        .await;
    let by_group = json!([{"group_name": "analysts", "permission_level": "CAN_MANAGE_RUN"}]);
    let direct = json!([{"user_name": USER, "permission_level": "CAN_MANAGE_RUN"}]);
    let grouped = post(&admin, "/api/2.2/jobs/create", job("grouped", by_group)).await["job_id"].clone();
    let hidden = post(&admin, "/api/2.2/jobs/create", job("hidden", json!([]))).await["job_id"].clone();
    let dropped = post(&admin, "/api/2.2/jobs/create", job("dropped", direct.clone())).await["job_id"].clone();
    let run_now = |c: brickwork::Client, job_id: Value| async move {
        post(&c, "/api/2.2/jobs/run-now", json!({"job_id": job_id})).await["run_id"].as_i64().expect("run id")
    };
    let submit = |c: brickwork::Client, acl: Value| {
        let body = json!({"run_name": "once", "tasks": [task.clone()], "access_control_list": acl});
        async move { post(&c, "/api/2.2/jobs/runs/submit", body).await["run_id"].as_i64().expect("run id") }
    };

    let seen_by_user = vec![
        run_now(admin.clone(), grouped.clone()).await,
        run_now(user.clone(), grouped.clone()).await,
        run_now(user.clone(), dropped.clone()).await,
        submit(user.clone(), json!([])).await,
        submit(admin.clone(), json!([{"user_name": USER, "permission_level": "CAN_VIEW"}])).await,
        // Shared one-time runs, through the group and directly, between others: read newest first across pages.
        submit(admin.clone(), json!([{"group_name": "analysts", "permission_level": "CAN_VIEW"}])).await,
        run_now(admin.clone(), grouped.clone()).await,
        submit(admin.clone(), json!([{"user_name": USER, "permission_level": "CAN_MANAGE_RUN"}])).await,
        submit(admin.clone(), json!([{"group_name": "analysts", "permission_level": "CAN_MANAGE_RUN"}])).await,
    ];
    let gone_with_its_job = run_now(admin.clone(), dropped.clone()).await;
    let others = [run_now(admin.clone(), hidden.clone()).await, submit(admin.clone(), json!([])).await];

    // Ann named on objects whose ids sort after `/runs/` (warehouses, serving
    // endpoints): the shared runs' first page once stopped at them.
    let warehouse = post(&admin, "/api/2.0/sql/warehouses", json!({"name": "bi", "cluster_size": "2X-Small"})).await
        ["id"]
        .as_str()
        .expect("warehouse id")
        .to_string();
    let can_use = json!([{"user_name": USER, "permission_level": "CAN_USE"}]);
    patch_acl(&admin, &format!("warehouses/{warehouse}"), can_use).await.expect("grant");
    let group_use = json!([{"group_name": "analysts", "permission_level": "CAN_USE"}]);
    patch_acl(&admin, &format!("warehouses/{warehouse}"), group_use).await.expect("group grant");

    let listed = |c: brickwork::Client| async move {
        let ids = all_pages(&c, "/api/2.2/jobs/runs/list", json!({"limit": 2}), "runs", "run_id").await;
        ids.iter().filter_map(Value::as_i64).collect::<Vec<i64>>()
    };
    let newest_first = |mut ids: Vec<i64>| {
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids
    };
    let mut with_granted_job = seen_by_user.clone();
    with_granted_job.push(gone_with_its_job);
    assert_eq!(listed(user.clone()).await, newest_first(with_granted_job));
    let everything = listed(admin.clone()).await;
    assert!(others.iter().all(|id| everything.contains(id)), "the admin sees every run");

    // The job deleted: its runs stay only for whoever started them.
    post(&admin, "/api/2.2/jobs/delete", json!({"job_id": dropped})).await;
    assert_eq!(listed(user.clone()).await, newest_first(seen_by_user.clone()));
    // A job the user may not see lists none of its runs for them.
    let of_hidden = get(&user, "/api/2.2/jobs/runs/list", json!({"job_id": hidden})).await;
    assert!(of_hidden["runs"].as_array().is_none_or(Vec::is_empty), "{of_hidden}");
}

/// Git credentials are each principal's own: listed, made default and
/// deleted with their owner only, however many others hold.
#[tokio::test]
async fn git_credentials_are_listed_and_defaulted_per_owner() {
    let (_emulator, admin, user) = started().await;
    let create = |c: brickwork::Client, name: &'static str| async move {
        let body = json!({"git_provider": "gitHub", "git_username": name, "name": name});
        post(&c, "/api/2.0/git-credentials", body).await["credential_id"].clone()
    };
    let admins = create(admin.clone(), "admin-first").await;
    let anns = create(user.clone(), "ann-first").await;
    let listed = |c: brickwork::Client| async move {
        let got = get(&c, "/api/2.0/git-credentials", json!({})).await;
        let items = got["credentials"].as_array().cloned().unwrap_or_default();
        items.iter().map(|i| (i["credential_id"].clone(), i["is_default_for_provider"].clone())).collect::<Vec<_>>()
    };
    // Each is the first of its owner for the provider: each is a default.
    assert_eq!(listed(user.clone()).await, [(anns.clone(), json!(true))]);
    assert_eq!(listed(admin.clone()).await, [(admins.clone(), json!(true))]);
    // A second default of Ann's takes the default from Ann's first only.
    let body = json!({"git_provider": "gitHub", "git_username": "ann-2", "is_default_for_provider": true});
    let second = post(&user, "/api/2.0/git-credentials", body).await["credential_id"].clone();
    assert_eq!(listed(user.clone()).await, [(anns.clone(), json!(false)), (second, json!(true))]);
    assert_eq!(listed(admin.clone()).await, [(admins.clone(), json!(true))]);

    let users =
        get(&admin, "/api/2.0/preview/scim/v2/Users", json!({"filter": format!("userName eq \"{USER}\"")})).await;
    let ann = users["Resources"][0]["id"].as_str().expect("ann's id").to_string();
    // By id, only a service principal's credentials are reached, and only by an admin.
    let by_user = admin.api().get::<Value>("/api/2.0/git-credentials", &json!({"principal_id": ann})).await;
    assert_eq!(by_user.expect_err("a user's by id").kind(), ErrorKind::InvalidParameterValue);
    let sps =
        get(&admin, "/api/2.0/preview/scim/v2/ServicePrincipals", json!({"filter": "applicationId eq \"sp-id\""}))
            .await;
    let sp = sps["Resources"][0]["id"].as_str().expect("the service principal's id").to_string();
    let sp_id: i64 = sp.parse().expect("a number");
    let body = json!({"git_provider": "gitLab", "git_username": "robot", "principal_id": sp_id});
    let robots = post(&admin, "/api/2.0/git-credentials", body).await["credential_id"].clone();
    let by_sp = get(&admin, "/api/2.0/git-credentials", json!({"principal_id": sp})).await;
    assert_eq!(by_sp["credentials"][0]["credential_id"], robots);
    let err = user.api().get::<Value>("/api/2.0/git-credentials", &json!({"principal_id": sp})).await;
    assert!(err.expect_err("not a manager").is(ErrorKind::PermissionDenied));
    admin
        .api()
        .request(brickwork::transport::Method::DELETE, format!("/api/2.0/preview/scim/v2/Users/{ann}").as_str())
        .send()
        .await
        .expect("delete ann");
    assert_eq!(listed(admin.clone()).await, [(admins, json!(true))], "the admin's credential stays");
}

/// `repos/list` pages through the Git folders whose paths start with
/// `path_prefix`, in path order, and only those the caller may manage; a
/// folder deleted between two pages neither repeats nor hides another, a
/// token resumes only its own listing, and without a prefix the folders
/// under `/Repos` are listed. Folders removed with their parent through
/// the Workspace API leave the listing, and their paths can be used again.
#[tokio::test]
async fn repos_under_a_prefix_page_in_path_order() {
    let (_emulator, admin, user) = started().await;
    let base = "/Repos/admin@example.com";
    let make = |path: String| {
        let admin = admin.clone();
        async move {
            let body = json!({"url": "https://github.com/acme/x.git", "provider": "gitHub", "path": path});
            post(&admin, "/api/2.0/repos", body).await["id"].clone()
        }
    };
    let mut under = Vec::new();
    for i in 0..103 {
        under.push(make(format!("{base}/a/r{i:03}")).await);
    }
    let sibling = make(format!("{base}/a-b/r")).await;

    let page = |c: brickwork::Client, query: Value| async move { get(&c, "/api/2.0/repos", query).await };
    let ids = |page: &Value| -> Vec<Value> {
        page["repos"].as_array().into_iter().flatten().map(|r| r["id"].clone()).collect()
    };
    let first = page(admin.clone(), json!({"path_prefix": format!("/Workspace{base}/a/")})).await;
    assert_eq!(ids(&first), under[..100]);
    let token = first["next_page_token"].as_str().expect("a second page").to_string();
    // The last of the first page goes, and one joins before the cursor: neither shifts the next page.
    admin
        .api()
        .request(brickwork::transport::Method::DELETE, format!("/api/2.0/repos/{}", under[99]).as_str())
        .send()
        .await
        .expect("delete");
    make(format!("{base}/a/r000a")).await;
    let second = page(admin.clone(), json!({"path_prefix": format!("{base}/a/"), "next_page_token": token})).await;
    assert_eq!(ids(&second), under[100..]);
    assert!(second.get("next_page_token").is_none(), "{second}");
    // A prefix is a prefix of the path, as the API describes it: `a` starts `a-b` too.
    let loose = page(admin.clone(), json!({"path_prefix": format!("{base}/a-")})).await;
    assert_eq!(ids(&loose), [sibling]);
    // A token resumes only a listing its path belongs to.
    let other = page(admin.clone(), json!({"path_prefix": format!("{base}/b")}));
    let err = admin
        .api()
        .get::<Value>(
            "/api/2.0/repos",
            &json!({"path_prefix": format!("{base}/b"), "next_page_token": first["next_page_token"]}),
        )
        .await
        .expect_err("a token of another listing");
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(other.await.get("repos").is_none());

    // Without a prefix, or with one naming the whole workspace: the folders under /Repos only.
    let elsewhere = make("/Archive/elsewhere".to_string()).await;
    for whole in [json!({}), json!({"path_prefix": "/Workspace"}), json!({"path_prefix": "/"})] {
        let first = page(admin.clone(), whole).await;
        let paths: Vec<&str> =
            first["repos"].as_array().expect("repos").iter().filter_map(|r| r["path"].as_str()).collect();
        assert!(paths.len() == 100 && paths.iter().all(|p| p.starts_with("/Repos/")), "{paths:?}");
    }
    assert_eq!(ids(&page(admin.clone(), json!({"path_prefix": "/Archive"})).await), std::slice::from_ref(&elsewhere));

    // Ann lists the folders she may manage, not those she may only read.
    let acl = |level: &str| json!([{"user_name": USER, "permission_level": level}]);
    patch_acl(&admin, &format!("repos/{}", under[0]), acl("CAN_READ")).await.expect("read");
    patch_acl(&admin, &format!("repos/{elsewhere}"), acl("CAN_MANAGE")).await.expect("manage");
    assert!(page(user.clone(), json!({"path_prefix": base})).await.get("repos").is_none());
    assert_eq!(ids(&page(user.clone(), json!({"path_prefix": "/Archive"})).await), [elsewhere]);

    // Deleted with its parent folder through the Workspace API: gone from the listing, its path free again.
    post(&admin, "/api/2.0/workspace/delete", json!({"path": "/Archive", "recursive": true})).await;
    assert!(page(admin.clone(), json!({"path_prefix": "/Archive"})).await.get("repos").is_none());
    make("/Archive/elsewhere".to_string()).await;
    assert_eq!(ids(&page(admin.clone(), json!({"path_prefix": "/Archive"})).await).len(), 1);
}
