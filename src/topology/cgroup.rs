//! The CPU quota of this process's cgroup, so a pool never starts more busy
//! threads than the process is given time for.
//!
//! The cgroup comes from `/proc/self/cgroup`, its mount from
//! `/proc/self/mountinfo`. Every level from the process's cgroup up to the
//! mount's root is read and the smallest limit wins, since a parent's quota
//! caps its children. Levels that do not exist are skipped, which covers
//! containers whose `/proc/self/cgroup` shows a host path.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::TopologyError;

/// Reads the CPU quota from a filesystem tree (normally `/`; tests point it at
/// a copy holding `proc/self/cgroup`, `proc/self/mountinfo` and
/// `sys/fs/cgroup/...`).
#[derive(Debug, Clone)]
pub struct CgroupReader {
    root: PathBuf,
}

/// One cgroup hierarchy that can hold a CPU limit.
#[derive(Debug)]
struct Hierarchy {
    version: Version,
    /// Where it is mounted, under the reader's root.
    mount_point: PathBuf,
    /// Which cgroup of the hierarchy is mounted there.
    mount_root: String,
    /// The process's cgroup in this hierarchy.
    cgroup: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

impl Default for CgroupReader {
    fn default() -> Self {
        CgroupReader::new("/")
    }
}

impl CgroupReader {
    /// A reader for the tree at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        CgroupReader { root: root.into() }
    }

    /// The quota in CPUs, or `None` if no cgroup limits CPU time (or there is
    /// no cgroup filesystem at all).
    pub fn cpu_quota(&self) -> Result<Option<f64>, TopologyError> {
        let cgroup_path = self.root.join("proc/self/cgroup");
        let cgroup_text = match fs::read_to_string(&cgroup_path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(TopologyError::Io {
                    path: cgroup_path,
                    source,
                })
            }
        };
        let memberships = parse_proc_cgroup(&cgroup_text);
        let mountinfo = fs::read_to_string(self.root.join("proc/self/mountinfo")).ok();

        let mut quota: Option<f64> = None;
        for hierarchy in self.hierarchies(&memberships, mountinfo.as_deref()) {
            if let Some(q) = read_hierarchy(&hierarchy)? {
                quota = Some(quota.map_or(q, |old: f64| old.min(q)));
            }
        }
        Ok(quota)
    }

    /// Pairs each membership that can carry a CPU limit with its mount.
    fn hierarchies(
        &self,
        memberships: &[(Version, String)],
        mountinfo: Option<&str>,
    ) -> Vec<Hierarchy> {
        let mounts = mountinfo.map(parse_mountinfo).unwrap_or_default();
        let mut found = Vec::new();
        for (version, cgroup) in memberships {
            let from_mountinfo: Vec<(PathBuf, String)> = mounts
                .iter()
                .filter(|m| m.0 == *version)
                .map(|m| (self.under_root(&m.1), m.2.clone()))
                .collect();
            let candidates = if from_mountinfo.is_empty() {
                self.usual_mounts(*version)
            } else {
                from_mountinfo
            };
            for (mount_point, mount_root) in candidates {
                if mount_point.is_dir() {
                    found.push(Hierarchy {
                        version: *version,
                        mount_point,
                        mount_root,
                        cgroup: cgroup.clone(),
                    });
                }
            }
        }
        found
    }

    /// Where distributions mount the hierarchies, for when mountinfo is missing.
    fn usual_mounts(&self, version: Version) -> Vec<(PathBuf, String)> {
        let base = self.root.join("sys/fs/cgroup");
        let dirs: Vec<PathBuf> = match version {
            Version::V2 if base.join("cgroup.controllers").exists() => vec![base],
            Version::V2 => vec![base.join("unified")],
            Version::V1 => vec![base.join("cpu"), base.join("cpu,cpuacct")],
        };
        dirs.into_iter().map(|d| (d, "/".to_owned())).collect()
    }

    fn under_root(&self, absolute: &str) -> PathBuf {
        self.root.join(absolute.trim_start_matches('/'))
    }
}

/// Walks from the process's cgroup up to the mount point; the smallest limit wins.
fn read_hierarchy(h: &Hierarchy) -> Result<Option<f64>, TopologyError> {
    let relative = h
        .cgroup
        .strip_prefix(h.mount_root.trim_end_matches('/'))
        .unwrap_or(&h.cgroup)
        .trim_start_matches('/');
    let mut dir = h.mount_point.join(relative);
    let mut quota: Option<f64> = None;
    loop {
        if let Some(q) = read_limit(h.version, &dir)? {
            quota = Some(quota.map_or(q, |old: f64| old.min(q)));
        }
        if dir == h.mount_point || !dir.pop() || !dir.starts_with(&h.mount_point) {
            return Ok(quota);
        }
    }
}

fn read_limit(version: Version, dir: &Path) -> Result<Option<f64>, TopologyError> {
    let malformed = |path: PathBuf, reason: String| TopologyError::Malformed { path, reason };
    match version {
        Version::V2 => {
            let path = dir.join("cpu.max");
            match fs::read_to_string(&path) {
                Ok(text) => parse_cpu_max(&text).map_err(|r| malformed(path, r)),
                Err(_) => Ok(None),
            }
        }
        Version::V1 => {
            let quota_path = dir.join("cpu.cfs_quota_us");
            let period_path = dir.join("cpu.cfs_period_us");
            match (
                fs::read_to_string(&quota_path),
                fs::read_to_string(&period_path),
            ) {
                (Ok(q), Ok(p)) => parse_cfs_quota(&q, &p).map_err(|r| malformed(quota_path, r)),
                _ => Ok(None),
            }
        }
    }
}

