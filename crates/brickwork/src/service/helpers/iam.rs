//! Name-to-id maps over SCIM listings, as the Go SDK's `*NameToIdMap` helpers.

use std::collections::BTreeMap;

use futures::TryStreamExt;

use crate::service::iam::{
    GroupsApi, GroupsListRequest, ServicePrincipalsApi, ServicePrincipalsListRequest, UsersApi, UsersListRequest,
};
use crate::Result;

impl UsersApi {
    /// `userName` -> `id` of every user the request lists.
    pub async fn user_name_to_id_map(&self, request: UsersListRequest) -> Result<BTreeMap<String, String>> {
        self.list(request).try_filter_map(|u| async move { Ok(u.user_name.zip(u.id)) }).try_collect().await
    }
}

impl GroupsApi {
    /// `displayName` -> `id` of every group the request lists.
    pub async fn display_name_to_id_map(&self, request: GroupsListRequest) -> Result<BTreeMap<String, String>> {
        self.list(request).try_filter_map(|g| async move { Ok(g.display_name.zip(g.id)) }).try_collect().await
    }
}

impl ServicePrincipalsApi {
    /// `displayName` -> `id` of every service principal the request lists.
    pub async fn display_name_to_id_map(
        &self,
        request: ServicePrincipalsListRequest,
    ) -> Result<BTreeMap<String, String>> {
        self.list(request).try_filter_map(|sp| async move { Ok(sp.display_name.zip(sp.id)) }).try_collect().await
    }
}
