//! `port = "auto"`: a block of ports for this checkout, derived from its canonical root so
//! that it is the same on every run (bookmarks keep working), moved to the next block while
//! one of its ports is held; and `PORT_<NAME>`, every process type's port, for every process.

/// Auto blocks lie in `[FIRST, LAST)`: above the usual fixed ports (3000, 5000, 8000, 8080),
/// below the kernel's ephemeral range (32768 up, on Linux, in part: a block there is moved
/// past when held).
const FIRST: u32 = 10_000;
const LAST: u32 = 60_000;

/// The base port of the first block of `span` ports (at least; a multiple of 100: foreman's
/// layout gives each process type 100), from the one `key` (the checkout's canonical root)
/// hashes to on, whose ports `base + offset`, for each of `offsets`, are all free.
pub fn auto_base(
    key: &[u8],
    span: u32,
    offsets: &[u32],
    free: &dyn Fn(u16) -> bool,
) -> Result<u32, String> {
    let span = offsets.iter().map(|o| o + 1).fold(span.max(1), u32::max);
    let block = span.div_ceil(100) * 100;
    let count = (LAST - FIRST) / block;
    if count == 0 {
        return Err(format!(
            "port = \"auto\": {span} ports do not fit between {FIRST} and {LAST}"
        ));
    }
    let start = (super::socket::fnv1a(key) % u64::from(count)) as u32;
    (0..count)
        .map(|i| FIRST + (start + i) % count * block)
        .find(|base| offsets.iter().all(|o| free((base + o) as u16)))
        .ok_or_else(|| {
            format!("port = \"auto\": no block of {block} free ports between {FIRST} and {LAST}")
        })
}

/// `PORT_WEB`, `PORT_API_WEB`: the variable naming a type's port (upper case, every
/// character but ASCII letters and digits as `_`).
pub fn variable(name: &str) -> String {
    let upper: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("PORT_{upper}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_stable_per_key_and_move_past_held_ports() {
        let offsets = [0, 1, 100, 200];
        let a = auto_base(b"/srv/app", 300, &offsets, &|_| true).unwrap();
        assert_eq!(a, auto_base(b"/srv/app", 300, &offsets, &|_| true).unwrap());
        let b = auto_base(b"/srv/app-review", 300, &offsets, &|_| true).unwrap();
        assert_ne!(a, b);
        for base in [a, b] {
            assert!(
                (FIRST..LAST - 300).contains(&base) && base % 300 == FIRST % 300,
                "{base}"
            );
        }
        // One port of the block held: the next block.
        let held = a + 100;
        let moved = auto_base(b"/srv/app", 300, &offsets, &|p| u32::from(p) != held).unwrap();
        assert_eq!(moved, if a + 300 >= LAST { FIRST } else { a + 300 });
        assert!(auto_base(b"/srv/app", 300, &offsets, &|_| false).is_err());
        assert!(auto_base(b"k", 100, &[LAST], &|_| true).is_err());
        assert_eq!(auto_base(b"k", 0, &[], &|_| true).map(|b| b % 100), Ok(0));
        // The block does not depend on which instances run: only web, the same base.
        assert_eq!(auto_base(b"/srv/app", 300, &[0], &|_| true), Ok(a));
    }

    #[test]
    fn variables_are_upper_case_with_underscores() {
        assert_eq!(variable("web"), "PORT_WEB");
        assert_eq!(variable("api-web"), "PORT_API_WEB");
        assert_eq!(variable("a.b_c9"), "PORT_A_B_C9");
    }
}
