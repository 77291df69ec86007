//! The text memtree writes into git: the hook script and the merge driver's command.
//!
//! A hook memtree installs is a whole file of its own, from the `#!/bin/sh` line to the end
//! marker. A hook that was there before is never edited: it is renamed to `NAME.pre-memtree`
//! (a symbolic link is renamed as a link, so the file it points to is never touched) and the
//! script runs it first, when it is executable, with the same arguments and standard input,
//! and exits with its status (git passes post-checkout's status on as its own).

/// First line of memtree's part of a hook.
pub(super) const BEGIN: &str =
    "# >>> memtree (managed by `memtree hooks install`; `memtree hooks uninstall` removes it) >>>";
/// Last line of memtree's part of a hook.
pub(super) const END: &str = "# <<< memtree <<<";
/// The suffix under which a hook that was there is kept and chained.
pub(super) const CHAINED: &str = ".pre-memtree";

/// The merge driver git runs: memtree when it is on PATH, git's own text merge only when it
/// is not. (Not `memtree ... || git merge-file ...`: memtree exits 1 for a conflict it marked,
/// and git merge-file would then merge memtree's output again, nesting markers.)
pub const DRIVER_COMMAND: &str = "if command -v memtree >/dev/null 2>&1; then memtree merge-driver %O %A %B %P; else git merge-file -L ours -L base -L theirs %A %O %B; fi";

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The hook `name` for the project at `project` (relative to the work tree): runs the hook
/// kept as `NAME.pre-memtree` when there is an executable one, then `memtree consolidate
/// --hook` when memtree is on PATH and not already running a hook; never fails because of
/// memtree.
pub(super) fn hook(name: &str, project: &str) -> String {
    let root = shell_quote(project);
    format!(
        "#!/bin/sh\n\
         {BEGIN}\n\
         # A hook that was here before runs first; it is kept as {name}{CHAINED}.\n\
         chained=\"$(dirname \"$0\")/{name}{CHAINED}\"\n\
         status=0\n\
         if [ -f \"$chained\" ] && [ -x \"$chained\" ]; then\n\
         \x20 \"$chained\" \"$@\"\n\
         \x20 status=$?\n\
         fi\n\
         if [ -z \"$MEMTREE_HOOK\" ] && command -v memtree >/dev/null 2>&1; then\n\
         \x20 MEMTREE_HOOK=1 memtree --root {root} consolidate --hook >/dev/null 2>&1 </dev/null || true\n\
         fi\n\
         exit $status\n\
         {END}\n"
    )
}

/// What a hook file is, to memtree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    /// A hook memtree wrote (any version of the script above).
    Ours,
    /// An older memtree's block appended inside someone's shell hook: the text without it.
    Embedded(String),
    /// memtree's start marker without its end marker: edited by hand; never touched.
    Damaged,
    /// Someone else's hook.
    Foreign,
}

/// Classifies a hook file's bytes.
pub(super) fn kind(bytes: &[u8]) -> Kind {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Kind::Foreign;
    };
    let (Some(start), end) = (text.find(BEGIN), text.find(END)) else {
        return Kind::Foreign;
    };
    let Some(end) = end.filter(|e| *e > start) else {
        return Kind::Damaged;
    };
    let end = end + END.len();
    if text[..start].trim() == "#!/bin/sh" && text[end..].trim().is_empty() {
        return Kind::Ours;
    }
    // Written by versions that appended the block: the blank line before it goes too.
    let mut out = text[..start].trim_end_matches('\n').to_string();
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(text[end..].trim_start_matches('\n'));
    Kind::Embedded(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_are_classified() {
        assert_eq!(kind(hook("post-commit", ".").as_bytes()), Kind::Ours);
        assert_eq!(kind(b"#!/bin/sh\necho mine\n"), Kind::Foreign);
        assert_eq!(kind(b"#!/bin/sh\n\xff\xfe\n"), Kind::Foreign);
        let old = format!("#!/bin/sh\necho mine\n\n{BEGIN}\nmemtree ...\n{END}\n");
        assert_eq!(
            kind(old.as_bytes()),
            Kind::Embedded("#!/bin/sh\necho mine\n".into())
        );
        let damaged = format!("#!/bin/sh\n{BEGIN}\nmemtree ...\n");
        assert_eq!(kind(damaged.as_bytes()), Kind::Damaged);
    }
}
