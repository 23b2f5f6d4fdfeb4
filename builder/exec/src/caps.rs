//! Capability sets: Docker's default profile, or everything for `insecure`.

use crate::error::ExecError;
use crate::spec::Security;

/// Capability names by number (`CAP_CHOWN` = 0 …), up to `CAP_CHECKPOINT_RESTORE`.
pub const CAP_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Docker's (and BuildKit's) default capabilities, by number.
pub const DOCKER_DEFAULT_CAPS: [u32; 14] = [
    0,  // CHOWN
    1,  // DAC_OVERRIDE
    3,  // FOWNER
    4,  // FSETID
    5,  // KILL
    6,  // SETGID
    7,  // SETUID
    8,  // SETPCAP
    10, // NET_BIND_SERVICE
    13, // NET_RAW
    18, // SYS_CHROOT
    27, // MKNOD
    29, // AUDIT_WRITE
    31, // SETFCAP
];

/// The capability sets of the command, as bit masks. Like Docker's default
/// profile (after CVE-2022-24769): bounding = effective = permitted, empty
/// inheritable and ambient sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapSet {
    /// Bounding, effective and permitted set.
    pub mask: u64,
    /// The highest capability number the kernel knows.
    pub last_cap: u32,
}

impl CapSet {
    /// The set for `security`, limited to what this process may hold
    /// (its own bounding set).
    pub fn for_security(security: Security) -> Result<Self, ExecError> {
        let last_cap = last_cap()?;
        let all = if last_cap >= 63 {
            u64::MAX
        } else {
            (1u64 << (last_cap + 1)) - 1
        };
        let mask = match security {
            Security::Sandbox => docker_default_mask(),
            Security::Insecure => all & own_bounding_set().unwrap_or(all),
        };
        Ok(CapSet { mask, last_cap })
    }

    /// The names of the capabilities in the set (`CAP_CHOWN` …), ascending.
    pub fn names(&self) -> Vec<String> {
        (0..=self.last_cap.min(63))
            .filter(|c| self.mask & (1 << c) != 0)
            .map(|c| {
                CAP_NAMES
                    .get(c as usize)
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| format!("CAP_{c}"))
            })
            .collect()
    }
}

/// [`DOCKER_DEFAULT_CAPS`] as a mask (`0xa80425fb`).
pub fn docker_default_mask() -> u64 {
    DOCKER_DEFAULT_CAPS.iter().fold(0, |m, c| m | (1u64 << c))
}

fn last_cap() -> Result<u32, ExecError> {
    let path = "/proc/sys/kernel/cap_last_cap";
    let text = std::fs::read_to_string(path).map_err(|e| ExecError::prepare("read", path, e))?;
    text.trim().parse().map_err(|_| {
        ExecError::prepare(
            "parse",
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, "not a number"),
        )
    })
}

fn own_bounding_set() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("CapBnd:"))?;
    u64::from_str_radix(line.trim_start_matches("CapBnd:").trim(), 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_default_mask_matches_docker() {
        assert_eq!(docker_default_mask(), 0xa80425fb);
        let set = CapSet {
            mask: docker_default_mask(),
            last_cap: 40,
        };
        let names = set.names();
        assert_eq!(names.len(), 14);
        assert_eq!(names[0], "CAP_CHOWN");
        assert_eq!(names[13], "CAP_SETFCAP");
        assert!(names.contains(&"CAP_NET_RAW".to_string()));
        assert!(!names.contains(&"CAP_SYS_ADMIN".to_string()));
    }
}
