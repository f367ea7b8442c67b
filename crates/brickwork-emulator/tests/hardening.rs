//! What a non-admin cannot reach through side doors: the DBFS API on
//! volumes, runs of deleted jobs, a job's tasks, grants and credentials;
//! admin rights follow the `admins` group, not the token's birth.

mod common;

use brickwork::transport::Method;
use brickwork::ErrorKind;
use common::*;
use serde_json::{json, Value};

const SCIM: &str = "/api/2.0/preview/scim/v2";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

async fn started() -> (brickwork_emulator::EmulatorHandle, brickwork::Client, brickwork::Client) {
    let (emulator, admin) = start_with(fast().user("ann@example.com", "dapi-ann")).await;
    let user = client(&emulator, "dapi-ann").await;
    (emulator, admin, user)
}

#[tokio::test]
async fn the_dbfs_api_does_not_reach_volumes_and_volume_names_ignore_case() {
    let (_emulator, admin, _user) = started().await;
    let put = json!({"path": "/Volumes/main/default/v/x.txt", "contents": "eA==", "overwrite": true});
    let err = admin.api().post::<Value>("/api/2.0/dbfs/put", &put).await.expect_err("not DBFS's");
    assert!(err.message().contains("Files API"), "{err}");
    let err = admin.api().get::<Value>("/api/2.0/dbfs/list", &json!({"path": "dbfs:/Volumes/main"})).await;
    assert!(err.is_err());
    // Catalog, schema and volume names are case insensitive; the file name is not.
    admin
        .api()
        .request(Method::PUT, "/api/2.0/fs/files/Volumes/MAIN/Default/V/Data.csv")
        .bytes(b"a".to_vec())
        .send()
        .await
        .expect("upload");
    let found = admin.api().request(Method::HEAD, "/api/2.0/fs/files/Volumes/main/default/v/Data.csv").send().await;
    assert!(found.is_ok(), "the same volume");
    let other = admin.api().request(Method::HEAD, "/api/2.0/fs/files/Volumes/main/default/v/data.csv").send().await;
    assert!(other.is_err(), "a different file");
}

#[tokio::test]
async fn a_deleted_jobs_runs_stay_with_who_started_them() {
    let (_emulator, admin, user) = started().await;
    upload(&admin, "/Shared/ok", "dbutils.notebook.exit('ok')").await;
    let task =
        json!({"task_key": "t", "new_cluster": cluster_spec(), "notebook_task": {"notebook_path": "/Shared/ok"}});
    let job = post(&admin, "/api/2.2/jobs/create", json!({"name": "gone", "tasks": [task]})).await["job_id"].clone();
    let run = post(&admin, "/api/2.2/jobs/run-now", json!({"job_id": job})).await["run_id"].clone();
    finished_run(&admin, &run).await;
    post(&admin, "/api/2.2/jobs/delete", json!({"job_id": job})).await;
    let err = user.api().get::<Value>("/api/2.2/jobs/runs/get", &json!({"run_id": run})).await.expect_err("not theirs");
    assert!(err.is(ErrorKind::PermissionDenied), "{err}");
    let listed = get(&user, "/api/2.2/jobs/runs/list", json!({})).await;
    assert!(listed.get("runs").is_none(), "{listed}");
    get(&admin, "/api/2.2/jobs/runs/get", json!({"run_id": run})).await;
}

#[tokio::test]
async fn a_users_job_cannot_run_a_notebook_or_cluster_it_may_not_use() {
    let (_emulator, admin, user) = started().await;
    upload(&admin, "/Users/admin@example.com/private/nb", "dbutils.notebook.exit('secret')").await;
    let task = json!({"task_key": "t", "new_cluster": cluster_spec(),
        "notebook_task": {"notebook_path": "/Users/admin@example.com/private/nb"}});
    let job = post(&user, "/api/2.2/jobs/create", json!({"name": "sneaky", "tasks": [task]})).await["job_id"].clone();
    let run = post(&user, "/api/2.2/jobs/run-now", json!({"job_id": job})).await["run_id"].clone();
    let done = finished_run(&user, &run).await;
    assert_eq!(done["state"]["result_state"], "FAILED", "{done}");
    assert!(done["tasks"][0]["state"]["state_message"].as_str().is_some_and(|m| m.contains("permission")), "{done}");

    let cluster = post(&admin, "/api/2.1/clusters/create", cluster_spec()).await["cluster_id"].clone();
    let task = json!({"task_key": "t", "existing_cluster_id": cluster, "condition_task": {"op": "EQUAL_TO", "left": "1", "right": "1"}});
    let run = post(&user, "/api/2.2/jobs/runs/submit", json!({"run_name": "borrow", "tasks": [task]})).await["run_id"]
        .clone();
    let done = finished_run(&user, &run).await;
    assert_eq!(done["state"]["result_state"], "FAILED", "{done}");
}

