//! What `allow_access` answered for a request (docs/authorization.md#host-access-wsgiaccessscript-and-require-wsgi-host).

/// `True`, `False` or `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny,
    Neutral,
}
