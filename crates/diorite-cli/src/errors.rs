//! Error messages for people: an error and its causes, each said once. (The library's errors
//! name the OS error in their own message and also return it as their `source()`, for
//! programs that walk the chain; printed with every cause, it would appear twice.)

use std::error::Error;

/// `error: cause: cause …`, leaving out a cause whose text the message already holds.
pub fn chain(e: &(dyn Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::chain;
    use anyhow::Context as _;

    #[test]
    fn each_cause_is_said_once() {
        let lib = diorite::Error::os("DirectFile::open", libc::EACCES);
        let e = Err::<(), _>(lib).context("opening /x").unwrap_err();
        let text = chain(e.as_ref());
        assert_eq!(text.matches("Permission denied").count(), 1, "{text}");
        assert!(text.starts_with("opening /x: "), "{text}");
        // A cause that says something new is kept.
        let e = Err::<(), _>(std::io::Error::other("disk on fire"))
            .context("writing f")
            .unwrap_err();
        assert_eq!(chain(e.as_ref()), "writing f: disk on fire");
    }
}
