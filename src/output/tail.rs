//! Recent output kept in memory for `procmux logs`: every write to stdout, as written, tagged
//! with the instance it is about and numbered, within a byte budget (memory, never disk).
//! Followers of `logs -f` read it by number, so a slow one never slows the main stream: it
//! only falls behind, and is told so.

use std::collections::VecDeque;
use std::io::IoSlice;

pub struct Tail {
    /// Bytes kept at most (0: none).
    budget: usize,
    used: usize,
    /// The number the next write gets.
    next: u64,
    /// (number, instance, bytes), oldest first.
    writes: VecDeque<(u64, Option<usize>, Vec<u8>)>,
    /// Buffers of forgotten writes, reused so that recording allocates only while the tail
    /// grows to its budget.
    spare: Vec<Vec<u8>>,
}

impl Tail {
    pub fn new(budget: usize) -> Tail {
        Tail {
            budget,
            used: 0,
            next: 0,
            writes: VecDeque::new(),
            spare: Vec::new(),
        }
    }

    /// Keeps a write of `iov` about `instance` (`None`: the whole stack).
    pub fn record(&mut self, instance: Option<usize>, iov: &[IoSlice<'_>]) {
        let len: usize = iov.iter().map(|s| s.len()).sum();
        if self.budget == 0 || len == 0 || len > self.budget {
            self.next += 1;
            return;
        }
        while self.used + len > self.budget {
            let Some((_, _, mut old)) = self.writes.pop_front() else {
                break;
            };
            self.used -= old.len();
            old.clear();
            self.spare.push(old);
        }
        let mut bytes = self.spare.pop().unwrap_or_default();
        for slice in iov {
            bytes.extend_from_slice(slice);
        }
        self.used += len;
        self.writes.push_back((self.next, instance, bytes));
        self.next += 1;
    }

    /// The number the next write will get.
    #[cfg(test)]
    pub fn next_number(&self) -> u64 {
        self.next
    }

    /// The writes numbered `from` and later that are still kept, and how many of those from
    /// `from` on were already forgotten.
    pub fn since(&self, from: u64) -> (u64, impl Iterator<Item = (u64, Option<usize>, &[u8])>) {
        let first = self.writes.front().map_or(self.next, |(n, _, _)| *n);
        let lost = first.saturating_sub(from);
        let writes = self
            .writes
            .iter()
            .filter(move |(n, _, _)| *n >= from)
            .map(|(n, i, b)| (*n, *i, b.as_slice()));
        (lost, writes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(tail: &mut Tail, instance: usize, text: &str) {
        tail.record(Some(instance), &[IoSlice::new(text.as_bytes())]);
    }

    #[test]
    fn keeps_the_newest_writes_within_its_budget() {
        let mut tail = Tail::new(10);
        record(&mut tail, 0, "aaaa\n");
        record(&mut tail, 1, "bbbb\n");
        record(&mut tail, 0, "cccc\n");
        let (lost, writes) = tail.since(0);
        let kept: Vec<(u64, &[u8])> = writes.map(|(n, _, b)| (n, b)).collect();
        assert_eq!(lost, 1);
        assert_eq!(kept, [(1, &b"bbbb\n"[..]), (2, &b"cccc\n"[..])]);
        assert_eq!(tail.next_number(), 3);
        let (lost, writes) = tail.since(2);
        assert_eq!((lost, writes.count()), (0, 1));
        let mut off = Tail::new(0);
        record(&mut off, 0, "x\n");
        assert_eq!(off.since(0).1.count(), 0);
    }
}