#[tokio::test]
async fn admin_rights_follow_the_admins_group_for_tokens_already_made() {
    let (_emulator, admin, user) = started().await;
    let catalog = |name: &str| json!({"name": name});
    let err =
        user.api().post::<Value>("/api/2.1/unity-catalog/catalogs", &catalog("ann1")).await.expect_err("not admin");
    assert!(err.is(ErrorKind::PermissionDenied), "{err}");
    let groups = get(&admin, &format!("{SCIM}/Groups"), json!({"filter": "displayName eq \"admins\""})).await;
    let admins = groups["Resources"][0]["id"].as_str().expect("admins group").to_string();
    let users = get(&admin, &format!("{SCIM}/Users"), json!({"filter": "userName eq \"ann@example.com\""})).await;
    let ann = users["Resources"][0]["id"].as_str().expect("ann").to_string();
    let add = json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": ann}]}]});
    admin.api().patch::<Value>(&format!("{SCIM}/Groups/{admins}"), &add).await.expect("made admin");
    post(&user, "/api/2.1/unity-catalog/catalogs", catalog("ann2")).await;
    let remove =
        json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": format!("members[value eq \"{ann}\"]")}]});
    admin.api().patch::<Value>(&format!("{SCIM}/Groups/{admins}"), &remove).await.expect("no longer admin");
    let err = user.api().post::<Value>("/api/2.1/unity-catalog/catalogs", &catalog("ann3")).await.expect_err("revoked");
    assert!(err.is(ErrorKind::PermissionDenied), "{err}");
}

#[tokio::test]
async fn grants_and_credentials_are_hidden_from_those_without_privileges() {
    let (_emulator, admin, user) = started().await;
    let cred = json!({"name": "cf", "cloudflare_api_token": {"access_key_id": "k", "secret_access_key": "shh", "account_id": "a"}});
    let made = post(&admin, "/api/2.1/unity-catalog/storage-credentials", cred).await;
    assert!(made["cloudflare_api_token"].get("secret_access_key").is_none(), "{made}");
    let err = user.api().get::<Value>("/api/2.1/unity-catalog/storage-credentials/cf", &()).await.expect_err("hidden");
    assert!(err.is(ErrorKind::PermissionDenied), "{err}");
    let listed = get(&user, "/api/2.1/unity-catalog/storage-credentials", json!({})).await;
    assert!(listed.get("storage_credentials").is_none(), "{listed}");
    let err =
        user.api().get::<Value>("/api/2.1/unity-catalog/permissions/catalog/main", &()).await.expect_err("hidden");
    assert!(err.is(ErrorKind::PermissionDenied), "{err}");
}

/// `/Shared` is open to every user to manage what it holds, not to remove
/// (a recursive delete of it by any user once emptied everyone's folder).
#[tokio::test]
async fn system_folders_cannot_be_deleted_but_what_shared_holds_can() {
    let (_emulator, admin, user) = started().await;
    upload(&admin, "/Shared/team/nb", "print(1)").await;
    for folder in ["/Shared", "/Users", "/Repos", "/"] {
        let body = json!({"path": folder, "recursive": true});
        let err = user.api().post::<Value>("/api/2.0/workspace/delete", &body).await.expect_err(folder);
        assert!(err.is(ErrorKind::PermissionDenied), "{folder}: {err}");
        let err = admin.api().post::<Value>("/api/2.0/workspace/delete", &body).await.expect_err(folder);
        assert!(err.is(ErrorKind::PermissionDenied), "admins too, {folder}: {err}");
    }
    assert_eq!(
        get(&admin, "/api/2.0/workspace/get-status", json!({"path": "/Shared/team/nb"})).await["object_type"],
        "NOTEBOOK"
    );
    post(&user, "/api/2.0/workspace/delete", json!({"path": "/Shared/team", "recursive": true})).await;
}
