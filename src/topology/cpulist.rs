//! The kernel's two text forms of a CPU set: lists (`0-3,8-11`) and masks
//! (`00000f00,0000000f`), as found under `/sys` and in `/proc/self/status`.

use crate::error::CpuListError;

/// One more than the largest CPU number accepted anywhere in this module.
///
/// Linux builds for at most 8192 CPUs; the margin keeps a corrupt file such as
/// `0-4294967295` from turning into a multi-gigabyte allocation.
pub const MAX_CPUS: usize = 1 << 16;

/// Parses a CPU list such as `0-3,8-11` into sorted, distinct CPU numbers.
///
/// Surrounding whitespace (the kernel's trailing newline) is ignored, and an
/// empty list is valid: a memory-only NUMA node has one.
///
/// ```
/// use weftpool::topology::parse_cpu_list;
/// assert_eq!(parse_cpu_list("0-2,8\n").unwrap(), vec![0, 1, 2, 8]);
/// assert!(parse_cpu_list("3-1").is_err());
/// ```
pub fn parse_cpu_list(input: &str) -> Result<Vec<usize>, CpuListError> {
    let text = input.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let mut cpus = Vec::new();
    for (item_index, item) in text.split(',').enumerate() {
        let item = item.trim();
        if item.is_empty() {
            return Err(CpuListError::EmptyItem {
                input: input.to_owned(),
                item: item_index,
            });
        }
        let (start, end) = match item.split_once('-') {
            Some((a, b)) => (parse_cpu(input, a)?, parse_cpu(input, b)?),
            None => {
                let cpu = parse_cpu(input, item)?;
                (cpu, cpu)
            }
        };
        if start > end {
            return Err(CpuListError::ReversedRange {
                input: input.to_owned(),
                start,
                end,
            });
        }
        cpus.extend(start..=end);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// Parses a hexadecimal CPU mask (comma-separated 32-bit words, most
/// significant first, as in `shared_cpu_map`) into sorted CPU numbers.
///
/// ```
/// use weftpool::topology::parse_cpu_mask;
/// assert_eq!(parse_cpu_mask("1,00000003").unwrap(), vec![0, 1, 32]);
/// ```
pub fn parse_cpu_mask(input: &str) -> Result<Vec<usize>, CpuListError> {
    let text = input.trim();
    let words: Vec<&str> = text.split(',').collect();
    let mut cpus = Vec::new();
    for (from_right, word) in words.iter().rev().enumerate() {
        let word = word.trim();
        let valid =
            !word.is_empty() && word.len() <= 8 && word.bytes().all(|b| b.is_ascii_hexdigit());
        let bits = if valid {
            u32::from_str_radix(word, 16).ok()
        } else {
            None
        };
        let Some(bits) = bits else {
            return Err(CpuListError::BadMaskWord {
                input: input.to_owned(),
                token: word.to_owned(),
            });
        };
        for bit in 0..32 {
            if bits & (1 << bit) == 0 {
                continue;
            }
            let cpu = from_right * 32 + bit;
            if cpu >= MAX_CPUS {
                return Err(CpuListError::TooLarge {
                    input: input.to_owned(),
                    cpu,
                    max: MAX_CPUS - 1,
                });
            }
            cpus.push(cpu);
        }
    }
    cpus.sort_unstable();
    Ok(cpus)
}

/// Writes CPU numbers back in list form, folding runs into ranges.
///
/// ```
/// use weftpool::topology::format_cpu_list;
/// assert_eq!(format_cpu_list(&[8, 0, 1, 2, 3, 9, 11]), "0-3,8-9,11");
/// assert_eq!(format_cpu_list(&[]), "");
/// ```
pub fn format_cpu_list(cpus: &[usize]) -> String {
    let mut sorted = cpus.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// One decimal CPU number: digits only (no sign), below [`MAX_CPUS`].
fn parse_cpu(input: &str, token: &str) -> Result<usize, CpuListError> {
    let token = token.trim();
    let not_a_number = || CpuListError::NotANumber {
        input: input.to_owned(),
        token: token.to_owned(),
    };
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_a_number());
    }
    // Digits only, so the one way to fail is overflow: report it as too large.
    let cpu = token.parse::<usize>().unwrap_or(usize::MAX);
    if cpu >= MAX_CPUS {
        return Err(CpuListError::TooLarge {
            input: input.to_owned(),
            cpu,
            max: MAX_CPUS - 1,
        });
    }
    Ok(cpu)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn lists_parse() {
        assert_eq!(parse_cpu_list("0").unwrap(), vec![0]);
        assert_eq!(
            parse_cpu_list("0-3,8-11").unwrap(),
            vec![0, 1, 2, 3, 8, 9, 10, 11]
        );
        assert_eq!(parse_cpu_list(" 5, 1-2 \n").unwrap(), vec![1, 2, 5]);
        assert_eq!(parse_cpu_list("3,3,2-3").unwrap(), vec![2, 3]);
        assert_eq!(parse_cpu_list("\n").unwrap(), Vec::<usize>::new());
    }

    #[test]
    fn malformed_lists_are_errors() {
        for bad in [
            "0,,1", ",0", "0,", "a", "1-", "-1", "1-2-3", "+1", "0x3", "1 2",
        ] {
            assert!(parse_cpu_list(bad).is_err(), "{bad:?} should not parse");
        }
        assert!(matches!(
            parse_cpu_list("7-3"),
            Err(CpuListError::ReversedRange {
                start: 7,
                end: 3,
                ..
            })
        ));
        assert!(matches!(
            parse_cpu_list("0-4294967295"),
            Err(CpuListError::TooLarge { .. })
        ));
        assert!(matches!(
            parse_cpu_list("99999999999999999999999"),
            Err(CpuListError::TooLarge { .. })
        ));
        assert!(matches!(
            parse_cpu_list("0,,1"),
            Err(CpuListError::EmptyItem { item: 1, .. })
        ));
    }

    #[test]
    fn masks_parse() {
        assert_eq!(parse_cpu_mask("3\n").unwrap(), vec![0, 1]);
        assert_eq!(parse_cpu_mask("00000000").unwrap(), Vec::<usize>::new());
        assert_eq!(parse_cpu_mask("80000000,00000001").unwrap(), vec![0, 63]);
        assert_eq!(parse_cpu_mask("f,0,0").unwrap(), vec![64, 65, 66, 67]);
    }

    #[test]
    fn malformed_masks_are_errors() {
        for bad in ["", "g", "1,,2", "123456789", "0x3", "-1"] {
            assert!(parse_cpu_mask(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn format_round_trips() {
        for text in ["0-3,8-11", "0", "1,3,5", "0-63", ""] {
            assert_eq!(format_cpu_list(&parse_cpu_list(text).unwrap()), text);
        }
    }
}
