//! Network interfaces, from `sys/class/net/*` under the host root, with their addresses.
//!
//! A new interface (a VPN tunnel, a bridge, a container veth) or a new address puts the host on
//! another network. Items are keyed by interface name; fields are the MAC address, MTU, link type,
//! whether it is administratively up (the IFF_UP bit of `flags`, not `operstate`, which follows
//! the cable) and the addresses. IPv6 addresses come from `proc/net/if_inet6`, skipping temporary
//! (privacy) and deprecated ones, which rotate on their own. IPv4 addresses have no procfs
//! table, so they come from `getifaddrs`, which describes the scanning process's own network
//! namespace: they are only listed on a live scan (root `/`). Counters and statistics are left
//! out.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv6Addr;
use std::path::Path;

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, escape_os};
use crate::model::{Change, ChangeKind, Item};
use crate::sources::common::render_modified;

/// The `list_ifaces` collector.
pub struct ListIfaces;

const IFF_UP: u32 = 0x1;
const IFA_F_TEMPORARY: u32 = 0x01;
const IFA_F_DEPRECATED: u32 = 0x20;

impl Collector for ListIfaces {
    fn name(&self) -> &'static str {
        "list_ifaces"
    }
    fn description(&self) -> &'static str {
        "network interfaces: MAC, MTU, type, up/down and addresses (IPv4 on live scans only)"
    }
    fn noun(&self) -> &'static str {
        "network interface"
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let net = host.path("/sys/class/net");
        let dir = match host.read_dir_real(&net) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CollectError::Unavailable(format!(
                    "/sys/class/net does not exist under {}: sysfs is not mounted there; scan a \
                     live host or mount /sys",
                    host.root().display()
                )));
            }
            Err(e) => return Err(CollectError::io(net, e)),
        };
        let mut addrs = ipv6_addresses(host);
        if host.is_live() {
            for (name, a) in ipv4_addresses() {
                addrs.entry(name).or_default().insert(a);
            }
        }
        let mut items = Vec::new();
        for entry in dir.flatten() {
            let name = escape_os(&entry.file_name());
            let path = entry.path();
            let flags = attr(host, &path, "flags")
                .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok());
            let addresses = addrs
                .remove(&name)
                .map(|a| a.into_iter().collect::<Vec<_>>().join(","));
            items.push(
                Item::new(name)
                    .with_opt(
                        "mac",
                        attr(host, &path, "address").filter(|m| !m.is_empty()),
                    )
                    .with_opt("mtu", attr(host, &path, "mtu"))
                    .with_opt("type", attr(host, &path, "type").map(|t| link_type(&t)))
                    .with_opt(
                        "state",
                        flags.map(|f| if f & IFF_UP != 0 { "up" } else { "down" }),
                    )
                    .with_opt("addresses", addresses),
            );
        }
        Ok(items)
    }

    fn message(&self, change: &Change) -> String {
        let noun = self.noun();
        match change.kind {
            ChangeKind::Added => {
                let f = change.after.clone().unwrap_or_default();
                let about = crate::sources::common::render_named(
                    &f,
                    &["mac", "addresses", "mtu", "type", "state"],
                );
                format!("{noun} {} added ({})", change.key, about)
            }
            ChangeKind::Removed => format!("{noun} {} removed", change.key),
            ChangeKind::Modified => {
                format!("{noun} {} changed: {}", change.key, render_modified(change))
            }
        }
    }
}

/// A sysfs attribute, trimmed; `None` when absent or unreadable (some devices refuse some
/// attributes).
fn attr(host: &Host, dev: &Path, name: &str) -> Option<String> {
    // Escaped: under a fake root these files are whatever the image holds.
    host.read_real(&dev.join(name))
        .ok()
        .map(|s| crate::host::escape_bytes(s.trim_ascii()))
}

/// ARPHRD_* numbers of the common link types; others stay numeric.
fn link_type(t: &str) -> String {
    match t {
        "1" => "ether",
        "32" => "infiniband",
        "512" => "ppp",
        "768" => "ipip",
        "769" => "ip6tnl",
        "772" => "loopback",
        "776" => "sit",
        "778" => "gre",
        "801" => "ieee80211",
        "823" => "ip6gre",
        "65534" => "none",
        other => other,
    }
    .to_string()
}

/// Interface name → `addr/prefix` from `proc/net/if_inet6`:
/// `address(32 hex) ifindex prefixlen scope flags name`, all hex. Malformed lines are skipped;
/// a missing file (IPv6 disabled) gives none.
fn ipv6_addresses(host: &Host) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let Ok(Some(text)) = host.read_optional("/proc/net/if_inet6") else {
        return out;
    };
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let [addr, _index, prefix, _scope, flags, name] = cols[..] else {
            continue;
        };
        let (Ok(bits), Ok(prefix), Ok(flags)) = (
            u128::from_str_radix(addr, 16),
            u8::from_str_radix(prefix, 16),
            u32::from_str_radix(flags, 16),
        ) else {
            continue;
        };
        if addr.len() != 32 || flags & (IFA_F_TEMPORARY | IFA_F_DEPRECATED) != 0 {
            continue;
        }
        out.entry(name.to_string())
            .or_default()
            .insert(format!("{}/{prefix}", Ipv6Addr::from(bits)));
    }
    out
}

/// (interface, `addr/prefix`) of this process's IPv4 addresses.
fn ipv4_addresses() -> Vec<(String, String)> {
    let Ok(list) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    list.filter_map(|ifa| {
        let addr = ifa.address?.as_sockaddr_in()?.ip();
        let prefix = ifa
            .netmask
            .and_then(|m| m.as_sockaddr_in().map(|m| m.ip().to_bits().count_ones()))
            .unwrap_or(32);
        Some((ifa.interface_name, format!("{addr}/{prefix}")))
    })
    .collect()
}

#[cfg(test)]
mod tests;
