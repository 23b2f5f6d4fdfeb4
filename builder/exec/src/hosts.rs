//! Default `/etc/hosts` and `/etc/resolv.conf` contents.

use crate::error::ExecError;
use crate::spec::Network;

/// BuildKit's `/etc/hosts` for a RUN container with this hostname.
pub fn default_hosts(hostname: &str) -> String {
    format!("127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n")
}

/// The `resolv.conf` for a container: the host's `/etc/resolv.conf`; outside
/// the host network, loopback name servers (unreachable there) are dropped
/// and Docker's public defaults used when none is left.
pub fn host_resolv_conf(network: Network) -> Result<String, ExecError> {
    let path = "/etc/resolv.conf";
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(ExecError::prepare("read", path, e)),
    };
    Ok(resolv_conf_for(&text, network))
}

/// Adapts resolv.conf text for a container on `network` (see
/// [`host_resolv_conf`]).
pub fn resolv_conf_for(text: &str, network: Network) -> String {
    let mut out = String::new();
    let mut servers = 0;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            let addr = words.next().unwrap_or("");
            let loopback = addr.starts_with("127.") || addr == "::1";
            if loopback && network == Network::None {
                continue;
            }
            servers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_servers_are_dropped_without_host_network() {
        let host = "search example.com\nnameserver 127.0.0.53\nnameserver 10.0.0.2\n";
        assert_eq!(
            resolv_conf_for(host, Network::None),
            "search example.com\nnameserver 10.0.0.2\n"
        );
        assert_eq!(resolv_conf_for(host, Network::Host), host);
        assert_eq!(
            resolv_conf_for("nameserver 127.0.0.1\n", Network::None),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
    }

    #[test]
    fn hosts_names_the_sandbox() {
        assert_eq!(
            default_hosts("h"),
            "127.0.0.1\tlocalhost h\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        );
    }
}
