//! The local time zone, read without a walk of the zone database.
//!
//! jiff's `TimeZone::try_system` names the zone by looking it up in its database, and the
//! database's first lookup walks all of `/usr/share/zoneinfo` (some 600 directories and files,
//! about 540 system calls) at every start of every command that shows a time. With `TZ`
//! unset the zone is `/etc/localtime` (on Linux and macOS alike): its TZif data is read here,
//! named after the part of its link's target under `zoneinfo/`. Anything else (`TZ` set, no
//! `/etc/localtime`, data that is not TZif) is left to jiff.

use std::path::Path;

use jiff::tz::TimeZone;

const LOCALTIME: &str = "/etc/localtime";

/// The system's local time zone (UTC when it cannot be determined).
pub fn local() -> TimeZone {
    std::env::var_os("TZ")
        .is_none()
        .then(|| read(Path::new(LOCALTIME)))
        .flatten()
        .unwrap_or_else(|| TimeZone::try_system().unwrap_or(TimeZone::UTC))
}

/// The zone in the TZif file at `path`, named after its link's target: `None` when it is
/// missing, unreadable or not TZif.
fn read(path: &Path) -> Option<TimeZone> {
    let data = std::fs::read(path).ok()?;
    let target = std::fs::read_link(path).ok();
    let name = target.as_deref().and_then(zone_name).unwrap_or("Local");
    TimeZone::tzif(name, &data).ok()
}

/// `Europe/Paris` of `/usr/share/zoneinfo/Europe/Paris` (or `../usr/share/zoneinfo/…`, or
/// macOS's `/var/db/timezone/zoneinfo/…`).
fn zone_name(target: &Path) -> Option<&str> {
    let target = target.to_str()?;
    let at = target.rfind("zoneinfo/")?;
    Some(&target[at + "zoneinfo/".len()..]).filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_is_what_follows_zoneinfo() {
        for (target, name) in [
            ("/usr/share/zoneinfo/Europe/Paris", Some("Europe/Paris")),
            ("../usr/share/zoneinfo/Etc/UTC", Some("Etc/UTC")),
            (
                "/var/db/timezone/zoneinfo/Asia/Kathmandu",
                Some("Asia/Kathmandu"),
            ),
            (
                "/usr/share/zoneinfo/posix/America/New_York",
                Some("posix/America/New_York"),
            ),
            ("/usr/share/zoneinfo/", None),
            ("/etc/my-zone", None),
        ] {
            assert_eq!(zone_name(Path::new(target)), name, "{target}");
        }
    }

    #[test]
    fn a_file_that_is_missing_foreign_or_a_dangling_link_gives_none() {
        let dir = std::env::temp_dir().join(format!("procmux-zone-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let foreign = dir.join("foreign");
        std::fs::write(&foreign, b"TZif\xff\xfe not a zone\n$PATH %s # \x00").unwrap();
        let dangling = dir.join("dangling");
        let _ = std::fs::remove_file(&dangling);
        std::os::unix::fs::symlink(dir.join("zoneinfo/Nowhere/City"), &dangling).unwrap();
        assert!(read(&foreign).is_none());
        assert!(read(&dangling).is_none());
        assert!(read(&dir.join("missing")).is_none());
        assert!(read(&dir).is_none(), "a directory");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_zone_read_here_is_the_one_jiff_finds() {
        // Whatever this machine's zone is, both ways give the same offset now and in summer.
        let mine = local();
        let jiffs = TimeZone::try_system().unwrap_or(TimeZone::UTC);
        for seconds in [0, 1_780_000_000, 1_795_000_000] {
            let at = jiff::Timestamp::from_second(seconds).unwrap();
            assert_eq!(mine.to_offset(at), jiffs.to_offset(at));
        }
    }
}
