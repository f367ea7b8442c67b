//! Which cloud a workspace runs on, told from its host name as the official
//! SDKs tell it, and the Azure endpoints that go with it.

use std::fmt;

/// The cloud a workspace or account runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// Amazon Web Services (also the answer for unknown hosts).
    Aws,
    /// Microsoft Azure.
    Azure,
    /// Google Cloud.
    Gcp,
}

impl Cloud {
    /// `aws`, `azure` or `gcp`, in any case; `None` for anything else.
    pub fn parse(raw: &str) -> Option<Cloud> {
        match raw.trim().to_ascii_uppercase().as_str() {
            "AWS" => Some(Cloud::Aws),
            "AZURE" => Some(Cloud::Azure),
            "GCP" => Some(Cloud::Gcp),
            _ => None,
        }
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cloud::Aws => "AWS",
            Cloud::Azure => "AZURE",
            Cloud::Gcp => "GCP",
        })
    }
}

/// The Microsoft Entra ID and Azure Resource Manager endpoints of one Azure cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AzureEnvironment {
    /// `PUBLIC`, `USGOVERNMENT` or `CHINA`.
    pub name: &'static str,
    /// The resource of the management token sent beside a service principal's token.
    pub service_management_endpoint: &'static str,
    /// Azure Resource Manager, where a workspace resource id is looked up.
    pub resource_manager_endpoint: &'static str,
    /// Microsoft Entra ID (formerly Azure Active Directory), which issues tokens.
    pub active_directory_endpoint: &'static str,
}

/// The application id of Azure Databricks in Entra ID: the resource its tokens are for.
pub const ARM_DATABRICKS_RESOURCE_ID: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";

/// The three Azure clouds the official SDKs know.
pub const AZURE_ENVIRONMENTS: [AzureEnvironment; 3] = [
    AzureEnvironment {
        name: "PUBLIC",
        service_management_endpoint: "https://management.core.windows.net/",
        resource_manager_endpoint: "https://management.azure.com/",
        active_directory_endpoint: "https://login.microsoftonline.com/",
    },
    AzureEnvironment {
        name: "USGOVERNMENT",
        service_management_endpoint: "https://management.core.usgovcloudapi.net/",
        resource_manager_endpoint: "https://management.usgovcloudapi.net/",
        active_directory_endpoint: "https://login.microsoftonline.us/",
    },
    AzureEnvironment {
        name: "CHINA",
        service_management_endpoint: "https://management.core.chinacloudapi.cn/",
        resource_manager_endpoint: "https://management.chinacloudapi.cn/",
        active_directory_endpoint: "https://login.chinacloudapi.cn/",
    },
];

/// A Databricks deployment: its cloud, DNS zone and, on Azure, the Entra ID
/// application to ask tokens for and the Azure cloud it lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatabricksEnvironment {
    /// The cloud.
    pub cloud: Cloud,
    /// The suffix of its host names, e.g. `.azuredatabricks.net`.
    pub dns_zone: &'static str,
    /// On Azure: the Entra ID application (resource) of Azure Databricks.
    pub azure_application_id: Option<&'static str>,
    /// On Azure: the Azure cloud.
    pub azure_environment: Option<&'static AzureEnvironment>,
}

const fn plain(cloud: Cloud, dns_zone: &'static str) -> DatabricksEnvironment {
    DatabricksEnvironment { cloud, dns_zone, azure_application_id: None, azure_environment: None }
}

const fn azure(dns_zone: &'static str, app: &'static str, env: &'static AzureEnvironment) -> DatabricksEnvironment {
    DatabricksEnvironment {
        cloud: Cloud::Azure,
        dns_zone,
        azure_application_id: Some(app),
        azure_environment: Some(env),
    }
}

/// The environment of hosts no known zone matches.
pub const DEFAULT_ENVIRONMENT: DatabricksEnvironment = plain(Cloud::Aws, ".cloud.databricks.com");

/// Every known deployment; the first zone that ends a host name wins, so
/// the dev and staging zones come before the production ones they end with.
pub const ENVIRONMENTS: [DatabricksEnvironment; 12] = [
    plain(Cloud::Aws, ".dev.databricks.com"),
    plain(Cloud::Aws, ".staging.cloud.databricks.com"),
    plain(Cloud::Aws, ".cloud.databricks.us"),
    DEFAULT_ENVIRONMENT,
    azure(".dev.azuredatabricks.net", "62a912ac-b58e-4c1d-89ea-b2dbfc7358fc", &AZURE_ENVIRONMENTS[0]),
    azure(".staging.azuredatabricks.net", "4a67d088-db5c-48f1-9ff2-0aace800ae68", &AZURE_ENVIRONMENTS[0]),
    azure(".azuredatabricks.net", ARM_DATABRICKS_RESOURCE_ID, &AZURE_ENVIRONMENTS[0]),
    azure(".databricks.azure.us", ARM_DATABRICKS_RESOURCE_ID, &AZURE_ENVIRONMENTS[1]),
    azure(".databricks.azure.cn", ARM_DATABRICKS_RESOURCE_ID, &AZURE_ENVIRONMENTS[2]),
    plain(Cloud::Gcp, ".dev.gcp.databricks.com"),
    plain(Cloud::Gcp, ".staging.gcp.databricks.com"),
    plain(Cloud::Gcp, ".gcp.databricks.com"),
];

/// The deployment a host name belongs to, [`DEFAULT_ENVIRONMENT`] when none matches.
pub fn for_hostname(hostname: &str) -> &'static DatabricksEnvironment {
    ENVIRONMENTS.iter().find(|env| hostname.ends_with(env.dns_zone)).unwrap_or(&DEFAULT_ENVIRONMENT)
}

/// The production Azure deployment of the Azure cloud `name` (`PUBLIC`,
/// `USGOVERNMENT`, `CHINA`; the older `AzurePublicCloud` spellings too).
pub fn azure_by_name(name: &str) -> Option<&'static DatabricksEnvironment> {
    let upper = name.trim().to_ascii_uppercase();
    let short = upper.strip_prefix("AZURE").unwrap_or(&upper);
    let short = short.strip_suffix("CLOUD").unwrap_or(short);
    ENVIRONMENTS.iter().find(|env| {
        env.azure_environment.is_some_and(|a| a.name == short)
            && !env.dns_zone.starts_with(".dev")
            && !env.dns_zone.starts_with(".staging")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_map_to_their_cloud_and_azure_environment() {
        let env = for_hostname("adb-123.4.azuredatabricks.net");
        assert_eq!((env.cloud, env.azure_application_id), (Cloud::Azure, Some(ARM_DATABRICKS_RESOURCE_ID)));
        assert_eq!(for_hostname("x.staging.azuredatabricks.net").azure_application_id.map(|a| &a[..4]), Some("4a67"));
        assert_eq!(for_hostname("adb-1.databricks.azure.cn").azure_environment.map(|a| a.name), Some("CHINA"));
        assert_eq!(for_hostname("1.2.gcp.databricks.com").cloud, Cloud::Gcp);
        assert_eq!(for_hostname("127.0.0.1"), &DEFAULT_ENVIRONMENT);
        assert_eq!(azure_by_name("AzureUSGovernmentCloud").map(|e| e.dns_zone), Some(".databricks.azure.us"));
        assert_eq!(azure_by_name("public").map(|e| e.dns_zone), Some(".azuredatabricks.net"));
        assert!(azure_by_name("mars").is_none());
        assert_eq!(Cloud::parse(" azure "), Some(Cloud::Azure));
        assert_eq!(Cloud::parse("oracle"), None);
    }
}
