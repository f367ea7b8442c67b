//! Unity Catalog grants read page by page, as the paged
//! `privilege-assignments` endpoints answer them.

mod common;

use brickwork::transport::Method;
use common::*;
use serde_json::{json, Value};

/// Every assignment of a paged listing, following its tokens.
async fn all_pages(c: &brickwork::Client, path: &str, key: &str, page_size: i64) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut token: Option<String> = None;
    loop {
        let page = get(c, path, json!({"page_size": page_size, "page_token": token})).await;
        pages += 1;
        items.extend(page[key].as_array().cloned().unwrap_or_default());
        match page["next_page_token"].as_str() {
            Some(next) => token = Some(next.to_string()),
            None => return (items, pages),
        }
    }
}

#[tokio::test]
async fn privilege_assignments_page_by_principal_and_refuse_pages_too_small() {
    let (_emulator, c) = start().await;
    let mut changes = Vec::new();
    for i in 0..160 {
        post(&c, "/api/2.0/preview/scim/v2/Groups", json!({"displayName": format!("team-{i:03}")})).await;
        changes.push(json!({"principal": format!("team-{i:03}"), "add": ["USE_CATALOG"]}));
    }
    let update = |path: &str, changes: Value| {
        let path = path.to_string();
        let c = c.clone();
        async move {
            c.api()
                .request(Method::PATCH, path.as_str())
                .json(&json!({"changes": changes}))
                .send()
                .await
                .expect("grant")
                .json::<Value>()
                .expect("json")
        }
    };
    update("/api/2.1/unity-catalog/permissions/catalog/main", json!(changes)).await;
    update(
        "/api/2.1/unity-catalog/permissions/schema/main.default",
        json!([{"principal": "team-007", "add": ["USE_SCHEMA"]}]),
    )
    .await;

    let (direct, pages) =
        all_pages(&c, "/api/2.1/unity-catalog/privilege-assignments/catalog/main", "privilege_assignments", 150).await;
    assert_eq!(pages, 2);
    let principals: Vec<&str> = direct.iter().filter_map(|a| a["principal"].as_str()).collect();
    let expected: Vec<String> = (0..160).map(|i| format!("team-{i:03}")).collect();
    assert_eq!(principals, expected, "each principal once, in order");

    let (effective, _) = all_pages(
        &c,
        "/api/2.1/unity-catalog/effective-privilege-assignments/schema/main.default",
        "effective_privilege_assignments",
        150,
    )
    .await;
    assert_eq!(effective.len(), 160);
    let seven = effective.iter().find(|a| a["principal"] == "team-007").expect("team-007");
    let held: Vec<(&str, Option<&str>)> = seven["privileges"]
        .as_array()
        .expect("privileges")
        .iter()
        .map(|p| (p["privilege"].as_str().unwrap_or_default(), p["inherited_from_name"].as_str()))
        .collect();
    assert!(held.contains(&("USE_SCHEMA", None)) && held.contains(&("USE_CATALOG", Some("main"))), "{held:?}");

    // The unpaged read still answers everything at once.
    let whole = get(&c, "/api/2.1/unity-catalog/permissions/catalog/main", json!({})).await;
    assert_eq!(whole["privilege_assignments"].as_array().map(Vec::len), Some(160));
    assert!(whole.get("next_page_token").is_none());

    for (size, token) in [(json!(10), None), (json!(-1), None), (json!(150), Some("forged"))] {
        let err = c
            .api()
            .get::<Value>(
                "/api/2.1/unity-catalog/privilege-assignments/catalog/main",
                &json!({"page_size": size, "page_token": token}),
            )
            .await
            .expect_err("refused");
        assert_eq!(err.status(), Some(400), "{size} {token:?}: {err}");
    }
}

