//! What unit tests in several modules share; none of it ships.

#![cfg(test)]

/// A small deterministic generator (xorshift), so randomized tests need no extra crate.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
}
