//! Azure endpoints per cloud (SPEC §4); explicit `arm_endpoint` / `authority_host` (or
//! `AZURE_AUTHORITY_HOST`) win, which is also how tests point aio-prep at the emulator.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// e.g. `https://management.azure.com` (no trailing slash).
    pub arm: String,
    /// e.g. `https://login.microsoftonline.com` (no trailing slash).
    pub authority: String,
}

impl Endpoints {
    pub fn for_cloud(cloud: &str, arm: Option<&str>, authority: Option<&str>) -> Endpoints {
        let (default_arm, default_authority) = match cloud {
            "AzureUSGovernment" => (
                "https://management.usgovcloudapi.net",
                "https://login.microsoftonline.us",
            ),
            "AzureChinaCloud" => (
                "https://management.chinacloudapi.cn",
                "https://login.chinacloudapi.cn",
            ),
            _ => (
                "https://management.azure.com",
                "https://login.microsoftonline.com",
            ),
        };
        Endpoints {
            arm: arm.unwrap_or(default_arm).trim_end_matches('/').to_string(),
            authority: authority
                .unwrap_or(default_authority)
                .trim_end_matches('/')
                .to_string(),
        }
    }

    /// The OAuth scope for ARM (`{arm}/.default`).
    pub fn arm_scope(&self) -> String {
        format!("{}/.default", self.arm)
    }

    /// The resource for managed identity endpoints (`{arm}/`).
    pub fn arm_resource(&self) -> String {
        format!("{}/", self.arm)
    }

    pub fn token_url(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.authority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sovereign_clouds_and_overrides() {
        let e = Endpoints::for_cloud("AzureUSGovernment", None, None);
        assert_eq!(e.arm, "https://management.usgovcloudapi.net");
        assert_eq!(
            e.token_url("t"),
            "https://login.microsoftonline.us/t/oauth2/v2.0/token"
        );
        let e = Endpoints::for_cloud("AzureCloud", Some("https://127.0.0.1:8443/"), None);
        assert_eq!(e.arm_scope(), "https://127.0.0.1:8443/.default");
        assert_eq!(e.arm_resource(), "https://127.0.0.1:8443/");
        assert_eq!(
            Endpoints::for_cloud("AzureChinaCloud", None, None).authority,
            "https://login.chinacloudapi.cn"
        );
    }
}
