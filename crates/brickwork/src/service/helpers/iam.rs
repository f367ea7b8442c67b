//! Name-to-id maps over SCIM listings, as the Go SDK's `*NameToIdMap` helpers.

use std::collections::BTreeMap;

use crate::service::iam::{
    Group, GroupsListRequest, ServicePrincipal, ServicePrincipalsListRequest, User, UsersListRequest,
};
use crate::service::iam::{GroupsApi, ServicePrincipalsApi, UsersApi};
use crate::service::Paginator;
use crate::Result;

/// `name` -> `id` of every item a listing yields that has both.
async fn name_to_id<R: crate::service::runtime::Request, T: serde::de::DeserializeOwned + Send + 'static>(
    mut items: Paginator<R, T>,
    pair: fn(T) -> Option<(String, String)>,
) -> Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    while let Some(item) = items.try_next().await? {
        map.extend(pair(item));
    }
    Ok(map)
}

impl UsersApi {
    /// `userName` -> `id` of every user the request lists.
    pub async fn user_name_to_id_map(&self, request: UsersListRequest) -> Result<BTreeMap<String, String>> {
        name_to_id(self.list().with_request(request), |u: User| u.user_name.zip(u.id)).await
    }
}

impl GroupsApi {
    /// `displayName` -> `id` of every group the request lists.
    pub async fn display_name_to_id_map(&self, request: GroupsListRequest) -> Result<BTreeMap<String, String>> {
        name_to_id(self.list().with_request(request), |g: Group| g.display_name.zip(g.id)).await
    }
}

impl ServicePrincipalsApi {
    /// `displayName` -> `id` of every service principal the request lists.
    pub async fn display_name_to_id_map(
        &self,
        request: ServicePrincipalsListRequest,
    ) -> Result<BTreeMap<String, String>> {
        name_to_id(self.list().with_request(request), |sp: ServicePrincipal| sp.display_name.zip(sp.id)).await
    }
}
