//! SCIM users, groups and service principals over HTTP.

mod common;

use brickwork::ErrorKind;
use common::*;
use serde_json::{json, Value};

const SCIM: &str = "/api/2.0/preview/scim/v2";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[tokio::test]
async fn users_groups_and_service_principals_are_written_filtered_and_refused_typed() {
    let (emulator, c) = start_with(fast().user("viewer@example.com", "dapi-viewer")).await;
    let bob = post(
        &c,
        &format!("{SCIM}/Users"),
        json!({"userName": "bob@example.com", "displayName": "Bob", "nickName": "dropped"}),
    )
    .await;
    let bob_id = bob["id"].as_str().expect("id").to_string();
    assert!(bob.get("nickName").is_none(), "an unknown attribute is dropped: {bob}");
    assert_eq!(bob["active"], true);
    let again = c.api().post::<Value>(&format!("{SCIM}/Users"), &json!({"userName": "BOB@example.com"})).await;
    assert_eq!(again.expect_err("duplicate").status(), Some(409));

    // The filter honours the attribute it names.
    let by_name = get(&c, &format!("{SCIM}/Users"), json!({"filter": "userName eq \"bob@example.com\""})).await;
    assert_eq!(by_name["totalResults"], 1);
    let by_display = get(&c, &format!("{SCIM}/Users"), json!({"filter": "displayName eq \"bob@example.com\""})).await;
    assert_eq!(by_display["totalResults"], 0, "{by_display}");
    let bad = c.api().get::<Value>(&format!("{SCIM}/Users"), &json!({"filter": "userName like \"b\""})).await;
    assert_eq!(bad.expect_err("invalid filter").status(), Some(400));

    let sp = post(&c, &format!("{SCIM}/ServicePrincipals"), json!({"displayName": "etl-bot"})).await;
    let sp_id = sp["id"].as_str().expect("id").to_string();
    assert!(sp["applicationId"].as_str().is_some_and(|a| !a.is_empty()), "{sp}");
    let group =
        post(&c, &format!("{SCIM}/Groups"), json!({"displayName": "data-eng", "members": [{"value": bob_id}]})).await;
    let group_id = group["id"].as_str().expect("id").to_string();
    // An equality on the unique name, in any case, finds that one record;
    // past it the page is empty but the count holds.
    let application_id = sp["applicationId"].as_str().expect("application id").to_uppercase();
    for (segment, filter, id) in [
        ("Users", "userName eq \"BOB@Example.com\"".to_string(), &bob_id),
        ("ServicePrincipals", format!("applicationId eq \"{application_id}\""), &sp_id),
        ("Groups", "DISPLAYNAME eq \"Data-Eng\"".to_string(), &group_id),
    ] {
        let found = get(&c, &format!("{SCIM}/{segment}"), json!({"filter": filter})).await;
        assert_eq!(
            (found["totalResults"].clone(), found["Resources"][0]["id"].clone()),
            (json!(1), json!(id)),
            "{filter}"
        );
        let past = get(&c, &format!("{SCIM}/{segment}"), json!({"filter": filter, "startIndex": 2})).await;
        assert!(past.get("Resources").is_none() && past["totalResults"] == 1, "{past}");
    }
    let none = get(&c, &format!("{SCIM}/Users"), json!({"filter": "userName eq \"nobody@example.com\""})).await;
    assert_eq!(none["totalResults"], 0, "{none}");
    let add =
        json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": sp_id}]}]});
    c.api().patch::<Value>(&format!("{SCIM}/Groups/{group_id}"), &add).await.expect("add member");
    let members = |g: &Value| -> Vec<String> {
        g["members"].as_array().into_iter().flatten().filter_map(|m| m["value"].as_str().map(str::to_string)).collect()
    };
    let group = get(&c, &format!("{SCIM}/Groups/{group_id}"), json!({})).await;
    assert_eq!(members(&group), [bob_id.clone(), sp_id.clone()]);
    let bob = get(&c, &format!("{SCIM}/Users/{bob_id}"), json!({})).await;
    assert!(bob["groups"].as_array().expect("groups").iter().any(|g| g["display"] == "data-eng"), "{bob}");
    let remove = json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": format!("members[value eq \"{bob_id}\"]")}]});
    c.api().patch::<Value>(&format!("{SCIM}/Groups/{group_id}"), &remove).await.expect("remove member");
    let group = get(&c, &format!("{SCIM}/Groups/{group_id}"), json!({})).await;
    assert_eq!(members(&group), [sp_id.as_str()]);
    let deactivate = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": false}]});
    c.api().patch::<Value>(&format!("{SCIM}/Users/{bob_id}"), &deactivate).await.expect("deactivate");
    let inactive = get(&c, &format!("{SCIM}/Users"), json!({"filter": "active eq false"})).await;
    assert_eq!(inactive["Resources"][0]["userName"], "bob@example.com");

    // A non-admin reads but cannot write; missing objects are typed.
    let viewer = client(&emulator, "dapi-viewer").await;
    get(&viewer, &format!("{SCIM}/Groups"), json!({})).await;
    let denied = viewer.api().post::<Value>(&format!("{SCIM}/Groups"), &json!({"displayName": "x"})).await;
    assert_eq!(denied.expect_err("non-admin").kind(), ErrorKind::PermissionDenied);
    c.api().delete::<Value>(&format!("{SCIM}/Users/{bob_id}"), &json!({})).await.ok();
    let gone = c.api().get::<Value>(&format!("{SCIM}/Users/{bob_id}"), &json!({})).await;
    assert_eq!(gone.expect_err("deleted").kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn deleting_a_user_revokes_their_tokens() {
    let (emulator, c) = start_with(fast().user("leaver@example.com", "dapi-leaver")).await;
    let found = get(&c, &format!("{SCIM}/Users"), json!({"filter": "userName eq \"leaver@example.com\""})).await;
    let id = found["Resources"][0]["id"].as_str().expect("id").to_string();
    c.api().delete::<Value>(&format!("{SCIM}/Users/{id}"), &json!({})).await.ok();
    let leaver = client(&emulator, "dapi-leaver").await;
    let err = leaver.api().get::<Value>(&format!("{SCIM}/Me"), &()).await.expect_err("token revoked");
    assert_eq!(err.status(), Some(403), "{err:?}");
}

#[tokio::test]
async fn renames_deletions_and_admins_membership_take_effect_on_the_next_request() {
    let (emulator, c) = start_with(fast().user("dana@example.com", "dapi-dana")).await;
    let dana = client(&emulator, "dapi-dana").await;
    let found = get(&c, &format!("{SCIM}/Users"), json!({"filter": "userName eq \"dana@example.com\""})).await;
    let dana_id = found["Resources"][0]["id"].as_str().expect("id").to_string();

    // Joining `admins` makes the next request an admin's; leaving it undoes that.
    let admins = get(&c, &format!("{SCIM}/Groups"), json!({"filter": "displayName eq \"admins\""})).await;
    let admins_id = admins["Resources"][0]["id"].as_str().expect("admins").to_string();
    let denied = dana.api().post::<Value>(&format!("{SCIM}/Groups"), &json!({"displayName": "ops"})).await;
    assert_eq!(denied.expect_err("not yet an admin").kind(), ErrorKind::PermissionDenied);
    let join =
        json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": dana_id}]}]});
    c.api().patch::<Value>(&format!("{SCIM}/Groups/{admins_id}"), &join).await.expect("join admins");
    let ops =
        post(&dana, &format!("{SCIM}/Groups"), json!({"displayName": "ops", "members": [{"value": dana_id}]})).await;
    let ops_id = ops["id"].as_str().expect("id").to_string();
    let leave = json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": format!("members[value eq \"{dana_id}\"]")}]});
    c.api().patch::<Value>(&format!("{SCIM}/Groups/{admins_id}"), &leave).await.expect("leave admins");
    let denied = dana.api().post::<Value>(&format!("{SCIM}/Groups"), &json!({"displayName": "ops2"})).await;
    assert_eq!(denied.expect_err("no longer an admin").kind(), ErrorKind::PermissionDenied);

    // A deleted group leaves its members' `groups`.
    let me = get(&dana, &format!("{SCIM}/Me"), json!({})).await;
    assert!(me["groups"].as_array().expect("groups").iter().any(|g| g["display"] == "ops"), "{me}");
    c.api().delete::<Value>(&format!("{SCIM}/Groups/{ops_id}"), &json!({})).await.ok();
    let me = get(&dana, &format!("{SCIM}/Me"), json!({})).await;
    let groups: Vec<&Value> = me["groups"].as_array().into_iter().flatten().collect();
    assert!(groups.iter().all(|g| g["display"] != "ops" && g["display"] != "admins"), "{me}");

    // A renamed user frees the old name and holds the new one.
    let carl = post(&c, &format!("{SCIM}/Users"), json!({"userName": "carl@example.com"})).await;
    let carl_id = carl["id"].as_str().expect("id").to_string();
    c.api()
        .put::<Value>(&format!("{SCIM}/Users/{carl_id}"), &json!({"userName": "carlos@example.com"}))
        .await
        .expect("rename");
    let taken = c.api().post::<Value>(&format!("{SCIM}/Users"), &json!({"userName": "CARLOS@example.com"})).await;
    assert_eq!(taken.expect_err("new name taken").status(), Some(409));
    post(&c, &format!("{SCIM}/Users"), json!({"userName": "carl@example.com"})).await;
    let by_new = get(&c, &format!("{SCIM}/Users"), json!({"filter": "userName eq \"carlos@example.com\""})).await;
    assert_eq!(by_new["Resources"][0]["id"], carl_id.as_str());
}