#[tokio::test]
async fn renaming_a_catalog_or_schema_carries_its_volumes_files() {
    let (_emulator, c) = start().await;
    post(&c, "/api/2.1/unity-catalog/catalogs", json!({"name": "sales"})).await;
    post(&c, "/api/2.1/unity-catalog/schemas", json!({"name": "raw", "catalog_name": "sales"})).await;
    post(
        &c,
        "/api/2.1/unity-catalog/volumes",
        json!({"name": "drop", "catalog_name": "sales", "schema_name": "raw", "volume_type": "MANAGED"}),
    )
    .await;
    let files = "/api/2.0/fs/files/Volumes";
    c.api()
        .request(Method::PUT, format!("{files}/sales/raw/drop/a.csv").as_str())
        .bytes("x,y\n")
        .send()
        .await
        .expect("upload");

    let patch = |path: &str, body: Value| {
        let (c, path) = (c.clone(), path.to_string());
        async move { c.api().request(Method::PATCH, path.as_str()).json(&body).send().await.expect("rename") }
    };
    patch("/api/2.1/unity-catalog/schemas/sales.raw", json!({"new_name": "landing"})).await;
    patch("/api/2.1/unity-catalog/catalogs/sales", json!({"new_name": "revenue"})).await;

    let moved = c
        .api()
        .request(Method::GET, format!("{files}/revenue/landing/drop/a.csv").as_str())
        .send()
        .await
        .expect("moved with its catalog");
    assert_eq!(moved.bytes().as_ref(), b"x,y\n");
    let old = c.api().request(Method::GET, format!("{files}/sales/raw/drop/a.csv").as_str()).send().await;
    assert!(old.is_err(), "nothing left at the old path");
    let volume = get(&c, "/api/2.1/unity-catalog/volumes/revenue.landing.drop", json!({})).await;
    assert_eq!(volume["full_name"], "revenue.landing.drop");
}

/// A non-admin lists the catalogs they may use, whoever made them useful:
/// a grant to them or to their group, ownership; renames, revocations,
/// a new owner and drops show on the next list, and pages follow the
/// names after the cursor.
#[tokio::test]
async fn a_non_admins_catalog_list_follows_grants_ownership_and_renames() {
    let (emulator, admin) = start_with(fast().user("ann@example.com", "dapi-ann")).await;
    let ann = client(&emulator, "dapi-ann").await;
    for name in ["c1", "c2", "c3", "c4", "c5", "c6"] {
        post(&admin, "/api/2.1/unity-catalog/catalogs", json!({"name": name})).await;
    }
    let users =
        get(&admin, "/api/2.0/preview/scim/v2/Users", json!({"filter": "userName eq \"ann@example.com\""})).await;
    let ann_id = users["Resources"][0]["id"].clone();
    post(&admin, "/api/2.0/preview/scim/v2/Groups", json!({"displayName": "analysts", "members": [{"value": ann_id}]}))
        .await;
    let grant = |securable: &'static str, principal: &'static str, add: &'static str, remove: bool| {
        let admin = admin.clone();
        async move {
            let change = if remove {
                json!({"principal": principal, "remove": [add]})
            } else {
                json!({"principal": principal, "add": [add]})
            };
            let path = format!("/api/2.1/unity-catalog/permissions/catalog/{securable}");
            admin
                .api()
                .request(Method::PATCH, path.as_str())
                .json(&json!({"changes": [change]}))
                .send()
                .await
                .expect("grant");
        }
    };
    let update = |name: &'static str, body: Value| {
        let admin = admin.clone();
        async move {
            let path = format!("/api/2.1/unity-catalog/catalogs/{name}");
            admin.api().request(Method::PATCH, path.as_str()).json(&body).send().await.expect("update");
        }
    };
    grant("c2", "ann@example.com", "USE_CATALOG", false).await;
    grant("c3", "ann@example.com", "CREATE_SCHEMA", false).await;
    grant("c4", "analysts", "ALL_PRIVILEGES", false).await;
    grant("c6", "account users", "USE_CATALOG", false).await;
    update("c5", json!({"owner": "ann@example.com"})).await;
    let listed = || async {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page =
                get(&ann, "/api/2.1/unity-catalog/catalogs", json!({"max_results": 1, "page_token": token})).await;
            names.extend(
                page["catalogs"].as_array().into_iter().flatten().map(|c| c["name"].as_str().unwrap_or("").to_string()),
            );
            match page["next_page_token"].as_str() {
                Some(next) => token = Some(next.to_string()),
                None => return names,
            }
        }
    };
    assert_eq!(listed().await, ["c2", "c4", "c5", "c6"], "c3 grants no USE_CATALOG; c1 and main are the admin's");

    update("c2", json!({"new_name": "c0"})).await;
    grant("c4", "analysts", "ALL_PRIVILEGES", true).await;
    update("c5", json!({"owner": "admin@example.com"})).await;
    admin
        .api()
        .request(Method::DELETE, "/api/2.1/unity-catalog/catalogs/c6")
        .query(&json!({"force": true}))
        .send()
        .await
        .expect("drop c6");
    assert_eq!(listed().await, ["c0"]);
    assert_eq!(
        get(&admin, "/api/2.1/unity-catalog/catalogs", json!({})).await["catalogs"].as_array().map(Vec::len),
        Some(6)
    );
}