/// Parses cgroup v2 `cpu.max` (`"150000 100000"` is 1.5 CPUs, `"max 100000"`
/// is no limit).
///
/// ```
/// use weftpool::topology::parse_cpu_max;
/// assert_eq!(parse_cpu_max("150000 100000\n"), Ok(Some(1.5)));
/// assert_eq!(parse_cpu_max("max 100000"), Ok(None));
/// assert!(parse_cpu_max("lots").is_err());
/// ```
pub fn parse_cpu_max(text: &str) -> Result<Option<f64>, String> {
    let mut fields = text.split_whitespace();
    let quota = fields.next();
    let period = fields.next();
    if fields.next().is_some() {
        return Err(format!("expected \"QUOTA PERIOD\", got {text:?}"));
    }
    match (quota, period) {
        (Some("max"), _) => Ok(None),
        (Some(q), Some(p)) => ratio(q, p, text),
        // The kernel accepts a bare quota and keeps the default period.
        (Some(q), None) => ratio(q, "100000", text),
        (None, _) => Err("cpu.max is empty".to_owned()),
    }
}

/// Parses cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us` (a quota of
/// `-1` is no limit).
///
/// ```
/// use weftpool::topology::parse_cfs_quota;
/// assert_eq!(parse_cfs_quota("50000\n", "100000\n"), Ok(Some(0.5)));
/// assert_eq!(parse_cfs_quota("-1", "100000"), Ok(None));
/// ```
pub fn parse_cfs_quota(quota: &str, period: &str) -> Result<Option<f64>, String> {
    let quota = quota.trim();
    if quota == "-1" {
        return Ok(None);
    }
    ratio(
        quota,
        period.trim(),
        &format!("{quota} / {}", period.trim()),
    )
}

fn ratio(quota: &str, period: &str, text: &str) -> Result<Option<f64>, String> {
    let parse = |s: &str| s.parse::<u64>().ok().filter(|&v| v > 0);
    match (parse(quota), parse(period)) {
        (Some(q), Some(p)) => Ok(Some(q as f64 / p as f64)),
        _ => Err(format!(
            "expected a positive quota and period in microseconds, got {text:?}"
        )),
    }
}

/// `/proc/self/cgroup` lines `ID:CONTROLLERS:PATH` that can carry a CPU limit:
/// the v2 line (`0::/path`) and the v1 line whose controllers include `cpu`.
fn parse_proc_cgroup(text: &str) -> Vec<(Version, String)> {
    let mut found = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            found.push((Version::V2, path.to_owned()));
        } else if controllers.split(',').any(|c| c == "cpu") {
            found.push((Version::V1, path.to_owned()));
        }
    }
    found
}

/// Cgroup mounts in `/proc/self/mountinfo`: (version, mount point, mounted root).
///
/// A line is `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE
/// SOURCE SUPER_OPTIONS`.
fn parse_mountinfo(text: &str) -> Vec<(Version, String, String)> {
    let mut mounts = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(dash) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let (Some(root), Some(mount_point), Some(fstype)) =
            (fields.get(3), fields.get(4), fields.get(dash + 1))
        else {
            continue;
        };
        let super_options = fields.get(dash + 3).copied().unwrap_or("");
        let version = match *fstype {
            "cgroup2" => Version::V2,
            "cgroup" if super_options.split(',').any(|o| o == "cpu") => Version::V1,
            _ => continue,
        };
        mounts.push((version, unescape(mount_point), unescape(root)));
    }
    mounts
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) => {
                let value = d.iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn cpu_max_forms() {
        assert_eq!(parse_cpu_max("max 100000\n"), Ok(None));
        assert_eq!(parse_cpu_max("max"), Ok(None));
        assert_eq!(parse_cpu_max("200000 100000"), Ok(Some(2.0)));
        assert_eq!(parse_cpu_max("50000"), Ok(Some(0.5)));
        for bad in ["", "abc 100", "100 0", "-5 100", "1 2 3", "100 x"] {
            assert!(parse_cpu_max(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cfs_forms() {
        assert_eq!(parse_cfs_quota("-1\n", "100000\n"), Ok(None));
        assert_eq!(parse_cfs_quota("250000", "100000"), Ok(Some(2.5)));
        assert!(parse_cfs_quota("x", "100000").is_err());
        assert!(parse_cfs_quota("100", "0").is_err());
    }

    #[test]
    fn proc_cgroup_lines() {
        let text = "12:cpu,cpuacct:/docker/abc\n4:memory:/x\n0::/user.slice\nbroken\n";
        assert_eq!(
            parse_proc_cgroup(text),
            vec![
                (Version::V1, "/docker/abc".to_owned()),
                (Version::V2, "/user.slice".to_owned())
            ]
        );
    }

    #[test]
    fn mountinfo_lines() {
        let text = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 /docker/abc /sys/fs/cgroup/cpu,cpuacct rw shared:9 - cgroup cgroup rw,cpu,cpuacct
33 31 0:30 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset
41 31 0:38 / /sys/fs/my\\040cgroup rw - cgroup2 cgroup2 rw
";
        assert_eq!(
            parse_mountinfo(text),
            vec![
                (
                    Version::V1,
                    "/sys/fs/cgroup/cpu,cpuacct".to_owned(),
                    "/docker/abc".to_owned()
                ),
                (Version::V2, "/sys/fs/my cgroup".to_owned(), "/".to_owned()),
            ]
        );
    }
}