/// A page of a SCIM list, with and without a filter: `totalResults` counts
/// every match, the page holds `count` of them from `startIndex` (1-based).
#[tokio::test]
async fn scim_lists_page_by_start_index_with_or_without_a_filter() {
    let (_emulator, c) = start().await;
    for i in 1..=5 {
        post(&c, &format!("{SCIM}/Users"), json!({"userName": format!("pg-{i}@example.com")})).await;
    }
    let names = |page: &Value| -> Vec<String> {
        page["Resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u["userName"].as_str().map(str::to_string))
            .collect()
    };
    let all = get(&c, &format!("{SCIM}/Users"), json!({})).await;
    let total = all["totalResults"].as_u64().expect("total");
    assert_eq!(names(&all).len() as u64, total);
    let page = get(&c, &format!("{SCIM}/Users"), json!({"startIndex": 2, "count": 2})).await;
    assert_eq!((page["totalResults"].as_u64(), page["startIndex"].as_u64()), (Some(total), Some(2)));
    assert_eq!(names(&page), names(&all)[1..3]);

    let filter = "userName sw \"pg-\"";
    let page = get(&c, &format!("{SCIM}/Users"), json!({"filter": filter, "startIndex": 2, "count": 2})).await;
    assert_eq!((page["totalResults"].as_u64(), page["itemsPerPage"].as_u64()), (Some(5), Some(2)));
    assert_eq!(names(&page), ["pg-2@example.com", "pg-3@example.com"]);
    let past = get(&c, &format!("{SCIM}/Users"), json!({"filter": filter, "startIndex": 9})).await;
    assert_eq!((past["totalResults"].as_u64(), past.get("Resources")), (Some(5), None));
}
