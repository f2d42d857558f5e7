//! The kernel command line the guest gets: the user's, plus what the machine
//! must tell the kernel.
//!
//! Words after a standalone `--` are not kernel parameters: the kernel hands
//! them to init as its arguments (`init=/bin/sh -- -c "..."`). The machine's
//! parameters therefore go before that `--`, or at the end when there is
//! none, where they also win over a user's value of the same parameter.

/// `user` with `extra` (space-separated `name=value` words) added as kernel
/// parameters.
pub fn with_machine_params(user: &str, extra: &str) -> String {
    let user = user.trim();
    match init_args_start(user) {
        Some(at) => {
            let (params, init_args) = user.split_at(at);
            let params = params.trim_end();
            if params.is_empty() {
                format!("{extra} {init_args}")
            } else {
                format!("{params} {extra} {init_args}")
            }
        }
        None if user.is_empty() => extra.to_string(),
        None => format!("{user} {extra}"),
    }
}

/// Byte offset of the first standalone `--` word, splitting words at
/// whitespace outside double quotes as the kernel's parser does (a quoted
/// value may contain ` -- `).
fn init_args_start(cmdline: &str) -> Option<usize> {
    let bytes = cmdline.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        let mut quoted = false;
        while i < bytes.len() && (quoted || !bytes[i].is_ascii_whitespace()) {
            if bytes[i] == b'"' {
                quoted = !quoted;
            }
            i += 1;
        }
        if &bytes[start..i] == b"--" {
            return Some(start);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::with_machine_params;

    #[test]
    fn appended_without_init_args() {
        assert_eq!(with_machine_params(" console=ttyS0 rw ", "k=1"), "console=ttyS0 rw k=1");
        assert_eq!(with_machine_params("", "k=1"), "k=1");
    }

    #[test]
    fn kept_before_init_args() {
        assert_eq!(
            with_machine_params(r#"console=ttyS0 init=/bin/sh -- -c "echo a -- b""#, "k=1"),
            r#"console=ttyS0 init=/bin/sh k=1 -- -c "echo a -- b""#
        );
        assert_eq!(with_machine_params("-- single", "k=1"), "k=1 -- single");
    }

    #[test]
    fn a_quoted_double_dash_is_not_the_separator() {
        assert_eq!(with_machine_params(r#"dyndbg="a -- b" rw"#, "k=1"), r#"dyndbg="a -- b" rw k=1"#);
        assert_eq!(with_machine_params("a--b x--", "k=1"), "a--b x-- k=1");
    }
}
