//! "Did you mean …?" for a mistyped option name or value, as cargo and git suggest: the known
//! spellings closest to what was typed (normalized Damerau-Levenshtein similarity, from
//! `strsim`: a swapped, missing or extra letter is close; a shared prefix alone is not), at
//! most two.

/// `" (did you mean X?)"` or `" (did you mean X or Y?)"` when some of `known` are close to
/// `typed`; otherwise `""`. To append to an error that names what was typed.
pub fn did_you_mean<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    let typed = typed.trim();
    if typed.is_empty() {
        return String::new();
    }
    let mut close: Vec<(f64, &str)> = known
        .into_iter()
        .map(|k| (strsim::normalized_damerau_levenshtein(typed, k), k))
        .filter(|(score, _)| *score >= 0.6)
        .collect();
    close.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    close.dedup_by(|a, b| a.1 == b.1);
    let Some(&(best, _)) = close.first() else {
        return String::new();
    };
    let names: Vec<&str> = close
        .iter()
        .take_while(|(score, _)| best - score <= 0.1)
        .take(2)
        .map(|(_, k)| *k)
        .collect();
    format!(" (did you mean {}?)", names.join(" or "))
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn close_spellings_are_suggested_and_far_ones_are_not() {
        let opts = [
            "filename",
            "filename_format",
            "filesize",
            "rw",
            "bs",
            "iodepth",
        ];
        assert_eq!(did_you_mean("filname", opts), " (did you mean filename?)");
        assert_eq!(did_you_mean("iodpeth", opts), " (did you mean iodepth?)");
        assert_eq!(did_you_mean("zzzzzz", opts), "");
        assert_eq!(did_you_mean("", opts), "");
        let rw = [
            "read",
            "write",
            "randread",
            "randwrite",
            "rw",
            "readwrite",
            "randrw",
        ];
        let s = did_you_mean("raed", rw);
        assert!(s.contains("read"), "{s}");
    }
}
