//! What to subscribe and where: the stream endpoint (the REST host with `api.` replaced by
//! `api-ws.`), the sites (`ingest.stream.sites`, else every site of the org), and how their
//! channels are spread over connections within the per-connection limit.

use reqwest::Url;

use super::message::site_stats_channel;
use crate::config::Config;
use crate::mist::{MistClient, MistError};

/// `wss://api-ws.<cloud>/api-ws/v1/stream` for `https://api.<cloud>`; `ingest.stream.url`
/// wins when set. A REST URL that does not start with `api.` keeps its host.
pub fn endpoint(config: &Config) -> Result<String, String> {
    let configured = config.ingest.stream.url.trim();
    if !configured.is_empty() {
        return Ok(configured.to_string());
    }
    let rest = Url::parse(&config.mist.api_url)
        .map_err(|e| format!("mist.api_url {:?}: {e}", config.mist.api_url))?;
    let scheme = if rest.scheme() == "http" { "ws" } else { "wss" };
    let host = rest
        .host_str()
        .ok_or_else(|| format!("mist.api_url {:?} has no host", config.mist.api_url))?;
    let host = match host.strip_prefix("api.") {
        Some(cloud) => format!("api-ws.{cloud}"),
        None => host.to_string(),
    };
    let port = rest.port().map(|p| format!(":{p}")).unwrap_or_default();
    Ok(format!("{scheme}://{host}{port}/api-ws/v1/stream"))
}

/// The sites to watch: the configured list, else every site of `mist.org_id`.
pub async fn sites(config: &Config, mist: &MistClient) -> Result<Vec<String>, MistError> {
    if !config.ingest.stream.sites.is_empty() {
        return Ok(config.ingest.stream.sites.clone());
    }
    let org = config
        .mist
        .org_id
        .as_deref()
        .ok_or(MistError::NotConfigured("mist.org_id"))?;
    let mut ids: Vec<String> = mist
        .org_sites(org)
        .await?
        .into_iter()
        .map(|s| s.id)
        .filter(|id| !id.is_empty())
        .collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Whether the site list is read again now and then (it is only when it came from the org).
pub fn refreshes(config: &Config) -> bool {
    config.ingest.stream.sites.is_empty()
}

/// The channels of `sites`, at most `per_connection` per group; one group per connection.
pub fn plan(sites: &[String], per_connection: usize) -> Vec<Vec<String>> {
    let channels: Vec<String> = sites.iter().map(|s| site_stats_channel(s)).collect();
    channels
        .chunks(per_connection.max(1))
        .map(<[String]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_follows_the_rest_cloud() {
        let mut config = Config::default();
        for (rest, ws) in [
            (
                "https://api.mist.com",
                "wss://api-ws.mist.com/api-ws/v1/stream",
            ),
            (
                "https://api.eu.mist.com/",
                "wss://api-ws.eu.mist.com/api-ws/v1/stream",
            ),
            (
                "https://api.gc1.mist.com",
                "wss://api-ws.gc1.mist.com/api-ws/v1/stream",
            ),
            (
                "http://127.0.0.1:8080",
                "ws://127.0.0.1:8080/api-ws/v1/stream",
            ),
        ] {
            config.mist.api_url = rest.into();
            assert_eq!(endpoint(&config).as_deref(), Ok(ws), "{rest}");
        }
        config.ingest.stream.url = "ws://127.0.0.1:9/api-ws/v1/stream".into();
        assert_eq!(
            endpoint(&config).as_deref(),
            Ok("ws://127.0.0.1:9/api-ws/v1/stream")
        );
    }

    #[test]
    fn channels_spread_within_the_limit() {
        let sites: Vec<String> = (0..2500).map(|i| format!("site-{i}")).collect();
        let groups = plan(&sites, 1000);
        assert_eq!(
            groups.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![1000, 1000, 500]
        );
        assert_eq!(groups[0][0], "/sites/site-0/stats/devices");
        assert!(plan(&[], 1000).is_empty());
    }
}
