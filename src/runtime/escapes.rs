//! Keeping the watchdog informed: every process group procmux creates, and the groups of
//! descendants that detach into groups of their own (a daemon's `setsid`), found by scans of
//! `/proc` a few times after each start, so that they die too if procmux is SIGKILLed. (Those
//! that detach later are found by the watchdog itself, by the `PROCMUX_TREE` variable in
//! their environment.) The same scans let the children table note whose tree each escaped
//! process is, while its ancestry still shows it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use nix::unistd::Pid;

use super::procfs::Proc;
use super::watchdog::Watchdog;

/// After each start, when to look for descendants that detached into groups of their own.
const SCANS: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(2),
    Duration::from_secs(10),
];
/// Scans are rounded up to multiples of this, so that many starts cost few scans.
const SCAN_GRID: Duration = Duration::from_millis(500);

pub struct Escapes {
    /// Kills every group if procmux dies without cleaning up (`None` if it could not start).
    watchdog: Option<Watchdog>,
    /// Groups the watchdog knows about.
    watched: HashSet<Pid>,
    /// When to scan next (sorted).
    scans: Vec<Instant>,
    /// The origin of the scan grid.
    epoch: Instant,
}

impl Escapes {
    pub fn new(watchdog: Option<Watchdog>) -> Escapes {
        Escapes {
            watchdog,
            watched: HashSet::new(),
            scans: Vec::new(),
            epoch: Instant::now(),
        }
    }

    /// A process started, leading group `pgid`: tell the watchdog, and look for what detaches
    /// from it soon after, on a coarse grid so that processes started together share scans.
    pub fn started(&mut self, pgid: Pid, now: Instant) {
        self.watch(pgid);
        for after in SCANS {
            let since = (now + after).saturating_duration_since(self.epoch);
            let slots = since.as_nanos().div_ceil(SCAN_GRID.as_nanos()) as u32;
            let due = self.epoch + SCAN_GRID * slots;
            if let Err(at) = self.scans.binary_search(&due) {
                self.scans.insert(at, due);
            }
        }
    }

    pub fn next_due(&self) -> Option<Instant> {
        self.scans.first().copied()
    }

    /// True when a scan is due (and takes it off the schedule).
    pub fn scan_due(&mut self, now: Instant) -> bool {
        if self.scans.first().is_none_or(|&due| due > now) {
            return false;
        }
        self.scans.retain(|&due| due > now);
        true
    }

    /// A scan found these descendants: the watchdog learns their groups.
    pub fn found(&mut self, descendants: &[Proc]) {
        for descendant in descendants {
            self.watch(descendant.pgid);
        }
    }

    /// Group `pgid` is empty: the watchdog must never signal it (its id may be reused).
    pub fn forget(&mut self, pgid: Pid) {
        if self.watched.remove(&pgid)
            && let Some(watchdog) = &mut self.watchdog
        {
            watchdog.forget(pgid);
        }
    }

    /// procmux is exiting cleanly: the watchdog has nothing to do.
    pub fn dismiss(&mut self) {
        if let Some(watchdog) = &mut self.watchdog {
            watchdog.dismiss();
        }
    }

    /// Tells the watchdog about a process group, once.
    fn watch(&mut self, pgid: Pid) {
        if self.watched.insert(pgid)
            && let Some(watchdog) = &mut self.watchdog
        {
            watchdog.watch(pgid);
        }
    }
}
