//! Credentials read from a file named in the agent's config: `user:token` for HTTP basic
//! authentication, a bare token for a bearer header, or an OpenSSH private key for `ssh://`.

use std::path::{Path, PathBuf};

use crate::Error;

#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// HTTP basic authentication.
    Basic { user: String, token: String },
    /// `Authorization: Bearer <token>`.
    Bearer { token: String },
    /// An SSH private key file, for `ssh://` URLs.
    SshKey { path: PathBuf },
}

impl std::fmt::Debug for Credentials {
    /// Never prints a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Basic { user, .. } => write!(f, "Basic {{ user: {user:?}, token: <redacted> }}"),
            Credentials::Bearer { .. } => write!(f, "Bearer {{ token: <redacted> }}"),
            Credentials::SshKey { path } => write!(f, "SshKey {{ path: {path:?} }}"),
        }
    }
}

impl Credentials {
    /// Reads a credentials file.
    pub fn from_file(path: &Path) -> Result<Credentials, Error> {
        let fail = |message: String| Error::Credentials { path: path.display().to_string(), message };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        if text.contains("PRIVATE KEY-----") {
            return Ok(Credentials::SshKey { path: path.to_path_buf() });
        }
        let line =
            text.lines().map(str::trim).find(|l| !l.is_empty()).ok_or_else(|| fail("the file is empty".into()))?;
        match line.split_once(':') {
            Some((user, token)) if !user.is_empty() && !token.is_empty() => {
                Ok(Credentials::Basic { user: user.to_string(), token: token.to_string() })
            }
            Some(_) => Err(fail("expected user:token, a bearer token, or an OpenSSH private key".into())),
            None => Ok(Credentials::Bearer { token: line.to_string() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_form_and_never_prints_a_secret() {
        let dir = std::env::temp_dir().join(format!("flotilla-cred-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let basic = Credentials::from_file(&write("basic", "agent:s3cret\n")).unwrap();
        assert_eq!(basic, Credentials::Basic { user: "agent".into(), token: "s3cret".into() });
        assert!(!format!("{basic:?}").contains("s3cret"));
        assert_eq!(
            Credentials::from_file(&write("bearer", "tok\n")).unwrap(),
            Credentials::Bearer { token: "tok".into() }
        );
        let key = write("key", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n");
        assert_eq!(Credentials::from_file(&key).unwrap(), Credentials::SshKey { path: key.clone() });
        assert!(Credentials::from_file(&write("bad", ":x\n")).is_err());
        assert!(Credentials::from_file(&write("empty", "\n")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
