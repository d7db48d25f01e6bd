//! Bounds on the lists and texts an activity returns. Temporal refuses a completion over
//! 2 MiB (the default payload limit) and the activity then fails after the work was done and
//! paid for; a tree with thousands of changed files or an agent that writes a novel must
//! still report. Each capped field has a `*_truncated` flag beside it, so a reader knows the
//! list or text it holds is not all there was.

/// Paths listed per report (changed files, snapshot files, restored files): enough to read.
pub const MAX_LISTED_PATHS: usize = 1000;
/// Bytes of paths listed per report, whatever their count: Linux paths reach 4 KiB each.
pub const MAX_LISTED_PATH_BYTES: usize = 128 * 1024;
/// The agent's final message, in bytes.
pub const MAX_RESULT_TEXT: usize = 64 * 1024;
/// Refused accesses listed per run.
pub const MAX_LISTED_REFUSALS: usize = 50;

/// Keeps the first `max` items of `list`; true when some were dropped.
pub fn keep_first<T>(list: &mut Vec<T>, max: usize) -> bool {
    let truncated = list.len() > max;
    list.truncate(max);
    truncated
}

/// Keeps the first paths of `list` within [`MAX_LISTED_PATHS`] and [`MAX_LISTED_PATH_BYTES`];
/// true when some were dropped.
pub fn keep_paths(list: &mut Vec<String>) -> bool {
    let mut bytes = 0;
    let within = list
        .iter()
        .take(MAX_LISTED_PATHS)
        .take_while(|path| {
            bytes += path.len();
            bytes <= MAX_LISTED_PATH_BYTES
        })
        .count();
    keep_first(list, within)
}

/// Whether one more path of `len` bytes fits a list of `count` paths holding `bytes` bytes.
pub fn path_fits(count: usize, bytes: usize, len: usize) -> bool {
    count < MAX_LISTED_PATHS && bytes + len <= MAX_LISTED_PATH_BYTES
}

/// Keeps at most `max_bytes` of the start of `text`, cut at a character boundary; true when
/// something was dropped.
pub fn keep_start(text: &mut String, max_bytes: usize) -> bool {
    if text.len() <= max_bytes {
        return false;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_over_the_cap_keeps_its_head_and_says_so() {
        let mut list: Vec<u32> = (0..5).collect();
        assert!(keep_first(&mut list, 3));
        assert_eq!(list, [0, 1, 2]);
        assert!(!keep_first(&mut list, 3), "exactly at the cap is whole");
    }

    #[test]
    fn path_lists_are_bounded_in_bytes_as_well_as_in_count() {
        let mut long: Vec<String> = (0..100).map(|n| format!("{n:04}{}", "x".repeat(4092))).collect();
        assert!(keep_paths(&mut long));
        assert_eq!(long.len(), MAX_LISTED_PATH_BYTES / 4096);
        let mut many: Vec<String> = (0..MAX_LISTED_PATHS + 1).map(|n| n.to_string()).collect();
        assert!(keep_paths(&mut many));
        assert_eq!(many.len(), MAX_LISTED_PATHS);
        let mut few = vec!["a".to_owned(), "b".to_owned()];
        assert!(!keep_paths(&mut few));
    }

    #[test]
    fn a_text_over_the_cap_is_cut_between_characters() {
        let mut text = "aé€".to_owned(); // 1 + 2 + 3 bytes
        assert!(keep_start(&mut text, 5));
        assert_eq!(text, "aé");
        let mut short = "abc".to_owned();
        assert!(!keep_start(&mut short, 3));
        assert_eq!(short, "abc");
    }
}
